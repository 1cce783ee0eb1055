"""Verification of a deployed fix: the pure rule, then the database edge on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.store.lifecycle import IllegalTransition
from core.store.models import AuditEvent, Incident
from core.store.proposals import create_proposal, get_proposal
from fixes.verification import (
    IncidentSnapshot,
    VerificationState,
    check_verification,
    due_verifications,
    verify_fix,
)
from tests.fixes.deployed import DEPLOYED, WINDOW, deployed_fix


def _verify(now_after: float, *, seen_after: float | None, count_before: int = 5, count_now: int = 6):
    last_seen = DEPLOYED + timedelta(seconds=seen_after) if seen_after is not None else DEPLOYED
    return verify_fix(
        fingerprint="fp-1",
        deployed_at=DEPLOYED,
        window_seconds=WINDOW,
        now=DEPLOYED + timedelta(seconds=now_after),
        at_deploy=IncidentSnapshot(count_before, DEPLOYED - timedelta(minutes=5)),
        current=IncidentSnapshot(count_now, last_seen),
    )


def test_recurrence_after_the_grace_period_is_unresolved() -> None:
    """A new sighting five minutes after the deploy ends verification early as unresolved."""
    result = _verify(600, seen_after=300, count_before=5, count_now=8)

    assert (VerificationState.UNRESOLVED, 3) == (result.state, result.recurrences)
    assert "did not resolve" in result.detail


def test_sighting_within_the_grace_period_is_ignored() -> None:
    """The old deployment draining for 30 s after the switch does not count as a recurrence."""
    result = _verify(600, seen_after=30)

    assert VerificationState.PENDING == result.state


def test_later_last_seen_without_a_higher_count_is_not_a_recurrence() -> None:
    """last_seen moving without the count growing (e.g. a rescan) is not a new occurrence."""
    result = _verify(WINDOW, seen_after=300, count_before=5, count_now=5)

    assert VerificationState.VERIFIED == result.state


def test_quiet_window_is_verified() -> None:
    """No recurrence for the whole window verifies the fix."""
    result = _verify(WINDOW, seen_after=None, count_now=5)

    assert (VerificationState.VERIFIED, DEPLOYED + timedelta(seconds=WINDOW)) == (
        result.state,
        result.window_ends,
    )
    assert "30m" in result.detail


def test_without_an_incident_the_window_alone_decides() -> None:
    """A fix with no linked incident is pending during the window and verified after it."""
    common = {"fingerprint": "", "deployed_at": DEPLOYED, "window_seconds": WINDOW, "at_deploy": None}
    during = verify_fix(now=DEPLOYED + timedelta(seconds=10), current=None, **common)  # type: ignore[arg-type]
    after = verify_fix(now=DEPLOYED + timedelta(seconds=WINDOW), current=None, **common)  # type: ignore[arg-type]

    assert (VerificationState.PENDING, VerificationState.VERIFIED) == (during.state, after.state)


@given(
    now_after=st.floats(0, 10 * WINDOW),
    seen_after=st.one_of(st.none(), st.floats(-WINDOW, 10 * WINDOW)),
    extra=st.integers(0, 50),
)
def test_state_is_always_consistent(now_after: float, seen_after: float | None, extra: int) -> None:
    """Unresolved iff a higher count was seen after the grace period; else verified iff the window passed."""
    result = _verify(now_after, seen_after=seen_after, count_before=5, count_now=5 + extra)

    recurred = seen_after is not None and seen_after > 60 and extra > 0
    if recurred:
        expected = VerificationState.UNRESOLVED
    elif now_after >= WINDOW:
        expected = VerificationState.VERIFIED
    else:
        expected = VerificationState.PENDING
    assert expected == result.state


# --- database edge ---------------------------------------------------------------------------


def test_recurrence_marks_the_fix_unresolved(sessions: sessionmaker[Session]) -> None:
    """The incident recurring after the deploy moves deployed → unresolved and reopens the incident."""
    with sessions.begin() as session:
        fix_id, incident_id = deployed_fix(session)
    with sessions.begin() as session:
        incident = session.get_one(Incident, incident_id)
        incident.count, incident.last_seen = 7, DEPLOYED + timedelta(minutes=5)

    with sessions.begin() as session:
        result = check_verification(
            session, fix_id, window_seconds=WINDOW, now=DEPLOYED + timedelta(minutes=6)
        )

    assert (VerificationState.UNRESOLVED, 2) == (result.state, result.recurrences)
    with sessions.begin() as session:
        proposal = get_proposal(session, fix_id)
        assert ("unresolved", "unresolved") == (proposal.status, proposal.outcome)
        assert "open" == session.get_one(Incident, incident_id).status
        event = session.scalars(select(AuditEvent).where(AuditEvent.to_status == "unresolved")).one()
        assert ("verifier", 2) == (event.actor, event.detail["recurrences"])


def test_quiet_window_marks_the_fix_verified(sessions: sessionmaker[Session]) -> None:
    """No recurrence until verify_until moves deployed → verified and resolves the incident."""
    with sessions.begin() as session:
        fix_id, incident_id = deployed_fix(session)
    end = DEPLOYED + timedelta(seconds=WINDOW)

    with sessions.begin() as session:
        pending = check_verification(session, fix_id, window_seconds=WINDOW, now=end - timedelta(seconds=1))
    with sessions.begin() as session:
        assert [fix_id] == due_verifications(session)
    with sessions.begin() as session:
        verified = check_verification(session, fix_id, window_seconds=WINDOW, now=end)

    assert (VerificationState.PENDING, VerificationState.VERIFIED) == (pending.state, verified.state)
    with sessions.begin() as session:
        proposal = get_proposal(session, fix_id)
        incident = session.get_one(Incident, incident_id)
        assert ("verified", "verified") == (proposal.status, proposal.outcome)
        assert ("resolved", end) == (incident.status, incident.resolved_at)
        assert [] == due_verifications(session)


def test_verifying_a_fix_that_is_not_deployed_is_refused(sessions: sessionmaker[Session]) -> None:
    """Only deployed fixes can be verified; the error names the current status."""
    with sessions.begin() as session:
        fix_id = create_proposal(session, service="api").fix_id

    with sessions.begin() as session, pytest.raises(IllegalTransition, match="proposed"):
        check_verification(session, fix_id, window_seconds=WINDOW)


def test_only_the_instance_that_records_the_decision_announces_it(sessions: sessionmaker[Session]) -> None:
    """With a stale view of a fix another instance just verified, the second call records nothing."""
    with sessions.begin() as session:
        fix_id, _ = deployed_fix(session)
    end = DEPLOYED + timedelta(seconds=WINDOW)
    late = sessions()
    stale = get_proposal(late, fix_id)  # loaded before the other instance acts, and kept loaded
    late.commit()  # the object keeps its (now stale) attributes: expire_on_commit is off

    with sessions.begin() as session:
        first = check_verification(session, fix_id, window_seconds=WINDOW, now=end)
    with late.begin():
        second = check_verification(late, fix_id, window_seconds=WINDOW, now=end)
    late.close()

    assert "deployed" == stale.status
    assert (True, False) == (first.recorded, second.recorded)
    with sessions() as session:
        decisions = session.scalars(select(AuditEvent).where(AuditEvent.to_status == "verified")).all()
    assert 1 == len(decisions)
