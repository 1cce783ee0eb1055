"""A fix may not edit the bot, nor switch off its own checks: refused at generation and at apply alike.

The attack that got through before: a service whose `repo` is a `file://` URL of the bot's own
repository. Generation never denied the bot's code, and apply compared local paths only, so a change
to the bot was proposed, validated and pushed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from fixes.apply import run_apply
from fixes.edits import Edit
from fixes.generate import propose_fix
from fixes.policy import policy_for
from tests.fixes.llm_support import (
    ANALYSIS,
    GOOD_EDIT,
    ServerFactory,
    add_incident,
    by_signature,
    db,
    fix_answer,
    llm_settings,
    sample_remote,
    scripted_lm,
    service_settings,
)
from tests.fixes.sample import FIX_EDIT, SampleRepo

__all__ = ["db", "sample_remote", "scripted_lm"]  # fixtures used by this module


def _feedback(server: Any) -> str:
    return "\n".join(str(m.get("content", "")) for r in server.requests for m in r["messages"])


def test_generation_refuses_the_bots_own_code_reached_by_a_file_url(
    db: sessionmaker[Session], sample_remote: Path, scripted_lm: ServerFactory
) -> None:
    """A model answer editing the bot's own repository (given as file://) is refused; no fix is proposed."""
    bot_checkout = sample_remote.parent / "work"  # stands for the bot's own checkout
    service = service_settings(sample_remote, repo=f"file://{bot_checkout}")
    server, lm = scripted_lm(by_signature(ANALYSIS, [fix_answer([GOOD_EDIT])]))
    proposal = propose_fix(
        add_incident(db),
        service=service,
        llm=llm_settings(max_attempts=2),
        sessions=db,
        lm=lm,
        policy=policy_for(service, bot_repository=bot_checkout),
    )
    assert ("report", "") == (proposal.origin, proposal.diff)
    assert "is the bot's own" in _feedback(server)


def test_generation_refuses_ci_and_test_configuration_edits(
    db: sessionmaker[Session], sample_remote: Path, scripted_lm: ServerFactory
) -> None:
    """CI and pytest configuration are refused even with no denied_paths; the model is told which setting."""
    ci = {"path": ".github/workflows/ci.yml", "search": "", "replace": "on: push\njobs: {}\n"}
    conftest = {"path": "conftest.py", "search": "", "replace": "collect_ignore = ['tests']\n"}
    service = service_settings(sample_remote, denied_paths=())
    answers = [fix_answer([ci]), fix_answer([conftest]), fix_answer([GOOD_EDIT])]
    server, lm = scripted_lm(by_signature(ANALYSIS, answers))
    proposal = propose_fix(
        add_incident(db), service=service, llm=llm_settings(max_attempts=3), sessions=db, lm=lm
    )
    feedback = _feedback(server)
    assert "set allow_ci_edits = true" in feedback
    assert "set allow_test_config_edits = true" in feedback
    assert ("llm", "passed") == (proposal.origin, proposal.validation_status)
    assert ".github" not in proposal.diff
    assert "conftest" not in proposal.diff


def _with_service(settings: Settings, **update: Any) -> Settings:
    service = settings.services[0].model_copy(update=update)
    return dataclasses.replace(settings, services=(service,))


def test_apply_refuses_the_bots_own_repository_reached_by_a_file_url(
    sample: SampleRepo, settings: Settings, lite_sessions: sessionmaker[Session]
) -> None:
    """An approved fix for a service whose repo is file:// of bot_repository is refused; nothing is pushed."""
    attacked = dataclasses.replace(
        _with_service(settings, repo=f"file://{sample.remote}"), bot_repository=sample.remote
    )
    fix_id = sample.propose(lite_sessions, [FIX_EDIT])
    before = sample.remote_head()
    report = run_apply(attacked, lite_sessions, fix_id)
    assert (False, "check", "failed") == (report.ok, report.failed_step, report.status)
    assert "is the bot's own" in report.message
    assert before == sample.remote_head()


def test_apply_refuses_ci_and_pytest_configuration(
    sample: SampleRepo, settings: Settings, lite_sessions: sessionmaker[Session]
) -> None:
    """A fix editing .github/workflows or [tool.pytest.ini_options] is refused at apply, naming why."""
    sample.push_change(
        "pyproject.toml", '[project]\nname = "calc"\n\n[tool.pytest.ini_options]\naddopts = "-q"\n'
    )
    open_settings = _with_service(settings, denied_paths=())
    cases = [
        (Edit(".github/workflows/ci.yml", "", "on: push\n"), "allow_ci_edits"),
        (
            Edit("pyproject.toml", 'addopts = "-q"', 'addopts = "-q --deselect tests"'),
            "allow_test_config_edits",
        ),
    ]
    for edit, setting in cases:
        fix_id = sample.propose(lite_sessions, [edit])
        before = sample.remote_head()
        report = run_apply(open_settings, lite_sessions, fix_id)
        assert (False, "check") == (report.ok, report.failed_step)
        assert f"set {setting} = true for [[services]] 'sample'" in report.message
        assert before == sample.remote_head()
