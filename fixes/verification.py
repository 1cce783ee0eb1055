"""Did the deployed fix make its incident stop? Watch the fingerprint for a window after the deploy.

`verify_fix` is the pure rule: the incident recurred after the deploy (past a short grace period
for the old deployment still draining) → unresolved; the window passed without a recurrence →
verified; otherwise pending. `check_verification` is the database edge: it reads the proposal, the
incident and the deploy evidence recorded by `fixes.deploy_watch.record_deploy_outcome`, and applies
deployed → verified | unresolved with `Proposal.outcome` set for the learning step. It raises only
the lifecycle's errors (`ProposalNotFound`, `IllegalTransition`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.store.lifecycle import IllegalTransition, ProposalStatus, transition
from core.store.models import AuditEvent, Incident, Proposal, utcnow
from core.store.proposals import get_proposal

__all__ = [
    "DEFAULT_GRACE_SECONDS",
    "IncidentSnapshot",
    "VerificationResult",
    "VerificationState",
    "check_verification",
    "due_verifications",
    "verify_fix",
]

# Railway keeps the old deployment running until the new one is healthy, then SIGTERMs it after
# `drainingSeconds`: errors logged by the old code in that minute are not a recurrence.
DEFAULT_GRACE_SECONDS = 60.0


class VerificationState(StrEnum):
    VERIFIED = "verified"
    UNRESOLVED = "unresolved"
    PENDING = "pending"


@dataclass(frozen=True)
class IncidentSnapshot:
    """The incident's occurrence count and last sighting at one moment."""

    count: int
    last_seen: datetime | None


@dataclass(frozen=True)
class VerificationResult:
    state: VerificationState
    fingerprint: str
    recurrences: int
    window_ends: datetime
    detail: str
    # True only for the call that recorded the decision: when two instances overlap during a
    # deploy, the one whose conditional update lost must not announce it a second time.
    recorded: bool = False


def verify_fix(
    *,
    fingerprint: str,
    deployed_at: datetime,
    window_seconds: float,
    now: datetime,
    at_deploy: IncidentSnapshot | None,
    current: IncidentSnapshot | None,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
) -> VerificationResult:
    """Decide whether the fix deployed at `deployed_at` resolved the incident `fingerprint`.

    Args:
        at_deploy: the incident when the deploy succeeded (None: unknown, then any sighting after
            the grace period counts).
        current: the incident now (None: the fix has no incident to watch).

    A recurrence ends verification early (unresolved); otherwise the result is pending until
    `deployed_at + window_seconds`, then verified.
    """
    window_ends = deployed_at + timedelta(seconds=window_seconds)
    if current is not None and current.last_seen is not None:
        after_grace = current.last_seen > deployed_at + timedelta(seconds=grace_seconds)
        more = at_deploy is None or current.count > at_deploy.count
        if after_grace and more:
            recurrences = current.count - at_deploy.count if at_deploy is not None else 1
            return VerificationResult(
                VerificationState.UNRESOLVED,
                fingerprint,
                recurrences,
                window_ends,
                f"incident {fingerprint} recurred {recurrences} time(s) after the deploy "
                f"(last at {current.last_seen:%Y-%m-%d %H:%M:%S} UTC): the fix did not resolve it",
            )
    if now >= window_ends:
        watched = f"incident {fingerprint}" if current is not None else "nothing (no incident linked)"
        return VerificationResult(
            VerificationState.VERIFIED,
            fingerprint,
            0,
            window_ends,
            f"{watched} did not recur within {_duration(window_seconds)} of the deploy: verified",
        )
    return VerificationResult(
        VerificationState.PENDING,
        fingerprint,
        0,
        window_ends,
        f"no recurrence of incident {fingerprint} so far; watching until {window_ends:%H:%M:%S} UTC",
    )


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


def due_verifications(session: Session, *, service: str | None = None) -> list[str]:
    """Fix ids of deployed proposals still being verified, oldest first."""
    query = select(Proposal.fix_id).where(Proposal.status == ProposalStatus.DEPLOYED.value)
    if service:
        query = query.where(Proposal.service == service)
    return list(session.scalars(query.order_by(Proposal.updated_at, Proposal.id)))


def _deploy_evidence(session: Session, fix_id: str) -> AuditEvent | None:
    return session.scalar(
        select(AuditEvent)
        .where(AuditEvent.fix_id == fix_id, AuditEvent.to_status == ProposalStatus.DEPLOYED.value)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(1)
    )


def check_verification(
    session: Session,
    fix_id: str,
    *,
    window_seconds: float,
    now: datetime | None = None,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    actor: str = "verifier",
) -> VerificationResult:
    """Evaluate a deployed fix and record verified/unresolved; pending changes nothing.

    The window ends at `Proposal.verify_until` when set (recorded at deploy), else
    `window_seconds` after the deploy. Verified marks the incident resolved; unresolved reopens it.

    Raises:
        ProposalNotFound; IllegalTransition when the proposal is not deployed.
    """
    moment = now or utcnow()
    proposal = get_proposal(session, fix_id)
    if proposal.status != ProposalStatus.DEPLOYED.value:
        raise IllegalTransition(fix_id, ProposalStatus(proposal.status), ProposalStatus.VERIFIED)

    evidence = _deploy_evidence(session, fix_id)
    detail: dict[str, Any] = dict(evidence.detail) if evidence is not None else {}
    deployed_at = _deployed_at(detail, evidence, proposal)
    if proposal.verify_until is not None:
        window_seconds = max((proposal.verify_until - deployed_at).total_seconds(), 0.0)

    incident = session.get(Incident, proposal.incident_id) if proposal.incident_id is not None else None
    at_deploy = None
    if "incident_count" in detail:
        last = detail.get("incident_last_seen")
        at_deploy = IncidentSnapshot(
            int(detail["incident_count"]), datetime.fromisoformat(last) if last else None
        )
    current = IncidentSnapshot(incident.count, incident.last_seen) if incident is not None else None
    result = verify_fix(
        fingerprint=incident.fingerprint if incident is not None else "",
        deployed_at=deployed_at,
        window_seconds=window_seconds,
        now=moment,
        at_deploy=at_deploy,
        current=current,
        grace_seconds=grace_seconds,
    )
    if result.state is VerificationState.PENDING:
        return result

    target = (
        ProposalStatus.VERIFIED if result.state is VerificationState.VERIFIED else ProposalStatus.UNRESOLVED
    )
    outcome = transition(
        session,
        fix_id,
        target,
        actor=actor,
        expected=(ProposalStatus.DEPLOYED,),
        evidence={
            "fingerprint": result.fingerprint,
            "recurrences": result.recurrences,
            "window_ends": result.window_ends.isoformat(),
            "detail": result.detail,
        },
        values={"outcome": result.state.value},
    )
    if not outcome.changed:
        return result
    if incident is not None:
        if result.state is VerificationState.VERIFIED:
            incident.status, incident.resolved_at = "resolved", moment
        else:
            incident.status, incident.resolved_at = "open", None
    return replace(result, recorded=True)


def _deployed_at(detail: dict[str, Any], evidence: AuditEvent | None, proposal: Proposal) -> datetime:
    raw = detail.get("deployed_at")
    if isinstance(raw, str):
        return datetime.fromisoformat(raw)
    if evidence is not None:
        return evidence.at
    return proposal.updated_at
