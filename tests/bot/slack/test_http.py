"""The bolt app served by uvicorn, driven with signed requests, talking to the fake Slack Web API."""

from __future__ import annotations

import json
import threading
import time

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from core.store.models import AuditEvent, ProcessedEvent, Proposal
from core.store.proposals import get_proposal
from tests.bot.slack.conftest import (
    ALICE,
    BOB,
    CAROL,
    CHANNEL,
    MALLORY,
    Served,
    add_proposal,
    start_served,
)
from tests.fakes.slack_api import FakeSlack


def _status(sessions: sessionmaker[Session], fix_id: str) -> str:
    with sessions() as session:
        return get_proposal(session, fix_id).status


def test_url_verification_echoes_the_challenge(served: Served) -> None:
    """A signed url_verification request is answered with its challenge."""
    raw = json.dumps({"token": "t", "challenge": "c-123", "type": "url_verification"})
    response = served.send.post(raw, "application/json")
    assert 200 == response.status_code
    assert {"challenge": "c-123"} == response.json()


def test_forged_signature_is_rejected_and_nothing_happens(served: Served) -> None:
    """A request signed with the wrong secret gets 401; no delivery is recorded, no apply runs."""
    fix_id = add_proposal(served.sessions, posted=True)
    response = served.send.mention(
        f"implement {fix_id}", user=ALICE, event_id="EvForged", signature="v0=" + "0" * 64
    )
    assert 401 == response.status_code
    served.drain()
    assert [] == served.pipeline.applied
    with served.sessions() as session:
        assert 0 == session.scalar(select(func.count()).select_from(ProcessedEvent))
    assert "proposed" == _status(served.sessions, fix_id)


def test_stale_timestamp_is_rejected(served: Served) -> None:
    """A correctly signed request older than five minutes gets 401 and does nothing."""
    fix_id = add_proposal(served.sessions, posted=True)
    response = served.send.mention(
        f"implement {fix_id}", user=ALICE, event_id="EvStale", timestamp=int(time.time()) - 400
    )
    assert 401 == response.status_code
    served.drain()
    assert [] == served.pipeline.applied


def test_mention_implement_applies_once_and_reports_in_the_thread(served: Served) -> None:
    """`@bot implement fix_…` by an approver applies, updates the message and reports in its thread."""
    fix_id = add_proposal(served.sessions, posted=True)
    with served.sessions() as session:
        parent_ts = get_proposal(session, fix_id).slack_ts
    response = served.send.mention(f"implement *{fix_id}*.", user=ALICE, event_id="EvImpl1")
    assert 200 == response.status_code
    served.drain()
    assert [fix_id] == served.pipeline.applied
    assert "pushed" == _status(served.sessions, fix_id)
    thread_lines = served.fake.thread_lines(parent_ts)
    assert any("applying" in line for line in thread_lines)
    assert any("pushed abc1234" in line for line in thread_lines)
    # One progress message edited in place, not a reply per step.
    progress_posts = [
        c for c in served.fake.calls_to("chat.postMessage") if c.params.get("thread_ts") == parent_ts
    ]
    assert 1 == len([c for c in progress_posts if "applying" in c.params["text"]])
    updates = served.fake.calls_to("chat.update")
    assert updates
    assert parent_ts == updates[-1].params["ts"]
    assert "Pushed" in json.dumps(updates[-1].params["blocks"])


def test_retried_event_is_processed_once(served: Served) -> None:
    """The same event_id delivered again with X-Slack-Retry-Num is acked but not processed twice."""
    fix_id = add_proposal(served.sessions, posted=True)
    first = served.send.mention(f"implement {fix_id}", user=ALICE, event_id="EvRetry")
    second = served.send.mention(f"implement {fix_id}", user=ALICE, event_id="EvRetry", retry=1)
    third = served.send.mention(f"implement {fix_id}", user=ALICE, event_id="EvRetry", retry=2)
    assert [200, 200, 200] == [first.status_code, second.status_code, third.status_code]
    served.drain()
    assert [fix_id] == served.pipeline.applied
    ephemerals = served.fake.calls_to("chat.postEphemeral")
    assert [] == ephemerals


