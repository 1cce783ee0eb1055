"""Pull-request delivery against a fake GitHub REST API backed by the sample's real bare remote."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from core.store import lifecycle
from core.store.models import PullRequest, utcnow
from core.store.proposals import get_proposal
from fixes.apply import reconcile_unfinished, run_apply, run_revert
from fixes.delivery.follow import follow_pull_requests
from fixes.delivery.merge import merge_fix
from fixes.delivery.preflight import access_problems
from fixes.delivery.pull_request import branch_name, github_api, open_for_fix
from fixes.edits import Edit
from fixes.git_ops import parse_trailers
from tests.fakes.github import Failure, FakeGitHub
from tests.fixes.pr_support import pr_settings
from tests.fixes.sample import FIX_EDIT, SampleRepo, git

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def github(sample: SampleRepo) -> Iterator[FakeGitHub]:
    with FakeGitHub(sample.remote) as fake:
        yield fake


@pytest.fixture
def pr_mode(tmp_path: Path, sample: SampleRepo, github: FakeGitHub) -> Settings:
    return pr_settings(tmp_path / "data", str(sample.remote), github.url)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def _row(sessions: sessionmaker[Session], fix_id: str) -> PullRequest:
    with sessions() as session:
        row = session.scalar(select(PullRequest).where(PullRequest.fix_id == fix_id))
        assert row is not None
        session.expunge(row)
        return row


def _opened(sample: SampleRepo, settings: Settings, sessions: sessionmaker[Session]) -> str:
    fix_id = sample.propose(sessions, [FIX_EDIT])
    report = run_apply(settings, sessions, fix_id)
    assert report.ok, report.message
    return fix_id


def test_apply_pushes_a_branch_and_opens_a_pull_request_with_the_evidence(
    sample: SampleRepo, pr_mode: Settings, lite_sessions: sessionmaker[Session], github: FakeGitHub
) -> None:
    """The validated commit goes to fixbot/<fix_id>, not the deploy branch; the PR carries the evidence."""
    before = sample.remote_head()
    fix_id = sample.propose(lite_sessions, [FIX_EDIT])

    report = run_apply(pr_mode, lite_sessions, fix_id)

    assert (True, "pr_open") == (report.ok, report.status)
    assert before == sample.remote_head()  # the deploy branch is untouched
    head = github.head_of(branch_name(fix_id))
    assert head == report.commit_sha
    message = git(sample.remote, "log", "-1", "--format=%B", head)
    assert {"Fix-Id": fix_id, "Incident": "none", "Approved-by": "U0LOCALOPS"} == parse_trailers(message)
    [pull] = github.pulls.values()
    assert (branch_name(fix_id), "main", False) == (pull["head"]["ref"], pull["base"]["ref"], pull["draft"])
    assert fix_id in pull["title"]
    assert "average() divides by len(values)" in pull["body"]
    assert "Validation: passed" in pull["body"]
    assert "U0LOCALOPS" in pull["body"]
    assert ["fixbot"] == github.labels[pull["number"]]
    with lite_sessions() as session:
        proposal = get_proposal(session, fix_id)
        assert ("pr_open", "") == (proposal.status, proposal.commit_sha)
    row = _row(lite_sessions, fix_id)
    assert (pull["number"], head, "open") == (row.number, row.head_sha, row.state)


def test_draft_is_a_setting(
    tmp_path: Path, sample: SampleRepo, lite_sessions: sessionmaker[Session], github: FakeGitHub
) -> None:
    """`draft = true` opens the pull request as a draft."""
    settings = pr_settings(tmp_path / "data", str(sample.remote), github.url, draft=True)
    _opened(sample, settings, lite_sessions)
    assert [True] == [p["draft"] for p in github.pulls.values()]


def test_an_open_pull_request_is_reused_and_422_already_exists_is_not_an_error(
    sample: SampleRepo, pr_mode: Settings, lite_sessions: sessionmaker[Session], github: FakeGitHub
) -> None:
    """Opening again finds the open PR; when the lookup misses it, GitHub's 422 leads to the same PR."""
    fix_id = _opened(sample, pr_mode, lite_sessions)
    service = pr_mode.services[0]
    head = github.head_of(branch_name(fix_id))

    again = open_for_fix(pr_mode, lite_sessions, service, fix_id, head, validation_output="")
    # The lookup answers "none open" (as a racing creator would see), the create gets a real 422.
    github.fail_next(Failure(200, raw=b"[]"))
    raced = open_for_fix(pr_mode, lite_sessions, service, fix_id, head, validation_output="")

    assert again is not None
    assert raced is not None
    assert (1, True, 1, True) == (again.number, again.reused, raced.number, raced.reused)
    assert 1 == len(github.pulls)
    assert any(r.method == "POST" and r.path.endswith("/pulls") for r in github.requests)


