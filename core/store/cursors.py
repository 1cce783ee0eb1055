"""Source cursors (how far each service's logs were read), failure backoff, and scan leases.

Services take a `Session` and never commit. `source_health` is what `agent status` shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.store.models import Lease, SourceCursor

__all__ = [
    "MAX_BACKOFF_SECONDS",
    "SourceHealth",
    "acquire_lease",
    "backoff_seconds",
    "get_cursor",
    "record_failure",
    "record_success",
    "release_lease",
    "source_health",
]

MAX_BACKOFF_SECONDS = 3600.0


@dataclass(frozen=True)
class SourceHealth:
    """One row of `agent status`: a service's log source and how it has been doing."""

    service: str
    source: str
    ok: bool
    last_success_at: datetime | None
    last_error: str
    consecutive_failures: int
    next_attempt_at: datetime | None


def get_cursor(session: Session, service: str, source: str) -> SourceCursor:
    """The cursor row of `service` (created empty). A changed source spec starts from scratch."""
    row = session.get(SourceCursor, service)
    if row is None:
        row = SourceCursor(service=service, source=source, cursor={})
        session.add(row)
        session.flush()
    elif row.source != source:
        row.source = source
        row.cursor = {}
        row.consecutive_failures = 0
        row.last_error = ""
        row.next_attempt_at = None
        session.flush()
    return row


def backoff_seconds(failures: int, base_seconds: float) -> float:
    """Exponential backoff after `failures` consecutive failures, capped at an hour."""
    return float(min(base_seconds * (2 ** max(failures - 1, 0)), MAX_BACKOFF_SECONDS))


def record_success(session: Session, row: SourceCursor, cursor: dict[str, Any], now: datetime) -> None:
    """Store the new cursor and clear the failure state."""
    row.cursor = dict(cursor)
    row.last_success_at = now
    row.last_error = ""
    row.consecutive_failures = 0
    row.next_attempt_at = None
    session.flush()


def record_failure(
    session: Session, row: SourceCursor, error: str, now: datetime, *, base_seconds: float = 60.0
) -> None:
    """Keep the cursor; remember the error and when to try again (exponential backoff)."""
    row.consecutive_failures += 1
    row.last_error = error[:2000]
    row.next_attempt_at = now + timedelta(seconds=backoff_seconds(row.consecutive_failures, base_seconds))
    session.flush()


def source_health(session: Session) -> list[SourceHealth]:
    """Every known source with its last success, last error and next attempt, by service name."""
    rows = session.scalars(select(SourceCursor).order_by(SourceCursor.service))
    return [
        SourceHealth(
            service=row.service,
            source=row.source,
            ok=row.consecutive_failures == 0,
            last_success_at=row.last_success_at,
            last_error=row.last_error,
            consecutive_failures=row.consecutive_failures,
            next_attempt_at=row.next_attempt_at,
        )
        for row in rows
    ]


def acquire_lease(session: Session, name: str, owner: str, *, now: datetime, ttl_seconds: float) -> bool:
    """Take or renew the lease `name` for `owner` until now+ttl; False when another owner holds it.

    Race-safe: the takeover is one conditional UPDATE (expired, or already ours), and a first
    INSERT that loses to a concurrent one is caught as an IntegrityError inside a savepoint.
    """
    expires = now + timedelta(seconds=ttl_seconds)
    result = session.execute(
        update(Lease)
        .where(Lease.name == name, (Lease.owner == owner) | (Lease.expires_at < now))
        .values(owner=owner, expires_at=expires)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) == 1:
        return True
    if session.get(Lease, name) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(Lease(name=name, owner=owner, expires_at=expires))
    except IntegrityError:
        return False
    return True


def release_lease(session: Session, name: str, owner: str) -> None:
    """Give the lease back (only if `owner` holds it)."""
    session.execute(delete(Lease).where(Lease.name == name, Lease.owner == owner))
