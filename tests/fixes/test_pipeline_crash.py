"""SIGKILL at each step of the pipeline: after reconciliation the invariants hold and a retry works."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from core.store import lifecycle
from core.store.proposals import get_proposal
from fixes.apply import APPLY_STEPS, REVERT_STEPS, reconcile_unfinished, run_apply
from fixes.apply.journal import read_journal
from fixes.git_ops import parse_trailers
from tests.fixes.sample import FIX_EDIT, SampleRepo, git

ROOT = Path(__file__).resolve().parents[2]


def _kill_after(
    *, settings: Settings, sample: SampleRepo, engine: Engine, fix_id: str, step: str, kind: str
) -> None:
    argv = [sys.executable, "-m", "tests.fixes.crash_child", str(settings.data_dir), str(sample.remote)]
    argv += [engine.url.render_as_string(hide_password=False), fix_id, step, kind]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr


def _trailer_commits(sample: SampleRepo, key: str, fix_id: str) -> list[str]:
    log = git(sample.remote, "log", "--format=%H%x1f%B%x1e", "main")
    return [
        sha
        for sha, _, body in (r.strip().partition("\x1f") for r in log.split("\x1e") if r.strip())
        if parse_trailers(body).get(key) == fix_id
    ]


@pytest.mark.parametrize("step", [s.value for s in APPLY_STEPS])
def test_kill_during_apply_then_reconcile(
    step: str,
    sample: SampleRepo,
    settings: Settings,
    sqlite_engine: Engine,
    lite_sessions: sessionmaker[Session],
) -> None:
    """Killed after any step, the apply is settled: pushed exactly once, or failed and retryable."""
    before = sample.remote_head()
    fix_id = sample.propose(lite_sessions, [FIX_EDIT])
    _kill_after(
        settings=settings, sample=sample, engine=sqlite_engine, fix_id=fix_id, step=step, kind="apply"
    )

    reports = reconcile_unfinished(settings, lite_sessions)

    worktree = settings.data_dir / "worktrees" / "sample"
    # No change to any file, tracked or not. Only a completed apply (killed after its push) may leave
    # ignored build artifacts from validation (__pycache__); a reconciled one is cleaned entirely.
    ignored = [] if step in ("push", "record") else ["--ignored"]
    assert "" == git(worktree, "status", "--porcelain", *ignored)
    assert git(worktree, "rev-parse", "HEAD") == sample.remote_head()
    with lite_sessions() as session:
        proposal = get_proposal(session, fix_id)
        assert read_journal(session, fix_id) == {}
    if step in ("push", "record"):
        assert [proposal.commit_sha] == _trailer_commits(sample, "Fix-Id", fix_id)
        assert proposal.status == "pushed"
        return
    assert [r.status for r in reports] == ["failed"]
    assert ("failed", before) == (proposal.status, sample.remote_head())
    assert proposal.failure_reason.startswith("interrupted")
    with lite_sessions.begin() as session:
        lifecycle.approve(session, fix_id, actor="U0LOCALOPS", content_hash=proposal.content_hash)
    assert run_apply(settings, lite_sessions, fix_id).ok
    assert len(_trailer_commits(sample, "Fix-Id", fix_id)) == 1


@pytest.mark.parametrize("step", ["fetch", "revert", "push"])
def test_kill_during_revert_then_reconcile(
    step: str,
    sample: SampleRepo,
    settings: Settings,
    sqlite_engine: Engine,
    lite_sessions: sessionmaker[Session],
) -> None:
    """Killed during a revert, it is settled: reverted once, or revert_failed with the remote untouched."""
    assert step in {s.value for s in REVERT_STEPS}
    fix_id = sample.propose(lite_sessions, [FIX_EDIT])
    assert run_apply(settings, lite_sessions, fix_id).ok
    pushed = sample.remote_head()
    _kill_after(
        settings=settings, sample=sample, engine=sqlite_engine, fix_id=fix_id, step=step, kind="revert"
    )

    reconcile_unfinished(settings, lite_sessions)

    with lite_sessions() as session:
        proposal = get_proposal(session, fix_id)
    if step == "push":
        assert ("reverted", [proposal.revert_commit_sha]) == (
            proposal.status,
            _trailer_commits(sample, "Reverts-Fix-Id", fix_id),
        )
    else:
        assert ("revert_failed", pushed) == (proposal.status, sample.remote_head())
