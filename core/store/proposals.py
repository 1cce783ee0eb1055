"""Creating and finding proposals. Fix ids are `fix_YYYYMMDD_HHMMSS` in UTC.

Two proposals created in the same second get `fix_…_HHMMSS` and `fix_…_HHMMSS_2`: the unique
constraint on `fix_id` decides, inside a savepoint, so concurrent creators never collide.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.store.lifecycle import ProposalNotFound, ProposalStatus, audit
from core.store.models import AuditEvent, Incident, Proposal, utcnow

__all__ = [
    "FIX_ID_PATTERN",
    "all_proposals",
    "approver_of",
    "audit_trail",
    "create_proposal",
    "fix_for_thread",
    "fix_id_for",
    "get_proposal",
    "incident_of",
    "list_proposals",
    "pushed_without_deploy_status",
    "service_of",
    "status_of",
    "waiting_since_before",
]

FIX_ID_PATTERN = re.compile(r"fix_\d{8}_\d{6}(?:_\d+)?")

_MAX_SAME_SECOND = 1000


def fix_id_for(moment: datetime, sequence: int = 1) -> str:
    """The fix id for `moment` (UTC); `sequence` > 1 disambiguates within one second."""
    m = moment.astimezone(UTC)
    # Explicit widths: strftime does not zero-pad years before 1000.
    base = f"fix_{m.year:04d}{m.month:02d}{m.day:02d}_{m.hour:02d}{m.minute:02d}{m.second:02d}"
    return base if sequence == 1 else f"{base}_{sequence}"


def create_proposal(
    session: Session, *, service: str, actor: str = "scanner", now: datetime | None = None, **fields: Any
) -> Proposal:
    """Insert a new proposal with a fresh fix id and an audit row; returns it (flushed, not committed)."""
    moment = now or utcnow()
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    for sequence in range(1, _MAX_SAME_SECOND + 1):
        candidate = fix_id_for(moment, sequence)
        if session.scalar(select(Proposal.id).where(Proposal.fix_id == candidate)) is not None:
            continue
        proposal = Proposal(fix_id=candidate, service=service, **fields)
        try:
            with session.begin_nested():
                session.add(proposal)
                session.flush()
        except IntegrityError:
            # Another transaction took this id between our check and our insert.
            continue
        audit(
            session,
            actor=actor,
            action="proposed",
            fix_id=candidate,
            incident_id=proposal.incident_id,
            to_status=proposal.status,
            detail={"origin": proposal.origin, "content_hash": proposal.content_hash},
        )
        return proposal
    raise RuntimeError(f"more than {_MAX_SAME_SECOND} proposals in one second; refusing to continue")


def get_proposal(session: Session, fix_id: str) -> Proposal:
    """The proposal `fix_id`; raises `ProposalNotFound`."""
    proposal = session.scalar(select(Proposal).where(Proposal.fix_id == fix_id))
    if proposal is None:
        raise ProposalNotFound(fix_id)
    return proposal


def list_proposals(
    session: Session, *, statuses: Sequence[str] | None = None, service: str | None = None, limit: int = 50
) -> list[Proposal]:
    """Newest first, optionally filtered by status and service."""
    query = select(Proposal).order_by(Proposal.created_at.desc(), Proposal.id.desc()).limit(limit)
    if statuses:
        query = query.where(Proposal.status.in_(list(statuses)))
    if service:
        query = query.where(Proposal.service == service)
    return list(session.scalars(query))


def service_of(session: Session, fix_id: str) -> str | None:
    """The service `fix_id` belongs to, or None when there is no such proposal."""
    return session.scalar(select(Proposal.service).where(Proposal.fix_id == fix_id))


def approver_of(session: Session, fix_id: str) -> str | None:
    return session.scalar(select(Proposal.approver).where(Proposal.fix_id == fix_id))


def incident_of(session: Session, fix_id: str) -> Incident | None:
    """The incident `fix_id` was proposed for (None for manual proposals or an unknown fix id)."""
    incident_id = session.scalar(select(Proposal.incident_id).where(Proposal.fix_id == fix_id))
    return session.get(Incident, incident_id) if incident_id else None


def fix_for_thread(session: Session, channel: str, thread_ts: str) -> str | None:
    """The fix id whose proposal message starts the thread `thread_ts` in `channel`."""
    return session.scalar(
        select(Proposal.fix_id).where(Proposal.slack_channel == channel, Proposal.slack_ts == thread_ts)
    )


def pushed_without_deploy_status(session: Session) -> list[str]:
    """Pushed fixes whose deploy nobody followed to an end (the bot restarted while watching)."""
    return list(
        session.scalars(
            select(Proposal.fix_id).where(
                Proposal.status == ProposalStatus.PUSHED.value, Proposal.deploy_status == ""
            )
        )
    )


def status_of(session: Session, fix_id: str) -> str | None:
    return session.scalar(select(Proposal.status).where(Proposal.fix_id == fix_id))


def all_proposals(session: Session) -> list[Proposal]:
    """Every proposal, oldest first (the terminal chat shows what is new since it started)."""
    return list(session.scalars(select(Proposal).order_by(Proposal.id)))


def waiting_since_before(session: Session, statuses: Sequence[str], cutoff: datetime) -> list[str]:
    """Fix ids in `statuses` created before `cutoff` (candidates for expiry)."""
    return list(
        session.scalars(
            select(Proposal.fix_id).where(Proposal.status.in_(list(statuses)), Proposal.created_at < cutoff)
        )
    )


def audit_trail(session: Session, fix_id: str) -> list[AuditEvent]:
    """Every audit row of `fix_id`, oldest first: who did what, when, with which evidence."""
    return list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.fix_id == fix_id).order_by(AuditEvent.at, AuditEvent.id)
        )
    )
