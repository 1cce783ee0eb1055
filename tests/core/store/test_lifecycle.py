"""The proposal state machine: legal moves, refused moves, races, audit rows."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from core.store.lifecycle import (
    TRANSITIONS,
    IllegalTransition,
    ProposalNotFound,
    ProposalStatus,
    approve,
    reject,
    transition,
)
from core.store.models import AuditEvent, Proposal
from core.store.proposals import create_proposal, get_proposal

S = ProposalStatus


def _new(sessions: sessionmaker[Session], status: ProposalStatus = S.PROPOSED) -> str:
    with sessions.begin() as session:
        proposal = create_proposal(session, service="api", summary="fix it", content_hash="h1")
        proposal.status = status.value
        return proposal.fix_id


LEGAL = sorted((src, dst) for src, targets in TRANSITIONS.items() for dst in targets)


@pytest.mark.parametrize(("source", "target"), LEGAL, ids=[f"{s.value}->{t.value}" for s, t in LEGAL])
def test_every_legal_transition_succeeds_and_is_audited(
    sqlite_engine: Engine, source: ProposalStatus, target: ProposalStatus
) -> None:
    """Each transition in the table moves the proposal and writes one audit row naming both ends."""
    sessions = sessionmaker(bind=sqlite_engine, expire_on_commit=False)
    fix_id = _new(sessions, source)
    with sessions.begin() as session:
        result = transition(session, fix_id, target, actor="U1", expected=[source])
    assert (True, target) == (result.changed, result.status)
    with sessions() as session:
        assert target.value == get_proposal(session, fix_id).status
        row = session.scalars(
            select(AuditEvent).where(AuditEvent.fix_id == fix_id, AuditEvent.action == target.value)
        ).one()
        assert (source.value, target.value, "U1") == (row.from_status, row.to_status, row.actor)


ILLEGAL = sorted(
    (src, dst)
    for src in ProposalStatus
    for dst in ProposalStatus
    if dst not in TRANSITIONS[src] and src != dst
)


@pytest.mark.parametrize(
    ("source", "target"), ILLEGAL[::7], ids=[f"{s.value}->{t.value}" for s, t in ILLEGAL[::7]]
)
def test_illegal_transitions_are_refused_with_both_statuses_named(
    sqlite_engine: Engine, source: ProposalStatus, target: ProposalStatus
) -> None:
    """A move the table does not allow raises IllegalTransition naming from and to, and changes nothing."""
    sessions = sessionmaker(bind=sqlite_engine, expire_on_commit=False)
    fix_id = _new(sessions, source)
    with pytest.raises(IllegalTransition) as caught, sessions.begin() as session:
        transition(session, fix_id, target, actor="U1")
    assert f"from {source.value} to {target.value}" in str(caught.value)
    with sessions() as session:
        assert source.value == get_proposal(session, fix_id).status


def test_rejected_proposal_cannot_be_approved_and_says_why(sessions: sessionmaker[Session]) -> None:
    """Approving a rejected fix explains that it was rejected and what to do instead."""
    fix_id = _new(sessions)
    with sessions.begin() as session:
        reject(session, fix_id, actor="U2", reason="wrong file")
    with pytest.raises(IllegalTransition, match="it was rejected"), sessions.begin() as session:
        approve(session, fix_id, actor="U1")


def test_unknown_fix_id_is_reported(sessions: sessionmaker[Session]) -> None:
    """A transition on a fix id that does not exist raises ProposalNotFound with the id."""
    with pytest.raises(ProposalNotFound, match="fix_19990101_000000"), sessions.begin() as session:
        approve(session, "fix_19990101_000000", actor="U1")


def test_second_approval_is_a_no_op_that_names_the_first_approver(sessions: sessionmaker[Session]) -> None:
    """Approving twice leaves the first approval in place and tells the second who approved."""
    fix_id = _new(sessions)
    with sessions.begin() as session:
        first = approve(session, fix_id, actor="UALICE", content_hash="h1")
    with sessions.begin() as session:
        second = approve(session, fix_id, actor="UBOB", content_hash="h1")
    assert (True, False) == (first.changed, second.changed)
    assert "already approved by UALICE" in second.message
    with sessions() as session:
        assert "UALICE" == get_proposal(session, fix_id).approver


def test_approval_after_apply_started_is_a_no_op(sessions: sessionmaker[Session]) -> None:
    """A late approval of a fix already being applied does not restart it and says so."""
    fix_id = _new(sessions)
    with sessions.begin() as session:
        approve(session, fix_id, actor="UALICE")
        transition(session, fix_id, S.APPLYING, actor="pipeline")
    with sessions.begin() as session:
        late = approve(session, fix_id, actor="UBOB")
    assert (False, S.APPLYING) == (late.changed, late.status)
    assert "already approved by UALICE" in late.message


def test_twenty_concurrent_approvals_apply_exactly_once(sessions: sessionmaker[Session]) -> None:
    """20 threads approving one proposal at once: one wins, 19 are told who won, one audit row."""
    fix_id = _new(sessions)
    barrier = threading.Barrier(20)
    results = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def approve_as(user: str) -> None:
        try:
            barrier.wait()
            with sessions.begin() as session:
                outcome = approve(session, fix_id, actor=user)
            with lock:
                results.append(outcome)
        except BaseException as exc:  # pragma: no cover - surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=approve_as, args=(f"U{i:02d}",)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [] == errors
    winners = [r for r in results if r.changed]
    assert 1 == len(winners)
    with sessions() as session:
        approver = get_proposal(session, fix_id).approver
        audit_rows = session.scalar(
            select(func.count()).where(AuditEvent.fix_id == fix_id, AuditEvent.action == "approved")
        )
    assert 1 == audit_rows
    assert all(f"already approved by {approver}" in r.message for r in results if not r.changed)
    assert 19 == sum(1 for r in results if not r.changed)


def test_transition_sets_extra_columns_in_the_same_update(sessions: sessionmaker[Session]) -> None:
    """Values passed with a transition are written atomically with the new status."""
    fix_id = _new(sessions, S.APPLYING)
    with sessions.begin() as session:
        transition(session, fix_id, S.PUSHED, actor="pipeline", values={"commit_sha": "abc123"})
    with sessions() as session:
        proposal = session.scalars(select(Proposal).where(Proposal.fix_id == fix_id)).one()
        assert ("pushed", "abc123") == (proposal.status, proposal.commit_sha)
