"""The regression-test proof, end to end: propose_fix with a scripted model, real git, real SQLite.

A fix whose test fails on the base and passes with the fix is "proven" (the test is part of the
diff a person approves, so of the commit that is pushed); one whose test passes on the base too is
"not proven", and so is any fix of a service that does not allow test edits (with the model's test
suggestion shown instead). The test is GenerateProvenFix's own output, `regression_test`, asked only of a
service that allows test edits, and held to test files.
"""

from __future__ import annotations

from pathlib import Path

import git
from sqlalchemy.orm import Session, sessionmaker

from bot.render.text import render_proposal
from bot.render.views import ProposalView
from core.settings import Settings
from core.store import lifecycle
from core.store.models import Proposal
from core.store.proposals import get_proposal
from fixes.apply import run_apply
from fixes.generate import propose_fix
from tests.fixes.llm_support import (
    ANALYSIS,
    GOOD_EDIT,
    PYTEST,
    ServerFactory,
    add_incident,
    by_signature,
    db,
    fix_answer,
    llm_settings,
    output_fields,
    sample_remote,
    scripted_lm,
    service_settings,
)

__all__ = ["db", "sample_remote", "scripted_lm"]  # fixtures used by this module

REPRODUCING = (
    "from service.app import handle\n\n\n"
    "def test_order_without_items_totals_zero():\n    assert handle({'id': 2, 'items': None}) == 0\n"
)
NOT_REPRODUCING = (
    "from service.app import handle\n\n\n"
    "def test_one_item():\n    assert handle({'id': 3, 'items': [{'price': 4}]}) == 4\n"
)


def _test_edit(text: str) -> dict[str, str]:
    return {"path": "tests/test_regression.py", "search": "", "replace": text}


def _propose(
    db: sessionmaker[Session],
    remote: Path,
    scripted_lm: ServerFactory,
    regression_test: list[dict[str, str]],
    **svc: bool,
) -> tuple[Proposal, list[str]]:
    """The proposal, and the output fields each generation request asked for."""
    server, lm = scripted_lm(by_signature(ANALYSIS, [fix_answer([GOOD_EDIT], regression_test)]))
    service = service_settings(remote, validation_command=PYTEST, **svc)
    proposal = propose_fix(add_incident(db), service=service, llm=llm_settings(), sessions=db, lm=lm)
    asked = [",".join(f) for r in server.requests if "edits" in (f := output_fields(r))]
    return proposal, asked


def _view(db: sessionmaker[Session], fix_id: str) -> ProposalView:
    """The view as the bot builds it: inside a session (the proposal's relations load lazily)."""
    with db() as session:
        return ProposalView.of(get_proposal(session, fix_id))


def test_test_failing_on_the_base_proves_the_fix(
    db: sessionmaker[Session], sample_remote: Path, scripted_lm: ServerFactory, tmp_path: Path
) -> None:
    """Fails on the base, passes with the fix: proven, named; the test is in the approved diff."""
    proposal, asked = _propose(
        db, sample_remote, scripted_lm, [_test_edit(REPRODUCING)], allow_test_edits=True
    )
    assert ["reasoning,edits,risk_assessment,test_suggestion,regression_test"] == asked
    node = "tests/test_regression.py::test_order_without_items_totals_zero"
    assert ("passed", f"proven: `{node}` fails on the base, passes with the fix") == (
        proposal.validation_status,
        proposal.proof,
    )
    assert proposal.proven
    assert "+++ b/tests/test_regression.py" in proposal.diff
    assert "proven: `tests/test_regression.py" in render_proposal(_view(db, proposal.fix_id))

    # Approved and applied: the regression test is in the pushed commit.
    settings = Settings(
        config_path=None,
        data_dir=tmp_path / "data",
        services=(service_settings(sample_remote, validation_command=PYTEST, allow_test_edits=True),),
    )
    with db.begin() as session:
        lifecycle.approve(session, proposal.fix_id, actor="U0LOCALOPS", content_hash=proposal.content_hash)
    report = run_apply(settings, db, proposal.fix_id)
    assert report.ok, report.message + report.output
    pushed = git.Repo(sample_remote).git.show("main:tests/test_regression.py")
    assert REPRODUCING.strip() == pushed.strip()


def test_test_passing_on_the_base_proves_nothing(
    db: sessionmaker[Session], sample_remote: Path, scripted_lm: ServerFactory
) -> None:
    """A test that passes without the fix does not reproduce the incident: not proven, posted marked."""
    proposal, _ = _propose(
        db, sample_remote, scripted_lm, [_test_edit(NOT_REPRODUCING)], allow_test_edits=True
    )
    assert "passed" == proposal.validation_status
    assert "not proven: `tests/test_regression.py::test_one_item` passes on the base too" == proposal.proof
    assert not proposal.proven


def test_service_without_test_edits_is_not_proven_and_shows_the_suggestion(
    db: sessionmaker[Session], sample_remote: Path, scripted_lm: ServerFactory
) -> None:
    """Tests not allowed: GenerateFix is asked (no `regression_test`), 'not proven: …', and the model's
    test suggestion is shown instead; a test the model offers anyway is not used."""
    proposal, asked = _propose(db, sample_remote, scripted_lm, [_test_edit(REPRODUCING)])
    assert ["reasoning,edits,risk_assessment,test_suggestion"] == asked
    assert "tests/test_regression.py" not in proposal.diff
    assert (proposal.proof or "").startswith("not proven: this service does not allow")
    text = render_proposal(_view(db, proposal.fix_id))
    assert "suggested test: handle({'id': 2, 'items': None}) returns 0." in text


def test_regression_test_outside_the_tests_is_refused_like_any_edit(
    db: sessionmaker[Session], sample_remote: Path, scripted_lm: ServerFactory
) -> None:
    """`regression_test` may only edit test files: code slipped in there is refused, never validated;
    a path outside the repository is refused too (and would be by the policy every edit meets)."""
    sneaky = {"path": "service/config.py", "search": "max_tokens = 1000\n", "replace": "max_tokens = 1\n"}
    proposal, _ = _propose(db, sample_remote, scripted_lm, [sneaky], allow_test_edits=True)
    assert "report" == proposal.origin
    assert "`regression_test` may only edit test files" in (proposal.no_fix_reason or "")
    assert "'service/config.py'" in (proposal.no_fix_reason or "")
    escaping = {"path": "../tests/test_x.py", "search": "", "replace": "def test_x():\n    pass\n"}
    outside, _ = _propose(db, sample_remote, scripted_lm, [escaping], allow_test_edits=True)
    assert "report" == outside.origin
    assert "`regression_test` may only edit test files" in (outside.no_fix_reason or "")