def test_retry_after_a_restart_is_recognised(
    settings: Settings, sessions: sessionmaker[Session], fake_slack: FakeSlack
) -> None:
    """A delivery processed before a restart is skipped when Slack retries it to the new process."""
    fix_id = add_proposal(sessions, posted=True)
    before, stop = start_served(settings, sessions, fake_slack)
    try:
        before.send.mention(f"reject {fix_id} flaky", user=ALICE, event_id="EvRestart")
        before.drain()
    finally:
        stop()

    def chat_calls() -> int:
        return len([call for call in fake_slack.calls if call.method.startswith("chat.")])

    calls_before = chat_calls()
    after, stop = start_served(settings, sessions, fake_slack)
    try:
        response = after.send.mention(f"reject {fix_id} flaky", user=ALICE, event_id="EvRestart", retry=1)
        assert 200 == response.status_code
        after.drain()
    finally:
        stop()
    assert calls_before == chat_calls()
    with sessions() as session:
        rejections = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.fix_id == fix_id, AuditEvent.action == "rejected")
        )
    assert 1 == rejections


def test_button_implement_and_its_redelivery_apply_once(served: Served) -> None:
    """The Implement button applies the fix; the same interaction delivered again does nothing more."""
    fix_id = add_proposal(served.sessions, posted=True)
    with served.sessions() as session:
        parent_ts = get_proposal(session, fix_id).slack_ts
    first = served.send.button(fix_id, user=BOB, message_ts=parent_ts, action_ts="1761900300.1")
    again = served.send.button(fix_id, user=BOB, message_ts=parent_ts, action_ts="1761900300.1")
    assert (200, 200) == (first.status_code, again.status_code)
    served.drain()
    assert [fix_id] == served.pipeline.applied
    assert "pushed" == _status(served.sessions, fix_id)


