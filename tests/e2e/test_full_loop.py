"""The whole loop over real HTTP: logs → scan → Slack proposal → approval → push → deploy → verdict."""

from __future__ import annotations

from bot.demo.sample_service import produce_logs, pull_latest
from tests.e2e.conftest import ALICE, World

COUPON_FIX = "COUPONS.get("  # only the coupon proposal's diff contains it
TRUNCATION_FIX = "max_tokens: int = 512"  # only the truncation proposal's diff contains it
SUCCESS = ["QUEUED", "BUILDING", "DEPLOYING", "SUCCESS"]
CRASH = ["QUEUED", "BUILDING", "DEPLOYING", "CRASHED"]


def _posts_per_fix(world: World) -> dict[str, int]:
    """How many top-level proposal messages each stored proposal got."""
    return {p.fix_id: len(world.top_level_posts(p.fix_id)) for p in world.proposals()}


def test_fix_is_proposed_approved_pushed_deployed_and_verified(world: World) -> None:
    """A KeyError in the logs ends as a verified fix on the remote, every step visible in its Slack thread."""
    initial = world.commits()
    world.scan_now()
    proposal = world.wait_until(lambda: world.proposal_changing(COUPON_FIX), "the coupon fix to be posted")
    fix_id, ts = proposal.fix_id, proposal.slack_ts
    assert 1 == len(world.top_level_posts(fix_id))

    # Slack delivers the approval, then delivers it again (X-Slack-Retry-Num): one apply only.
    assert 200 == world.mention(f"implement {fix_id}", event_id="EvImplement", thread_ts=ts)
    assert 200 == world.mention(f"implement {fix_id}", event_id="EvImplement", thread_ts=ts, retry=1)
    commit = world.wait_until(lambda: world.commit_with("Fix-Id", fix_id), f"a commit of {fix_id}")
    assert {"Fix-Id": fix_id, "Incident": str(proposal.incident_id), "Approved-by": ALICE} == {
        key: commit.trailers.get(key) for key in ("Fix-Id", "Incident", "Approved-by")
    }

    # The deploy is recorded as two minutes old, so the next batch of logs comes after Railway's
    # draining grace period: had the fix not worked, its KeyErrors would count as a recurrence.
    world.later(-120)
    world.railway.add_deployment("d-fix", SUCCESS, commit=commit.sha)
    world.wait_until(lambda: world.status_is(fix_id, "deployed"), f"{fix_id} to be deployed")
    world.later(0)
    deployed = world.wait_until(lambda: world.thread_line(ts, "Deployed:"), "the deployed line in the thread")
    assert "d-fix" in deployed

    # The deploy: the service now runs the fixed code, and its next batch logs no KeyError.
    assert commit.sha == pull_latest(world.sample)
    produce_logs(world.sample, runs=1, first_run=2)
    keyerrors_at_deploy = world.incident_count("KeyError")
    slow_before = world.incident_count("slow")
    world.runtime.scan("shop")  # what the scan job runs
    assert world.incident_count("slow") > slow_before  # the scan did read the new batch
    world.later(3600)  # past the 30-minute verification window
    world.run_job_now("housekeeping")
    verified = world.wait_until(lambda: world.thread_line(ts, "Verified"), "the verified line in the thread")

    assert "did not recur" in verified
    assert "verified" == world.proposal(fix_id).status
    assert keyerrors_at_deploy == world.incident_count("KeyError")
    world.wait_until(lambda: world.updated_to(ts, "Verified"), "the proposal message to show Verified")
    # The retried delivery was acknowledged and dropped: one apply, no "already approved" reply.
    assert 1 == len([line for line in world.thread_texts(ts) if line.startswith(f"applying {fix_id} ")])
    assert [] == world.slack.calls_to("chat.postEphemeral")
    assert [commit.sha, *[c.sha for c in initial]] == [c.sha for c in world.commits()]
    posts = _posts_per_fix(world)
    assert 3 <= len(posts)  # coupon, truncation, slow query
    assert dict.fromkeys(posts, 1) == posts


def test_crashed_deploy_is_reverted_after_approval(world: World) -> None:
    """A fix whose deploy crashes is offered for revert, not reverted alone; the approved revert is pushed."""
    world.scan_now()
    proposal = world.wait_until(
        lambda: world.proposal_changing(TRUNCATION_FIX), "the truncation fix to be posted"
    )
    fix_id, ts = proposal.fix_id, proposal.slack_ts

    assert 200 == world.mention(f"implement {fix_id}", event_id="EvImplementCrash", thread_ts=ts)
    commit = world.wait_until(lambda: world.commit_with("Fix-Id", fix_id), f"a commit of {fix_id}")
    world.railway.add_deployment("d-crash", CRASH, commit=commit.sha)
    world.wait_until(lambda: world.status_is(fix_id, "deploy_failed"), f"{fix_id} to be deploy_failed")
    offer = world.wait_until(lambda: world.thread_line(ts, f"revert {fix_id}"), "the revert offer")
    assert "auto" not in offer.lower()
    assert [commit.sha] == [c.sha for c in world.commits()][:1]  # nothing reverted without approval

    assert 200 == world.mention(f"revert {fix_id}", event_id="EvRevert", thread_ts=ts)
    revert = world.wait_until(lambda: world.commit_with("Reverts-Fix-Id", fix_id), f"a revert of {fix_id}")
    world.wait_until(lambda: world.status_is(fix_id, "reverted"), f"{fix_id} to be reverted")

    assert ALICE == revert.trailers.get("Approved-by")
    assert [revert.sha, commit.sha] == [c.sha for c in world.commits()][:2]
    assert world.thread_line(ts, "Deploy crashed") is not None
    world.wait_until(lambda: world.updated_to(ts, "Reverted"), "the proposal message to show Reverted")
    assert "max_tokens: int = 256" in world.remote_file("shop/reviews.py")
    posts = _posts_per_fix(world)
    assert 3 <= len(posts)  # coupon, truncation, slow query
    assert dict.fromkeys(posts, 1) == posts