def test_an_unreachable_api_fails_the_apply_and_a_new_approval_reuses_the_branch(
    sample: SampleRepo, pr_mode: Settings, lite_sessions: sessionmaker[Session], github: FakeGitHub
) -> None:
    """A refused PR creation fails the fix with the reason; a new approval opens it on the same branch."""
    fix_id = sample.propose(lite_sessions, [FIX_EDIT])
    github.fail_next(Failure(401, raw=b'{"message": "Bad credentials"}'))

    failed = run_apply(pr_mode, lite_sessions, fix_id)

    assert (False, "failed", "push") == (failed.ok, failed.status, failed.failed_step)
    assert "no pull request was opened" in failed.message
    assert "Bad credentials" in failed.message

    with lite_sessions.begin() as session:
        proposal = get_proposal(session, fix_id)
        lifecycle.approve(session, fix_id, actor="U0LOCALOPS", content_hash=proposal.content_hash)
    retried = run_apply(pr_mode, lite_sessions, fix_id)
    assert (True, "pr_open") == (retried.ok, retried.status)
    assert 1 == len(github.pulls)


def test_a_crash_between_push_and_pull_request_is_reconciled_at_startup(
    sample: SampleRepo,
    pr_mode: Settings,
    sqlite_engine: Engine,
    lite_sessions: sessionmaker[Session],
    github: FakeGitHub,
) -> None:
    """Killed right after the push, the fix is settled at startup by opening its pull request."""
    fix_id = sample.propose(lite_sessions, [FIX_EDIT])
    argv = [sys.executable, "-m", "tests.fixes.pr_crash_child", str(pr_mode.data_dir), str(sample.remote)]
    argv += [sqlite_engine.url.render_as_string(hide_password=False), fix_id, github.url]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert -signal.SIGKILL == done.returncode, done.stderr
    assert github.head_of(branch_name(fix_id))
    assert {} == github.pulls

    [report] = reconcile_unfinished(pr_mode, lite_sessions)

    assert (True, "pr_open") == (report.ok, report.status)
    [pull] = github.pulls.values()
    assert github.head_of(branch_name(fix_id)) == _row(lite_sessions, fix_id).head_sha == pull["head"]["sha"]
    with lite_sessions() as session:
        assert "pr_open" == get_proposal(session, fix_id).status


def test_merge_uses_the_validated_sha_and_the_fix_becomes_pushed_at_the_merge_commit(
    sample: SampleRepo,
    pr_mode: Settings,
    lite_sessions: sessionmaker[Session],
    github: FakeGitHub,
    http: httpx.Client,
) -> None:
    """Once checks pass, merge_fix merges with `sha` = the validated head; the deploy branch moves."""
    github.required_checks = True
    fix_id = _opened(sample, pr_mode, lite_sessions)
    head = github.head_of(branch_name(fix_id))
    github.add_check_run(head, "tests", status="in_progress", conclusion=None)

    refused = merge_fix(pr_mode, lite_sessions, http, fix_id, actor="U0LOCALOPS")
    github.add_check_run(head, "tests")
    merged = merge_fix(pr_mode, lite_sessions, http, fix_id, actor="U0LOCALOPS")

    assert (False, "pr_open") == (refused.ok, refused.status)
    assert "cannot be merged yet" in refused.message
    assert (True, "pushed") == (merged.ok, merged.status)
    assert merged.merge_commit_sha == sample.remote_head()
    assert "return 0.0" in sample.read_remote("calc/ops.py")
    [put] = [r for r in github.requests if r.method == "PUT"][-1:]
    assert head == put.json()["sha"]
    with lite_sessions() as session:
        proposal = get_proposal(session, fix_id)
        assert ("pushed", merged.merge_commit_sha) == (proposal.status, proposal.commit_sha)


