"""The regression-test proof, end to end: propose_fix with a scripted model, real git, real SQLite.

A fix whose test fails on the base and passes with the fix is "proven" (the test is part of the
diff a person approves, so of the commit that is pushed); one whose test passes on the base too is
"not proven", and so is any fix of a service that does not allow test edits (with the model's test
suggestion shown instead).
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
    edits: list[dict[str, str]],
    **svc: bool,
) -> Proposal:
    _, lm = scripted_lm(by_signature(ANALYSIS, [fix_answer(edits)]))
    service = service_settings(remote, validation_command=PYTEST, **svc)
    return propose_fix(add_incident(db), service=service, llm=llm_settings(), sessions=db, lm=lm)


def _view(db: sessionmaker[Session], fix_id: str) -> ProposalView:
    """The view as the bot builds it: inside a session (the proposal's relations load lazily)."""
    with db() as session:
        return ProposalView.of(get_proposal(session, fix_id))


def test_test_failing_on_the_base_proves_the_fix(
    db: sessionmaker[Session], sample_remote: Path, scripted_lm: ServerFactory, tmp_path: Path
) -> None:
    """Fails on the base, passes with the fix: proven, named; the test is in the approved diff."""
    proposal = _propose(
        db, sample_remote, scripted_lm, [GOOD_EDIT, _test_edit(REPRODUCING)], allow_test_edits=True
    )
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
    edits = [GOOD_EDIT, _test_edit(NOT_REPRODUCING)]
    proposal = _propose(db, sample_remote, scripted_lm, edits, allow_test_edits=True)
    assert "passed" == proposal.validation_status
    assert "not proven: `tests/test_regression.py::test_one_item` passes on the base too" == proposal.proof
    assert not proposal.proven


def test_service_without_test_edits_is_not_proven_and_shows_the_suggestion(
    db: sessionmaker[Session], sample_remote: Path, scripted_lm: ServerFactory
) -> None:
    """Tests not allowed: 'not proven: …', and the model's test suggestion is shown instead."""
    proposal = _propose(db, sample_remote, scripted_lm, [GOOD_EDIT])
    assert (proposal.proof or "").startswith("not proven: this service does not allow")
    text = render_proposal(_view(db, proposal.fix_id))
    assert "suggested test: handle({'id': 2, 'items': None}) returns 0." in text
