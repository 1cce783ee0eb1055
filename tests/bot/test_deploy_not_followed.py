"""A pushed fix whose deploy cannot be followed is said once and then stays "pushed — deploy not followed".

Outside Railway (no service id, no health_url) the watcher cannot follow a deploy. Housekeeping used
to resume the watch every round and repeat the note forever; now the first watch records its end.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.runtime import Runtime, build_runtime, resume_deploy_watches
from core.settings import load_settings
from core.store.proposals import create_proposal, get_proposal


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(
        """
data_dir = "data"
[[services]]
name = "api"
source = "file:app.log"
repo = "remote.git"
approvers = ["U0LOCALOPS"]
"""
    )
    return path


@pytest.fixture
def runtime(config: Path) -> Iterator[tuple[Runtime, io.StringIO]]:
    out = io.StringIO()
    built = build_runtime(load_settings(config, environ={}), terminal=True, out=out)
    yield built, out
    built.stop(wait=True)


def test_unfollowable_deploy_is_said_once_and_the_state_stays(
    runtime: tuple[Runtime, io.StringIO], config: Path
) -> None:
    """Three housekeeping rounds: one note, the fix stays pushed, marked as not followed."""
    bot, out = runtime
    with bot.sessions.begin() as session:
        fix_id = create_proposal(
            session, service="api", status="pushed", commit_sha="3f2c1ab9d4e5f607", diff="--- a\n+++ b\n"
        ).fix_id

    for _ in range(3):
        bot.housekeeping()
    bot.deploys.pool.shutdown(wait=True)  # every watch that was started has finished

    assert 1 == out.getvalue().count("Deploy not followed")
    assert [] == resume_deploy_watches(bot)
    with bot.sessions() as session:
        proposal = get_proposal(session, fix_id)
        assert ("pushed", "UNWATCHED") == (proposal.status, proposal.deploy_status)
    listing = CliRunner().invoke(main, ["--config", str(config), "fixes", "list"], env={})
    assert 0 == listing.exit_code, listing.output
    assert "pushed — deploy not followed" in listing.output