def test_merge_is_refused_when_the_branch_moved_after_approval(
    sample: SampleRepo,
    pr_mode: Settings,
    lite_sessions: sessionmaker[Session],
    github: FakeGitHub,
    http: httpx.Client,
) -> None:
    """Someone pushes to the PR branch: GitHub's 409 on the old sha means nothing is merged."""
    fix_id = _opened(sample, pr_mode, lite_sessions)
    before = sample.remote_head()
    branch = branch_name(fix_id)
    git(sample.seed, "fetch", "-q", "origin", branch)
    git(sample.seed, "checkout", "-q", "-B", "pr", f"origin/{branch}")
    (sample.seed / "calc" / "extra.py").write_text("X = 1\n")
    git(sample.seed, "add", "-A")
    git(sample.seed, "commit", "-q", "-m", "unreviewed change")
    git(sample.seed, "push", "-q", "origin", f"HEAD:{branch}")

    result = merge_fix(pr_mode, lite_sessions, http, fix_id, actor="U0LOCALOPS")

    assert (False, "pr_open") == (result.ok, result.status)
    assert "branch changed after the bot validated" in result.message
    assert before == sample.remote_head()
    assert "open" == github.pulls[1]["state"]
    # The next poll sees the new head; from then on the bot refuses before asking GitHub.
    [update] = follow_pull_requests(pr_mode, lite_sessions, http)
    assert "changed after approval" in update.message
    puts = sum(1 for r in github.requests if r.method == "PUT")
    again = merge_fix(pr_mode, lite_sessions, http, fix_id, actor="U0LOCALOPS")
    assert (False, puts) == (again.ok, sum(1 for r in github.requests if r.method == "PUT"))


def test_following_reports_checks_and_reviews_then_polls_with_304s(
    sample: SampleRepo,
    pr_mode: Settings,
    lite_sessions: sessionmaker[Session],
    github: FakeGitHub,
    http: httpx.Client,
) -> None:
    """State changes are reported once; an unchanged pull request costs only 304s."""
    fix_id = _opened(sample, pr_mode, lite_sessions)
    head = github.head_of(branch_name(fix_id))
    github.add_check_run(head, "tests", status="queued", conclusion=None)
    github.set_status(head, "ci/lint", "success")

    first = follow_pull_requests(pr_mode, lite_sessions, http)
    assert ("pending", "none") == (_row(lite_sessions, fix_id).checks, _row(lite_sessions, fix_id).review)
    github.add_check_run(head, "tests")
    github.add_review(1, "alice", "APPROVED")
    second = follow_pull_requests(pr_mode, lite_sessions, http)
    counted, not_modified = github.counted_requests, github.not_modified
    third = follow_pull_requests(pr_mode, lite_sessions, http)

    assert [fix_id] == [u.fix_id for u in first]
    assert [fix_id] == [u.fix_id for u in second]
    row = _row(lite_sessions, fix_id)
    assert ("passing", "approved", "clean") == (row.checks, row.review, row.mergeable)
    assert [] == third
    assert (counted, not_modified + 4) == (github.counted_requests, github.not_modified)
    conditional = [r for r in github.requests[-4:] if r.headers.get("if-none-match")]
    assert 4 == len(conditional)


def test_a_merge_in_github_is_noticed_and_a_close_rejects_the_fix(
    sample: SampleRepo,
    pr_mode: Settings,
    lite_sessions: sessionmaker[Session],
    github: FakeGitHub,
    http: httpx.Client,
) -> None:
    """Merged by the team: pushed at the merge commit. Closed unmerged: rejected with the reason."""
    merged_fix = _opened(sample, pr_mode, lite_sessions)
    merge_sha = github.merge_in_github(1, login="bob")

    [update] = follow_pull_requests(pr_mode, lite_sessions, http)

    assert (merged_fix, "merged", merge_sha) == (update.fix_id, update.outcome, update.merge_commit_sha)
    assert "bob" in update.message
    with lite_sessions() as session:
        proposal = get_proposal(session, merged_fix)
        assert ("pushed", merge_sha) == (proposal.status, proposal.commit_sha)

    closed_fix = sample.propose(
        lite_sessions,
        [Edit("calc/ops.py", "    return sum(values)\n", "    return sum(values, 0)\n")],
    )
    assert run_apply(pr_mode, lite_sessions, closed_fix).ok
    github.close(2)
    [closed] = follow_pull_requests(pr_mode, lite_sessions, http)
    assert (closed_fix, "closed") == (closed.fix_id, closed.outcome)
    with lite_sessions() as session:
        proposal = get_proposal(session, closed_fix)
        assert "rejected" == proposal.status
        assert "closed in GitHub without merging" in proposal.reject_reason


