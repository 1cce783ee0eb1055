"""Stopping the bot (SIGTERM → Runtime.stop) lets a running apply finish: nothing is left half-done."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from sqlalchemy import Engine

from bot import commands as cmd
from bot.runtime import build_runtime
from core.store.db import make_session_factory
from core.store.proposals import get_proposal
from tests.fixes.sample import FIX_EDIT, SampleRepo, git, make_settings


def test_stop_waits_for_the_running_apply(tmp_path: Path, sample: SampleRepo, sqlite_engine: Engine) -> None:
    """An apply whose tests are still running when the bot is told to stop is pushed, not abandoned."""
    started = tmp_path / "tests-started"
    # The validation command signals that it runs, then takes a moment: the stop arrives meanwhile.
    slow_tests = (
        f"{sys.executable} -c \"import pathlib, time; pathlib.Path(r'{started}').touch(); time.sleep(1.5)\""
    )
    settings = make_settings(tmp_path / "data", str(sample.remote), command=slow_tests)
    sessions = make_session_factory(sqlite_engine)
    fix_id = sample.propose(sessions, [FIX_EDIT], approve_as=None)
    runtime = build_runtime(
        settings, engine=sqlite_engine, terminal=True, watch_deploys=False, out=sys.stdout
    )

    reply = runtime.operations.handle(cmd.Implement(fix_id, None), "U0LOCALOPS")
    assert reply.ok, reply.text
    deadline = time.monotonic() + 60
    while not started.exists():  # the stop must arrive while the tests are running
        assert time.monotonic() < deadline, "the validation command never started"
        time.sleep(0.05)
    runtime.stop(wait=True)

    with sessions() as session:
        proposal = get_proposal(session, fix_id)
    assert "pushed" == proposal.status
    assert git(sample.remote, "rev-parse", "main") == proposal.commit_sha
