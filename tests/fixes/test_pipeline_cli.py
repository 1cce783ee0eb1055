"""`agent fixes implement|reject|revert|resume` drive the same pipeline, against a bare remote."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy.orm import Session, sessionmaker

from bot.cli import main
from core.store.db import make_engine, make_session_factory, upgrade_database
from core.store.proposals import get_proposal
from fixes.git_ops import parse_trailers
from tests.fixes.sample import BREAKING_EDIT, FIX_EDIT, SampleRepo, git


@pytest.fixture
def cli(tmp_path: Path, sample: SampleRepo) -> tuple[Path, sessionmaker[Session]]:
    """An agent.toml whose service deploys to the sample remote, and its migrated SQLite database."""
    config = tmp_path / "agent.toml"
    config.write_text(
        f"""
data_dir = "data"
[[services]]
name = "sample"
source = "file:service.log"
repo = "{sample.remote}"
branch = "main"
approvers = ["U0LOCALOPS"]
"""
    )
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'agent.db'}")
    upgrade_database(engine)
    return config, make_session_factory(engine)


def _agent(config: Path, *args: str) -> Result:
    return CliRunner(env={"DATABASE_URL": "", "AGENT_CONFIG": ""}).invoke(
        main, ["--config", str(config), *args]
    )


def test_implement_pushes_and_revert_reverts(
    cli: tuple[Path, sessionmaker[Session]], sample: SampleRepo
) -> None:
    """`implement --as` approves and pushes a validated commit with trailers; `revert` undoes it."""
    config, sessions = cli
    fix_id = sample.propose(sessions, [FIX_EDIT], approve_as=None)

    result = _agent(config, "fixes", "implement", fix_id, "--as", "U0LOCALOPS")
    assert result.exit_code == 0, result.output
    assert "validation passed" in result.output
    trailers = parse_trailers(git(sample.remote, "log", "-1", "--format=%B", "main"))
    assert (fix_id, "U0LOCALOPS") == (trailers["Fix-Id"], trailers["Approved-by"])

    reverted = _agent(config, "fixes", "revert", fix_id, "--as", "U0LOCALOPS")
    assert reverted.exit_code == 0, reverted.output
    assert fix_id == parse_trailers(git(sample.remote, "log", "-1", "--format=%B", "main"))["Reverts-Fix-Id"]


def test_breaking_fix_exits_non_zero_and_changes_nothing(
    cli: tuple[Path, sessionmaker[Session]], sample: SampleRepo
) -> None:
    """A fix that breaks the tests exits 1 naming the step, and the remote is unchanged."""
    config, sessions = cli
    before = sample.remote_head()
    fix_id = sample.propose(sessions, [BREAKING_EDIT], approve_as=None)
    result = _agent(config, "fixes", "implement", fix_id, "--as", "U0LOCALOPS")
    assert result.exit_code == 1
    assert f"{fix_id} is failed at validate" in result.output
    assert before == sample.remote_head()


def test_non_approver_is_refused_and_reject_works(
    cli: tuple[Path, sessionmaker[Session]], sample: SampleRepo
) -> None:
    """Someone outside the approvers cannot implement; reject records the reason."""
    config, sessions = cli
    fix_id = sample.propose(sessions, [FIX_EDIT], approve_as=None)
    refused = _agent(config, "fixes", "implement", fix_id, "--as", "U0STRANGER")
    assert refused.exit_code == 1
    assert "U0STRANGER is not an approver for service sample" in refused.output
    rejected = _agent(config, "fixes", "reject", fix_id, "--reason", "not now")
    assert rejected.exit_code == 0, rejected.output
    with sessions() as session:
        assert (
            get_proposal(session, fix_id).status,
            get_proposal(session, fix_id).reject_reason,
        ) == ("rejected", "not now")
    assert _agent(config, "fixes", "resume", "--as", "U0LOCALOPS").exit_code == 0


def test_operator_without_as_is_recorded_as_cli(
    cli: tuple[Path, sessionmaker[Session]], sample: SampleRepo
) -> None:
    """Without --as the shell operator approves; the trailer and the audit row name `cli`."""
    from sqlalchemy import select

    from core.store.models import AuditEvent

    config, sessions = cli
    fix_id = sample.propose(sessions, [FIX_EDIT], approve_as=None)
    result = _agent(config, "fixes", "implement", fix_id)
    assert result.exit_code == 0, result.output
    trailers = parse_trailers(git(sample.remote, "log", "-1", "--format=%B", "main"))
    assert "cli" == trailers["Approved-by"]
    with sessions() as session:
        actors = session.scalars(
            select(AuditEvent.actor).where(AuditEvent.fix_id == fix_id, AuditEvent.action == "approved")
        ).all()
    assert ["cli"] == list(actors)


def test_status_names_the_approvers_and_sources(cli: tuple[Path, sessionmaker[Session]]) -> None:
    """`agent status` prints the status report (exit 0), with the configured service's source."""
    config, _ = cli
    result = _agent(config, "status")
    assert result.exit_code == 0, result.output
    assert "sample: file:" in result.output
    assert "not scanned yet" in result.output