def test_concurrent_presses_apply_once_and_tell_the_loser_who_applies(served: Served) -> None:
    """Two approvers pressing Implement at once: one apply; the other is told who is applying it."""
    fix_id = add_proposal(served.sessions, posted=True)
    with served.sessions() as session:
        parent_ts = get_proposal(session, fix_id).slack_ts
    served.pipeline.gate.clear()
    start = threading.Barrier(2)
    results: list[int] = []

    def press(user: str, action_ts: str) -> None:
        start.wait()
        results.append(
            served.send.button(fix_id, user=user, message_ts=parent_ts, action_ts=action_ts).status_code
        )

    threads = [
        threading.Thread(target=press, args=(ALICE, "1.1")),
        threading.Thread(target=press, args=(BOB, "1.2")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    loser = served.fake.wait_for_calls("chat.postEphemeral")[0]
    served.pipeline.gate.set()
    served.drain()
    assert [200, 200] == results
    assert [fix_id] == served.pipeline.applied
    with served.sessions() as session:
        winner = get_proposal(session, fix_id).approver
    assert {ALICE, BOB} - {winner} == {loser.params["user"]}
    assert f"`{fix_id}` is being applied by <@{winner}>." == loser.params["text"]


def test_unauthorized_user_is_refused_privately_and_audited(served: Served) -> None:
    """A non-approver's implement gets an ephemeral refusal and an audit row; nothing is applied."""
    fix_id = add_proposal(served.sessions, posted=True)
    served.send.mention(f"implement {fix_id}", user=MALLORY, event_id="EvMallory")
    served.drain()
    refusal = served.fake.wait_for_calls("chat.postEphemeral")[0]
    assert MALLORY == refusal.params["user"]
    assert "is not an approver" in refusal.params["text"]
    assert [] == served.pipeline.applied
    with served.sessions() as session:
        refused = session.scalars(select(AuditEvent).where(AuditEvent.action == "refused")).all()
    assert [(MALLORY, fix_id, "implement")] == [(a.actor, a.fix_id, a.detail["command"]) for a in refused]


def test_user_group_member_may_implement(served: Served) -> None:
    """A member of a configured approver user group (usergroups.users.list) may implement."""
    fix_id = add_proposal(served.sessions, posted=True)
    served.send.mention(f"implement {fix_id}", user=CAROL, event_id="EvCarol")
    served.drain()
    assert [fix_id] == served.pipeline.applied


def test_thread_reply_without_fix_id_targets_the_threads_proposal(served: Served) -> None:
    """`implement` typed in a proposal's thread (no mention, no fix id) applies that proposal."""
    fix_id = add_proposal(served.sessions, posted=True)
    with served.sessions() as session:
        parent_ts = get_proposal(session, fix_id).slack_ts
    event = {
        "type": "message",
        "channel_type": "channel",
        "user": ALICE,
        "text": "Implement!",
        "ts": "1761900500.000100",
        "thread_ts": parent_ts,
        "channel": CHANNEL,
    }
    assert 200 == served.send.event(event, event_id="EvThread").status_code
    served.drain()
    assert [fix_id] == served.pipeline.applied


def test_messages_from_bots_are_ignored(served: Served) -> None:
    """Messages from this bot or any other bot never run commands."""
    fix_id = add_proposal(served.sessions, posted=True)
    with served.sessions() as session:
        parent_ts = get_proposal(session, fix_id).slack_ts
    own = {
        "type": "message",
        "user": "UBOT",
        "bot_id": "BBOT",
        "text": f"implement {fix_id}",
        "ts": "1.1",
        "thread_ts": parent_ts,
        "channel": CHANNEL,
    }
    other = {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": "BOTHER",
        "text": f"implement {fix_id}",
        "ts": "1.2",
        "thread_ts": parent_ts,
        "channel": CHANNEL,
    }
    other_mention = {
        "type": "app_mention",
        "user": "UOTHERBOT",
        "bot_id": "BOTHER",
        "text": f"<@UBOT> implement {fix_id}",
        "ts": "1.3",
        "channel": CHANNEL,
    }
    for index, event in enumerate([own, other, other_mention]):
        assert 200 == served.send.event(event, event_id=f"EvBot{index}").status_code
    served.drain()
    assert [] == served.pipeline.applied
    assert [] == [c for c in served.fake.calls if c.method.startswith("chat.")]


def test_unknown_command_gets_short_help(served: Served) -> None:
    """An unknown command is answered privately with what was wrong and the command list."""
    served.send.mention("deploy everything now", user=ALICE, event_id="EvUnknown")
    served.drain()
    reply = served.fake.wait_for_calls("chat.postEphemeral")[0]
    assert "I don't know the command 'deploy'" in reply.params["text"]
    assert "implement fix_YYYYMMDD_HHMMSS" in reply.params["text"]


def test_health_and_metrics_are_served(served: Served) -> None:
    """/health answers JSON and /metrics exposes the fixbot_* families."""
    add_proposal(served.sessions)
    served.send.mention("status", user=ALICE, event_id="EvStatus")
    served.drain()
    health = served.send.http.get("/health")
    metrics = served.send.http.get("/metrics").text
    assert 200 == health.status_code
    assert 'fixbot_proposals{status="proposed"} 1.0' in metrics
    assert 'fixbot_slack_deliveries_total{kind="app_mention",result="processed"} 1.0' in metrics


def test_status_shows_failing_post_and_the_proposal_is_posted_later(served: Served) -> None:
    """A permanent post failure is kept (post_error, status); the proposal is posted on a later round."""
    fix_id = add_proposal(served.sessions)
    served.fake.fail("chat.postMessage", "not_in_channel")
    assert 0 == served.stack.poster.post_pending()
    with served.sessions() as session:
        proposal = get_proposal(session, fix_id)
        assert ("", "chat.postMessage failed: not_in_channel") == (
            proposal.slack_ts,
            proposal.post_error.split(" — ")[0],
        )
    report = served.stack.operations.status().status
    assert report is not None
    assert 1 == report.pending_posts
    assert any("not_in_channel" in problem for problem in report.problems)
    assert 1 == served.stack.poster.post_pending()
    with served.sessions() as session:
        proposal = get_proposal(session, fix_id)
    assert proposal.slack_ts.startswith("1761900000.")
    assert "" == proposal.post_error


def test_rate_limited_post_is_retried_after_retry_after(served: Served) -> None:
    """A 429 with Retry-After is honoured by the client and the proposal still gets posted once."""
    fix_id = add_proposal(served.sessions)
    served.fake.rate_limit("chat.postMessage", retry_after=0)
    assert 1 == served.stack.poster.post_pending()
    posts = served.fake.calls_to("chat.postMessage")
    assert 2 == len(posts)
    with served.sessions() as session:
        assert get_proposal(session, fix_id).slack_ts


def test_no_two_processes_post_the_same_proposal(served: Served) -> None:
    """Concurrent outbox rounds post each waiting proposal exactly once."""
    fix_ids = [add_proposal(served.sessions) for _ in range(3)]
    barrier = threading.Barrier(3)
    counts: list[int] = []

    def round_() -> None:
        barrier.wait()
        counts.append(served.stack.poster.post_pending())

    threads = [threading.Thread(target=round_) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 3 == sum(counts)
    assert 3 == len(served.fake.calls_to("chat.postMessage"))
    with served.sessions() as session:
        posted = session.scalars(select(Proposal.slack_ts).where(Proposal.fix_id.in_(fix_ids))).all()
    assert 3 == len(set(posted))


def test_long_diff_is_cut_in_the_message_and_attached_whole_in_the_thread(served: Served) -> None:
    """An over-long diff respects Slack's limits in the message; the full diff is uploaded into the thread."""
    diff = "--- a/app/big.py\n+++ b/app/big.py\n" + "".join(
        f"+value_{i} = {i} & <{i}>\n" for i in range(3000)
    )
    fix_id = add_proposal(served.sessions, diff=diff)
    assert 1 == served.stack.poster.post_pending()
    post = served.fake.calls_to("chat.postMessage")[0]
    sections = [b["text"]["text"] for b in post.params["blocks"] if b["type"] == "section"]
    assert all(len(text) <= 3000 for text in sections)
    assert len(post.params["blocks"]) <= 50
    assert len(post.params["text"]) <= 4000
    complete = served.fake.calls_to("files.completeUploadExternal")[0]
    with served.sessions() as session:
        ts = get_proposal(session, fix_id).slack_ts
    assert (CHANNEL, ts) == (complete.params["channel_id"], complete.params["thread_ts"])
    uploaded = served.fake.uploads[json.loads(complete.params["files"])[0]["id"]]
    assert diff.encode() == uploaded


def test_simultaneous_copies_of_one_event_are_processed_once(served: Served) -> None:
    """Five copies of one event arriving at once (retries overlapping the original) apply once."""
    fix_id = add_proposal(served.sessions, posted=True)
    barrier = threading.Barrier(5)
    codes: list[int] = []

    def deliver(retry: int) -> None:
        barrier.wait()
        codes.append(
            served.send.mention(
                f"implement {fix_id}", user=ALICE, event_id="EvBurst", retry=retry or None
            ).status_code
        )

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    served.drain()
    assert [200] * 5 == codes
    assert [fix_id] == served.pipeline.applied


def test_retried_thread_reply_is_processed_once(served: Served) -> None:
    """A plain thread reply redelivered by Slack runs its command once."""
    fix_id = add_proposal(served.sessions, posted=True)
    with served.sessions() as session:
        parent_ts = get_proposal(session, fix_id).slack_ts
    event = {
        "type": "message",
        "channel_type": "channel",
        "user": ALICE,
        "text": f"reject {fix_id} noisy",
        "ts": "1761900600.000100",
        "thread_ts": parent_ts,
        "channel": CHANNEL,
    }
    served.send.event(event, event_id="EvThreadRetry")
    served.send.event(event, event_id="EvThreadRetry", retry=1)
    served.drain()
    replies = [
        c for c in served.fake.calls_to("chat.postMessage") if "rejected by" in c.params.get("text", "")
    ]
    assert 1 == len(replies)
    assert "rejected" == _status(served.sessions, fix_id)


def test_direct_message_commands_answer_in_the_dm(served: Served) -> None:
    """A DM is a command without a mention; even private answers are posted plainly in the DM."""
    fix_id = add_proposal(served.sessions, posted=True)
    event = {
        "type": "message",
        "channel_type": "im",
        "user": MALLORY,
        "text": f"implement {fix_id}",
        "ts": "1761900700.000100",
        "channel": "D0MALLORY",
    }
    served.send.event(event, event_id="EvDM")
    served.drain()
    reply = served.fake.wait_for_calls("chat.postMessage")[0]
    assert "D0MALLORY" == reply.params["channel"]
    assert "thread_ts" not in reply.params
    assert "is not an approver" in reply.params["text"]
    assert [] == served.fake.calls_to("chat.postEphemeral")
