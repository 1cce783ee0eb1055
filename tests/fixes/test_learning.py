"""Learning: verified fixes become GenerateFix demonstrations; the newest saved program is loaded."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import dspy
import pytest
from click.testing import CliRunner
from dspy.utils import DummyLM
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.cli import main
from core.settings import Settings, load_settings
from core.store.db import make_engine, make_session_factory, upgrade_database
from core.store.models import AuditEvent, Proposal, utcnow
from core.store.proposals import create_proposal, get_proposal
from fixes.apply import run_apply
from fixes.learning import (
    FixProgram,
    compile_program,
    examples_from_proposals,
    latest_program_path,
    load_latest_program,
    record_outcome,
    save_program,
    verified_proposals,
)
from tests.fixes.sample import BREAKING_EDIT, FIX_EDIT, SampleRepo

EDIT = {"path": "app.py", "search": "x = None\n", "replace": "x = []\n"}


def _verified(session: Session, **fields: object) -> None:
    values: dict[str, object] = {
        "status": "verified",
        "origin": "llm",
        "root_cause": "x is None",
        "edits": [EDIT],
        "reasoning": "use a list",
        "risk": "low",
        "test_suggestion": "t",
        "validation_outcome": "passed",
    }
    values.update(fields)
    create_proposal(session, service="s", **values)


def test_only_verified_llm_fixes_become_examples(sessions: sessionmaker[Session]) -> None:
    """Verified LLM proposals are examples; rejected ones and playbooks are not."""
    with sessions.begin() as session:
        _verified(session)
        _verified(session, status="rejected")
        _verified(session, origin="playbook")
        _verified(session, status="pushed", outcome="verified")
    with sessions() as session:
        examples = examples_from_proposals(verified_proposals(session))
    assert 2 == len(examples)
    assert {"root_cause", "affected_components", "current_code", "feedback"} == set(
        examples[0].inputs().keys()
    )
    assert [EDIT] == examples[0].edits


def test_a_fix_whose_validation_did_not_really_pass_is_no_demonstration(
    sessions: sessionmaker[Session],
) -> None:
    """Verified but validated with an error (runner missing), failed, or never by the pipeline: left out."""
    with sessions.begin() as session:
        _verified(session, root_cause="passed")
        _verified(session, root_cause="error", validation_outcome="error", validation_status="passed")
        _verified(session, root_cause="failed", validation_outcome="failed")
        _verified(session, root_cause="legacy", validation_outcome=None, validation_status="passed")
        _verified(session, root_cause="not verified", status="pushed")
    with sessions() as session:
        used = [p.root_cause for p in verified_proposals(session)]
    assert ["passed"] == used


def test_the_pipeline_records_what_learning_trusts(
    sample: SampleRepo, settings: Settings, lite_sessions: sessionmaker[Session]
) -> None:
    """A pushed fix is recorded with validation_outcome "passed"; one failing its tests with "failed"."""
    good = sample.propose(lite_sessions, [FIX_EDIT])
    assert run_apply(settings, lite_sessions, good).ok
    bad = sample.propose(lite_sessions, [BREAKING_EDIT])
    assert "validate" == run_apply(settings, lite_sessions, bad).failed_step
    with lite_sessions.begin() as session:
        outcomes = [get_proposal(session, f).validation_outcome for f in (good, bad)]
        for fix_id in (good, bad):
            get_proposal(session, fix_id).outcome = "verified"
    with lite_sessions() as session:
        used = [p.fix_id for p in verified_proposals(session)]
    assert (["passed", "failed"], [good]) == (outcomes, used)


def test_record_outcome_validates_and_audits(sessions: sessionmaker[Session]) -> None:
    """An unknown outcome is refused; a known one is stored on the proposal with an audit row."""
    with sessions.begin() as session:
        _verified(session, status="pushed")
        fix_id = session.scalars(select(Proposal.fix_id)).one()
        with pytest.raises(ValueError, match="unknown outcome 'great'"):
            record_outcome(session, fix_id, "great", actor="U1")
        record_outcome(session, fix_id, "verified", actor="U1")
    with sessions() as session:
        actions = list(session.scalars(select(AuditEvent.action).where(AuditEvent.fix_id == fix_id)))
        assert 1 == len(verified_proposals(session))
    assert "outcome_verified" in actions


def _compiled_from_one_verified_fix(sessions: sessionmaker[Session]) -> FixProgram:
    with sessions.begin() as session:
        _verified(session)
    with sessions() as session:
        return compile_program(examples_from_proposals(verified_proposals(session)), k=4)


def test_compiled_program_carries_demos_and_replays_them(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    """The saved program's GenerateFix has the demonstrations, which reach the model's prompt."""
    program = _compiled_from_one_verified_fix(sessions)
    path = save_program(program, tmp_path / "programs")
    loaded = load_latest_program(tmp_path / "programs")
    assert loaded is not None
    assert path == latest_program_path(tmp_path / "programs")
    assert 1 == len(loaded.generate.demos)
    lm = DummyLM([{"reasoning": "r", "edits": [EDIT], "risk_assessment": "low", "test_suggestion": "t"}])
    with dspy.context(lm=lm):
        loaded.generate(root_cause="y is None", affected_components=[], current_code="y = None", feedback="")
    assert "use a list" in str(lm.history[-1]["messages"])


def test_program_saved_before_the_proven_generator_gives_it_its_demos(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    """A program saved without `generate_proven` still loads; its demonstrations serve both generators."""
    program = _compiled_from_one_verified_fix(sessions)
    assert 1 == len(program.generate_proven.demos)
    path = save_program(program, tmp_path / "programs")
    state = json.loads(path.read_text("utf-8"))
    del state["generate_proven"]
    path.write_text(json.dumps(state), encoding="utf-8")
    loaded = load_latest_program(tmp_path / "programs")
    assert loaded is not None
    assert (1, 1) == (len(loaded.generate.demos), len(loaded.generate_proven.demos))
    assert "regression_test" in loaded.generate_proven.signature.output_fields


def test_newest_program_wins(tmp_path: Path) -> None:
    """Of two saved programs the later timestamp is loaded."""
    older = save_program(compile_program([]), tmp_path, now=utcnow() - timedelta(days=1))
    newer = save_program(compile_program([]), tmp_path)
    assert (newer, True) == (latest_program_path(tmp_path), older < newer)


def test_agent_learn_saves_a_program(tmp_path: Path) -> None:
    """`agent learn` compiles verified fixes and writes data/programs/fixer-*.json."""
    config = tmp_path / "agent.toml"
    config.write_text('data_dir = "data"\n')
    settings = load_settings(config, environ={})
    settings.data_dir.mkdir(parents=True)
    engine = make_engine(settings.database_url)
    upgrade_database(engine)
    with make_session_factory(engine).begin() as session:
        _verified(session)
    engine.dispose()
    result = CliRunner().invoke(main, ["--config", str(config), "learn"], env={"DATABASE_URL": ""})
    assert 0 == result.exit_code, result.output
    assert "1 usable as demonstrations" in result.output
    assert latest_program_path(settings.data_dir / "programs") is not None