def test_a_rate_limited_api_pauses_polling_until_retry_after(
    sample: SampleRepo,
    pr_mode: Settings,
    lite_sessions: sessionmaker[Session],
    github: FakeGitHub,
    http: httpx.Client,
) -> None:
    """403 with Retry-After: no further requests for that service until the wait has passed."""
    fix_id = _opened(sample, pr_mode, lite_sessions)
    now = utcnow()
    github.fail_next(
        Failure(
            403,
            raw=b'{"message": "You have exceeded a secondary rate limit."}',
            headers={"Retry-After": "120"},
        )
    )

    assert [] == follow_pull_requests(pr_mode, lite_sessions, http, now=now)
    seen = len(github.requests)
    assert [] == follow_pull_requests(pr_mode, lite_sessions, http, now=now + timedelta(seconds=60))
    assert seen == len(github.requests)
    later = follow_pull_requests(pr_mode, lite_sessions, http, now=now + timedelta(seconds=121))

    assert [fix_id] == [u.fix_id for u in later]
    assert len(github.requests) > seen


def test_revert_opens_a_revert_pull_request_that_undoes_a_merge_commit(
    tmp_path: Path,
    sample: SampleRepo,
    lite_sessions: sessionmaker[Session],
    github: FakeGitHub,
    http: httpx.Client,
) -> None:
    """In PR mode `revert` pushes fixbot/revert-<fix_id> and opens a PR; merging it reverts the fix."""
    settings = pr_settings(tmp_path / "data", str(sample.remote), github.url, merge_method="merge")
    fix_id = _opened(sample, settings, lite_sessions)
    merged = merge_fix(settings, lite_sessions, http, fix_id, actor="U0LOCALOPS")
    assert merged.ok, merged.message
    assert 2 == len(git(sample.remote, "rev-list", "--parents", "-n", "1", "main").split()) - 1

    report = run_revert(settings, lite_sessions, fix_id, actor="U0LOCALOPS")

    assert (True, "revert_pr_open") == (report.ok, report.status), report.message
    assert merged.merge_commit_sha == sample.remote_head()  # the deploy branch waits for the revert PR
    revert_head = github.head_of(branch_name(fix_id, "revert"))
    message = git(sample.remote, "log", "-1", "--format=%B", revert_head)
    assert fix_id == parse_trailers(message)["Reverts-Fix-Id"]
    assert "fixbot/revert-" + fix_id == github.pulls[2]["head"]["ref"]

    undone = merge_fix(settings, lite_sessions, http, fix_id, actor="U0LOCALOPS")

    assert (True, "reverted") == (undone.ok, undone.status)
    assert "return 0.0" not in sample.read_remote("calc/ops.py")
    with lite_sessions() as session:
        proposal = get_proposal(session, fix_id)
        assert (undone.merge_commit_sha, "reverted") == (proposal.revert_commit_sha, proposal.outcome)


def test_preflight_names_the_missing_permissions(
    pr_mode: Settings, github: FakeGitHub, http: httpx.Client
) -> None:
    """Contents: write from the repository's permissions; refused reads named with GitHub's hint."""
    api = github_api(pr_mode, pr_mode.services[0], http)
    assert [] == access_problems(api, "main")

    github.permissions = {"push": False, "pull": True}
    github.denied = {"checks"}
    problems = access_problems(api, "main")

    assert 2 == len(problems)
    assert "contents: write is missing" in problems[0]
    assert "checks: read is missing" in problems[1]
    assert "checks=read" in problems[1]
