"""Circuit breaker: N consecutive failed applies pause applies until an approver resumes."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from fixes.apply import breaker, run_apply
from tests.fixes.sample import BREAKING_EDIT, FIX_EDIT, SampleRepo, make_settings


def test_breaker_counts_and_resets(lite_sessions: sessionmaker[Session]) -> None:
    """Failures below the threshold keep it closed, the threshold opens it, success resets the count."""
    with lite_sessions.begin() as session:
        assert not breaker.record_apply_result(session, "api", ok=False, fix_id="fix_1", threshold=2).open
        assert breaker.record_apply_result(session, "api", ok=False, fix_id="fix_2", threshold=2).open
        assert breaker.breaker_status(session, "api", 2).open
        assert not breaker.breaker_status(session, "other", 2).open
    with lite_sessions.begin() as session:
        breaker.resume(session, actor="U0LOCALOPS", threshold=2)
        assert (
            breaker.breaker_status(session, "api", 2).open,
            breaker.breaker_status(session, "api", 2).consecutive_failures,
        ) == (False, 0)
        breaker.record_apply_result(session, "api", ok=False, fix_id="fix_3", threshold=2)
        breaker.record_apply_result(session, "api", ok=True, fix_id="fix_4", threshold=2)
        assert breaker.breaker_status(session, "api", 2).consecutive_failures == 0


def test_open_breaker_pauses_applies_until_resume(
    sample: SampleRepo, tmp_path: Path, lite_sessions: sessionmaker[Session]
) -> None:
    """After two failed applies the third is refused without consuming its approval; resume lifts it."""
    settings = make_settings(tmp_path / "d", str(sample.remote), breaker_threshold=2)
    for _ in range(2):
        failing = sample.propose(lite_sessions, [BREAKING_EDIT])
        assert not run_apply(settings, lite_sessions, failing).ok
    good = sample.propose(lite_sessions, [FIX_EDIT])
    before = sample.remote_head()
    paused = run_apply(settings, lite_sessions, good)
    assert (paused.ok, paused.failed_step, paused.status) == (False, "breaker", "approved")
    assert "paused after 2 consecutive failed applies" in paused.message
    assert before == sample.remote_head()
    with lite_sessions.begin() as session:
        breaker.resume(session, actor="U0LOCALOPS", threshold=2, service="sample")
    assert run_apply(settings, lite_sessions, good).ok
