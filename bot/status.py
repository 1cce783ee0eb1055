"""`status`: what a human must know to trust the bot — and what to do when something is wrong.

Gathers the apply circuit breaker, log-source health, proposals waiting to be posted, recent Slack
API errors and whether anyone is allowed to approve. Pure apart from the queries on the session
it is given.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from bot.render.views import StatusReport
from core.settings import Settings
from core.store.models import SourceCursor, utcnow
from core.store.overview import proposal_counts, recent_post_errors, source_cursors, unposted_count
from fixes.apply import breaker
from fixes.validation import validation_status

__all__ = [
    "Breaker",
    "ErrorLog",
    "PipelineBreaker",
    "breaker_health",
    "gather_status",
    "missing_approvers",
    "validation_health",
]


class Breaker(Protocol):
    """The apply circuit breaker: after repeated failures applies pause until a human resumes."""

    def state(self) -> tuple[bool, str]:
        """(is_open, reason)."""
        ...

    def reset(self, actor: str) -> None: ...


class PipelineBreaker:
    """The pipeline's per-service breakers (`fixes.apply.breaker`) seen as one: open if any service's is.

    The pipeline trips a service's breaker after `apply.breaker_threshold` consecutive failed
    applies; `reset` (the `resume` command) closes every open one, audited with the actor.
    """

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self._sessions = sessions
        self._settings = settings

    def state(self) -> tuple[bool, str]:
        threshold = self._settings.apply.breaker_threshold
        with self._sessions() as session:
            statuses = [
                breaker.breaker_status(session, service.name, threshold)
                for service in self._settings.services
            ]
        reasons = [
            f"{status.consecutive_failures} consecutive failed applies of {status.service}"
            for status in statuses
            if status.open
        ]
        return bool(reasons), "; ".join(reasons)

    def reset(self, actor: str) -> None:
        with self._sessions.begin() as session:
            breaker.resume(session, actor=actor, threshold=self._settings.apply.breaker_threshold)


class ErrorLog:
    """Recent errors (Slack API and worker crashes), newest last, bounded; thread-safe."""

    def __init__(self, size: int = 20) -> None:
        self._lines: deque[str] = deque(maxlen=size)
        self._lock = threading.Lock()
        self._permanent: dict[str, str] = {}

    def record(self, line: str, *, permanent_key: str | None = None) -> None:
        stamped = f"{utcnow():%H:%M:%S} {line}"
        with self._lock:
            self._lines.append(stamped)
            if permanent_key is not None:
                self._permanent[permanent_key] = line

    def clear_permanent(self, key: str) -> None:
        with self._lock:
            self._permanent.pop(key, None)

    def recent(self) -> list[str]:
        with self._lock:
            return list(self._lines)

    def permanent(self) -> list[str]:
        """Errors that will not go away by retrying (e.g. not_in_channel), until cleared."""
        with self._lock:
            return list(self._permanent.values())


def breaker_health(breaker: Breaker) -> str:
    """For `/health`: an open breaker is reported but is not unhealthy (restarting cannot fix it)."""
    is_open, reason = breaker.state()
    return f"ok (applies paused: {reason}; an approver can say `resume`)" if is_open else "ok"


def validation_health(settings: Settings) -> str:
    """For `/health`: the sandbox level in force; problems are reported, not unhealthy (a restart
    cannot install an interpreter), except a strict sandbox that cannot isolate here."""
    lines, problems = validation_status(settings)
    if settings.validation.sandbox == "strict" and any(
        p.startswith("validation is refused") for p in problems
    ):
        return f"error: {problems[0]}"
    return f"ok ({'; '.join([*lines[:1], *problems])})"


def missing_approvers(settings: Settings) -> list[str]:
    """Names of services nobody may approve fixes for (fail closed: nobody can implement)."""
    return [service.name for service in settings.services if not any(settings.approvers_for(service))]


def _source_line(cursor: SourceCursor, now: datetime) -> str:
    if cursor.consecutive_failures:
        return f"{cursor.service}: failing {cursor.consecutive_failures}× — {cursor.last_error[:200]}"
    if cursor.last_success_at is None:
        return f"{cursor.service}: not read yet"
    minutes = int((now - cursor.last_success_at).total_seconds() // 60)
    return f"{cursor.service}: ok, last read {minutes} min ago"


def gather_status(
    session: Session,
    settings: Settings,
    *,
    breaker_state: tuple[bool, str] = (False, ""),
    errors: ErrorLog | None,
    workers_busy: int = 0,
) -> StatusReport:
    """Collect the status report (read-only). `breaker_state` is read by the caller beforehand:
    on SQLite a second session opened inside this one would wait for it forever."""
    now = utcnow()
    counts = proposal_counts(session)
    pending = unposted_count(session)
    post_errors = recent_post_errors(session)
    cursors = {c.service: c for c in source_cursors(session)}
    sources = [_source_line(c, now) for c in cursors.values()]
    # Configured services that were never scanned still deserve a line: silence is not health.
    sources.extend(
        f"{service.name}: {service.source} — not scanned yet"
        for service in settings.services
        if service.name not in cursors
    )
    breaker_open, breaker_reason = breaker_state

    problems: list[str] = []
    unapproved = missing_approvers(settings)
    if unapproved:
        problems.append(
            f"nobody can implement fixes for {', '.join(unapproved)}: no approvers configured "
            "(set slack.approvers or the service's approvers in agent.toml)"
        )
    if breaker_open:
        problems.append(f"applies are paused: {breaker_reason}; an approver can say `resume`")
    permanent = errors.permanent() if errors is not None else []
    problems.extend(permanent)
    validation_lines, validation_problems = validation_status(settings)
    problems.extend(validation_problems)
    return StatusReport(
        approvers_configured=not unapproved and bool(settings.services or settings.slack.approvers),
        breaker_open=breaker_open,
        breaker_reason=breaker_reason,
        pending_posts=pending,
        post_errors=tuple(f"{fix_id}: {error}" for fix_id, error in post_errors),
        slack_errors=tuple(errors.recent()[-5:] if errors is not None else ()),
        sources=tuple(sources),
        counts=counts,
        workers_busy=workers_busy,
        problems=tuple(problems),
        validation=tuple(validation_lines),
    )
