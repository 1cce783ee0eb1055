"""Incidents: upsert by fingerprint, snooze, resolve after a deployed fix, reopen as a regression.

Services take a `Session` and never commit; the caller owns the transaction. The anomaly passed in
is duck-typed (`monitoring.detect.Anomaly` fits) so this module imports nothing outside `core.store`.

Proposal rules (`IncidentChange.should_propose`):
- a new incident is proposed;
- an open incident already proposed, a snoozed one (until its snooze ends), and one whose fix is
  in flight (`fixing`) are not proposed again;
- an open incident never proposed (no LLM at the time, or posting failed) is proposed once the
  cooldown since its last attempt has passed;
- a resolved incident (its fix deployed) seen again after `resolved_at` is reopened, flagged as a
  regression and proposed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.store.models import Incident

__all__ = [
    "MAX_SAMPLES",
    "AnomalyLike",
    "IncidentChange",
    "get_incident",
    "list_incidents",
    "mark_fix_deployed",
    "mark_fixing",
    "mark_proposed",
    "snooze_incident",
    "upsert_incident",
]

MAX_SAMPLES = 5
_SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
# A later, stronger reading of the same incident replaces the kind (a new error that repeats).
_KIND_RANK = {"unusual": 0, "performance": 1, "new_error": 2, "alert": 3, "error_pattern": 4}


class AnomalyLike(Protocol):
    """What an upsert reads from an anomaly (`monitoring.detect.Anomaly` has all of it)."""

    @property
    def kind(self) -> str: ...
    @property
    def fingerprint(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def count(self) -> int: ...
    @property
    def template(self) -> str: ...
    @property
    def first_seen(self) -> datetime: ...
    @property
    def last_seen(self) -> datetime: ...
    @property
    def samples(self) -> Sequence[str]: ...
    @property
    def title(self) -> str: ...

    def details(self, source: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class IncidentChange:
    """What an upsert did. `should_propose` tells the caller to analyse and post it."""

    incident: Incident
    created: bool
    reopened: bool
    should_propose: bool


def get_incident(session: Session, incident_id: int) -> Incident | None:
    """The incident with this id, or None."""
    return session.get(Incident, incident_id)


def list_incidents(
    session: Session, *, service: str | None = None, statuses: Sequence[str] | None = None
) -> list[Incident]:
    """Incidents, most recently seen first."""
    query = select(Incident).order_by(Incident.last_seen.desc(), Incident.id.desc())
    if service is not None:
        query = query.where(Incident.service == service)
    if statuses:
        query = query.where(Incident.status.in_(list(statuses)))
    return list(session.scalars(query))


def _merge_samples(old: Sequence[str], new: Sequence[str]) -> list[str]:
    merged = list(old)
    for sample in new:
        if sample not in merged:
            merged.append(sample)
    # Keep the newest few: they describe the incident as it is now.
    return merged[-MAX_SAMPLES:]


def upsert_incident(
    session: Session,
    service: str,
    anomaly: AnomalyLike,
    *,
    source: str,
    now: datetime,
    cooldown_seconds: float,
) -> IncidentChange:
    """Create or update the incident of `anomaly.fingerprint` in `service`; see the module rules."""
    incident = session.scalars(
        select(Incident).where(Incident.service == service, Incident.fingerprint == anomaly.fingerprint)
    ).one_or_none()
    details = anomaly.details(source)
    if incident is None:
        incident = Incident(
            service=service,
            fingerprint=anomaly.fingerprint,
            kind=anomaly.kind,
            severity=anomaly.severity,
            title=anomaly.title or anomaly.template,
            status="open",
            count=anomaly.count,
            first_seen=anomaly.first_seen,
            last_seen=anomaly.last_seen,
            samples=list(anomaly.samples)[:MAX_SAMPLES],
            details=details,
        )
        session.add(incident)
        session.flush()
        return IncidentChange(incident, created=True, reopened=False, should_propose=True)

    incident.count += anomaly.count
    incident.first_seen = min(incident.first_seen, anomaly.first_seen)
    incident.last_seen = max(incident.last_seen, anomaly.last_seen)
    incident.samples = _merge_samples(incident.samples or [], anomaly.samples)
    incident.details = details
    if _KIND_RANK.get(anomaly.kind, 0) > _KIND_RANK.get(incident.kind, 0):
        incident.kind = anomaly.kind
    if _SEVERITY_RANK.get(anomaly.severity, 0) > _SEVERITY_RANK.get(incident.severity, 0):
        incident.severity = anomaly.severity

    reopened = should_propose = False
    cooldown = timedelta(seconds=cooldown_seconds)
    if incident.status == "resolved":
        if incident.resolved_at is not None and anomaly.last_seen > incident.resolved_at:
            incident.status = "open"
            incident.regression = True
            incident.snoozed_until = None
            reopened = should_propose = True
    elif incident.status == "snoozed":
        if incident.snoozed_until is not None and incident.snoozed_until <= now:
            incident.status = "open"
            incident.snoozed_until = None
            should_propose = incident.last_proposed_at is None or now - incident.last_proposed_at >= cooldown
    elif incident.status == "open":
        should_propose = incident.last_proposed_at is None and now - incident.created_at >= cooldown
    session.flush()
    return IncidentChange(incident, created=False, reopened=reopened, should_propose=should_propose)


def mark_proposed(session: Session, incident: Incident, now: datetime) -> None:
    """Record that a proposal (or report) was made for the incident."""
    incident.last_proposed_at = now
    session.flush()


def snooze_incident(session: Session, incident: Incident, until: datetime) -> None:
    """Do not propose this incident again before `until`."""
    incident.status = "snoozed"
    incident.snoozed_until = until
    session.flush()


def mark_fixing(session: Session, incident: Incident) -> None:
    """A fix for the incident is being applied or deployed: no new proposal meanwhile."""
    incident.status = "fixing"
    session.flush()


def mark_fix_deployed(session: Session, incident: Incident, at: datetime) -> None:
    """The fix is live from `at`: a sighting after that reopens the incident as a regression."""
    incident.status = "resolved"
    incident.resolved_at = at
    session.flush()
