"""`revert fix_X`: a validated `git revert` of the fix's commit, pushed and recorded."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from core.store.proposals import get_proposal
from fixes.apply import run_apply, run_revert
from fixes.git_ops import parse_trailers
from tests.fixes.sample import FIX_EDIT, OPS, SampleRepo, git


def test_revert_restores_the_code_and_records_it(
    sample: SampleRepo, settings: Settings, lite_sessions: sessionmaker[Session]
) -> None:
    """Reverting a pushed fix pushes a revert commit with its trailer and marks the proposal reverted."""
    fix_id = sample.propose(lite_sessions, [FIX_EDIT])
    applied = run_apply(settings, lite_sessions, fix_id)
    report = run_revert(settings, lite_sessions, fix_id, actor="U0LOCALOPS")

    assert report.ok, report.message
    assert sample.read_remote("calc/ops.py") + "\n" == OPS
    assert applied.commit_sha == git(sample.remote, "rev-parse", "main^")
    message = git(sample.remote, "log", "-1", "--format=%B", "main")
    assert {"Reverts-Fix-Id": fix_id, "Approved-by": "U0LOCALOPS"} == parse_trailers(message)
    with lite_sessions() as session:
        proposal = get_proposal(session, fix_id)
        assert ("reverted", report.commit_sha) == (proposal.status, proposal.revert_commit_sha)


def test_revert_of_unpushed_fix_is_refused(
    sample: SampleRepo, settings: Settings, lite_sessions: sessionmaker[Session]
) -> None:
    """Only a pushed fix can be reverted; the remote stays as it was."""
    fix_id = sample.propose(lite_sessions, [FIX_EDIT])
    before = sample.remote_head()
    report = run_revert(settings, lite_sessions, fix_id, actor="U0LOCALOPS")
    assert (report.ok, report.status) == (False, "approved")
    assert "only a pushed fix can be reverted" in report.message
    assert before == sample.remote_head()


def test_revert_with_conflict_fails_cleanly(
    sample: SampleRepo, settings: Settings, lite_sessions: sessionmaker[Session]
) -> None:
    """A revert that conflicts with later changes becomes revert_failed and pushes nothing."""
    fix_id = sample.propose(lite_sessions, [FIX_EDIT])
    assert run_apply(settings, lite_sessions, fix_id).ok
    text = sample.read_remote("calc/ops.py").replace("return 0.0", "return float(0)")
    moved = sample.push_change("calc/ops.py", text + "\n")
    report = run_revert(settings, lite_sessions, fix_id, actor="U0LOCALOPS")
    assert (report.ok, report.status, report.failed_step) == (False, "revert_failed", "revert")
    assert moved == sample.remote_head()
    assert git(settings.data_dir / "worktrees" / "sample", "status", "--porcelain", "--ignored") == ""
