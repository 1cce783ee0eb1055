"""A fix that is deployed and waiting for verification, for the verification and jobs tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from core.store.models import Incident
from core.store.proposals import create_proposal
from fixes.deploy_watch import DeployOutcome, DeployStatus, decide_after_deploy, record_deploy_outcome

__all__ = ["DEPLOYED", "WINDOW", "deployed_fix"]

DEPLOYED = datetime(2026, 10, 20, 8, 0, tzinfo=UTC)
WINDOW = 1800.0


def deployed_fix(session: Session, fingerprint: str = "fp-keyerror") -> tuple[str, int]:
    """An incident seen 5 times and its fix, deployed at DEPLOYED with a WINDOW verification window.

    Returns (fix id, incident id).
    """
    incident = Incident(
        service="api",
        fingerprint=fingerprint,
        kind="error_pattern",
        severity="high",
        title="KeyError in discount_percent",
        count=5,
        first_seen=DEPLOYED - timedelta(hours=6),
        last_seen=DEPLOYED - timedelta(minutes=10),
        status="fixing",
    )
    session.add(incident)
    session.flush()
    proposal = create_proposal(
        session, service="api", incident_id=incident.id, status="pushed", commit_sha="3f2c1ab9d4e5f607"
    )
    outcome = DeployOutcome(DeployStatus.SUCCESS, "d-9", "live")
    record_deploy_outcome(
        session,
        proposal.fix_id,
        outcome,
        decide_after_deploy(outcome, False),
        verify_window_seconds=WINDOW,
        now=DEPLOYED,
    )
    return proposal.fix_id, incident.id
