"""Circuit breaker: after N consecutive failed applies of a service, applies pause until `resume`.

State lives in `RuntimeState` rows named `breaker:<service>` with the value
`{"consecutive_failures": int, "open": bool, "last_fix_id": str, "opened_at": str, "resumed_by": str}`.
Functions take a `Session` and never commit; the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.store.lifecycle import audit
from core.store.models import RuntimeState, utcnow

__all__ = ["BreakerStatus", "breaker_status", "record_apply_result", "resume"]

_PREFIX = "breaker:"


@dataclass(frozen=True)
class BreakerStatus:
    service: str
    open: bool
    consecutive_failures: int
    threshold: int

    @property
    def message(self) -> str:
        if self.open:
            return (
                f"applies for {self.service} are paused after {self.consecutive_failures} consecutive "
                "failed applies; an approver can lift the pause with `resume`"
            )
        return (
            f"applies for {self.service} are running ({self.consecutive_failures}/{self.threshold} failures)"
        )


def _row(session: Session, service: str) -> RuntimeState | None:
    return session.get(RuntimeState, _PREFIX + service)


def _value(row: RuntimeState | None) -> dict[str, Any]:
    return dict(row.value) if row is not None else {}


def breaker_status(session: Session, service: str, threshold: int) -> BreakerStatus:
    """The breaker of `service`."""
    value = _value(_row(session, service))
    return BreakerStatus(
        service, bool(value.get("open")), int(value.get("consecutive_failures", 0)), threshold
    )


def record_apply_result(
    session: Session, service: str, *, ok: bool, fix_id: str, threshold: int
) -> BreakerStatus:
    """Count a failure (opening the breaker at `threshold`) or reset the count on success."""
    row = _row(session, service)
    if row is None:
        row = RuntimeState(name=_PREFIX + service, value={})
        session.add(row)
    value = _value(row)
    was_open = bool(value.get("open"))
    if ok:
        value.update(consecutive_failures=0)
    else:
        value["consecutive_failures"] = int(value.get("consecutive_failures", 0)) + 1
        value["last_fix_id"] = fix_id
        if value["consecutive_failures"] >= threshold and not was_open:
            value.update(open=True, opened_at=utcnow().isoformat())
            audit(
                session, actor="pipeline", action="breaker_open", fix_id=fix_id, detail={"service": service}
            )
    row.value = value  # a new dict, so SQLAlchemy sees the change
    session.flush()
    return breaker_status(session, service, threshold)


def resume(
    session: Session, *, actor: str, threshold: int, service: str | None = None
) -> list[BreakerStatus]:
    """Close the breaker of `service` (or of every service) and reset its count; audited."""
    query = select(RuntimeState).where(RuntimeState.name.startswith(_PREFIX))
    if service is not None:
        query = query.where(RuntimeState.name == _PREFIX + service)
    out = []
    for row in session.scalars(query):
        name = row.name[len(_PREFIX) :]
        value = _value(row)
        if value.get("open") or value.get("consecutive_failures"):
            value.update(open=False, consecutive_failures=0, resumed_by=actor)
            row.value = value
            audit(session, actor=actor, action="breaker_resume", detail={"service": name})
        out.append(BreakerStatus(name, False, 0, threshold))
    session.flush()
    return out
