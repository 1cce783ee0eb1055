"""Typed SQLAlchemy 2.0 models: incidents, proposals, audit events, cursors, dedupe keys, leases.

This module imports nothing else of `bot`, so `monitoring` and `fixes` may use it without cycles.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "AuditEvent",
    "Base",
    "Incident",
    "Lease",
    "LlmUsage",
    "ProcessedEvent",
    "Proposal",
    "PullRequest",
    "RuntimeState",
    "SourceCursor",
    "utcnow",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the only kind stored)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always UTC-aware in Python, also on SQLite (which drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use core.store.models.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class Incident(Base):
    """One problem in one service, deduplicated by fingerprint across scans."""

    __tablename__ = "incidents"
    __table_args__ = (UniqueConstraint("service", "fingerprint"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    # open | snoozed | fixing | resolved
    status: Mapped[str] = mapped_column(String(16), default="open")
    regression: Mapped[bool] = mapped_column(default=False)
    count: Mapped[int] = mapped_column(Integer, default=0)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    samples: Mapped[list[Any]] = mapped_column(default=list)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    snoozed_until: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    last_proposed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Proposal(Base):
    """A fix (or an incident report without a fix) waiting for, or past, a human decision."""

    __tablename__ = "proposals"
    __table_args__ = (Index("ix_proposals_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    fix_id: Mapped[str] = mapped_column(String(40), unique=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    service: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="proposed")
    # llm | playbook | report (no fix proposed)
    origin: Mapped[str] = mapped_column(String(16), default="llm")
    summary: Mapped[str] = mapped_column(Text, default="")
    root_cause: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str] = mapped_column(String(16), default="medium")
    confidence: Mapped[float | None] = mapped_column(Float)
    affected_components: Mapped[list[Any]] = mapped_column(default=list)
    reasoning: Mapped[str] = mapped_column(Text, default="")
    risk: Mapped[str] = mapped_column(Text, default="")
    test_suggestion: Mapped[str] = mapped_column(Text, default="")
    no_fix_reason: Mapped[str] = mapped_column(Text, default="")
    # Option 1: edits as [{"path", "search", "replace"}], their unified diff and its sha256.
    edits: Mapped[list[Any]] = mapped_column(default=list)
    diff: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    # Options 2..K, each {"summary", "edits", "diff", "content_hash", "risk", "validation_status", ...}.
    alternatives: Mapped[list[Any]] = mapped_column(default=list)
    chosen_option: Mapped[int] = mapped_column(Integer, default=1)
    base_commit: Mapped[str] = mapped_column(String(64), default="")
    branch: Mapped[str] = mapped_column(String(255), default="")
    # passed | failed | error (could not judge: no environment, sandbox refused, base does not run)
    # | skipped | not_run. "passed" means the validation really ran and nothing broke.
    validation_status: Mapped[str] = mapped_column(String(16), default="not_run")
    validation_output: Mapped[str] = mapped_column(Text, default="")
    # The apply pipeline's verdict: passed | failed | error (the run did not really happen); NULL when
    # not validated by the pipeline. `agent learn` trusts "passed" only (validation_status cannot tell
    # an error from a pass for fixes recorded before this column).
    validation_outcome: Mapped[str | None] = mapped_column(String(16))
    # "proven: `<test id>` fails on the base, passes with the fix" | "not proven: <why>" | None (no fix).
    proof: Mapped[str | None] = mapped_column(Text, nullable=True)
    token_usage: Mapped[dict[str, Any]] = mapped_column(default=dict)
    slack_channel: Mapped[str] = mapped_column(String(32), default="")
    slack_ts: Mapped[str] = mapped_column(String(32), default="")
    post_error: Mapped[str] = mapped_column(Text, default="")
    approver: Mapped[str] = mapped_column(String(64), default="")
    approved_at: Mapped[datetime | None]
    approved_hash: Mapped[str] = mapped_column(String(64), default="")
    rejected_by: Mapped[str] = mapped_column(String(64), default="")
    reject_reason: Mapped[str] = mapped_column(Text, default="")
    commit_sha: Mapped[str] = mapped_column(String(64), default="")
    revert_commit_sha: Mapped[str] = mapped_column(String(64), default="")
    deploy_id: Mapped[str] = mapped_column(String(128), default="")
    deploy_status: Mapped[str] = mapped_column(String(32), default="")
    verify_until: Mapped[datetime | None]
    failed_step: Mapped[str] = mapped_column(String(32), default="")
    failure_reason: Mapped[str] = mapped_column(Text, default="")
    # approved | rejected | deployed | verified | unresolved | reverted: input to `agent learn`.
    outcome: Mapped[str] = mapped_column(String(16), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    expires_at: Mapped[datetime | None]
    # Pull-request delivery only (fixes/delivery): the fix's PR and any revert PR, read-only here.
    # Loaded on first access (inside a session), so push-mode code pays no extra query.
    pull_requests: Mapped[list[PullRequest]] = relationship(
        viewonly=True, lazy="select", order_by="PullRequest.id"
    )

    @property
    def validation_passed(self) -> bool:
        """The validation really ran (in the target's environment) and nothing broke: what
        learning may trust. An error (nothing could be judged) is never a pass."""
        return self.validation_status == "passed"

    @property
    def proven(self) -> bool:
        """A regression test failed on the base and passes with the fix."""
        return bool(self.proof and self.proof.startswith("proven:"))

    def option(self, number: int) -> dict[str, Any]:
        """Option `number` (1-based) as {"summary", "edits", "diff", "content_hash", ...}."""
        if number == 1:
            return {
                "summary": self.summary,
                "edits": self.edits,
                "diff": self.diff,
                "content_hash": self.content_hash,
                "risk": self.risk,
                "validation_status": self.validation_status,
                "validation_output": self.validation_output,
            }
        if not 2 <= number <= len(self.alternatives) + 1:
            raise IndexError(
                f"{self.fix_id} has {len(self.alternatives) + 1} option(s); option {number} does not exist"
            )
        option: dict[str, Any] = self.alternatives[number - 2]
        return option


class AuditEvent(Base):
    """Who did what, when, with which evidence. Written in the same transaction as the change."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_fix_id", "fix_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    fix_id: Mapped[str | None] = mapped_column(String(40))
    incident_id: Mapped[int | None]
    from_status: Mapped[str] = mapped_column(String(16), default="")
    to_status: Mapped[str] = mapped_column(String(16), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class SourceCursor(Base):
    """How far a service's log source has been read, and how it has been failing."""

    __tablename__ = "source_cursors"

    service: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    cursor: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ProcessedEvent(Base):
    """A delivery already handled (Slack event_id, interaction hash): retries are recognised."""

    __tablename__ = "processed_events"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class Lease(Base):
    """A named, expiring lock held by one process (scheduled scans across overlapping deploys)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime]


class RuntimeState(Base):
    """Small named pieces of state that must survive restarts (circuit breaker, program version)."""

    __tablename__ = "runtime_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class LlmUsage(Base):
    """Tokens spent per LM call, for the hourly and daily budgets."""

    __tablename__ = "llm_usage"
    __table_args__ = (Index("ix_llm_usage_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    service: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(32))
    fix_id: Mapped[str] = mapped_column(String(40), default="")
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)


class PullRequest(Base):
    """A pull request that delivers a fix (`kind` "fix") or its revert ("revert"), as last seen.

    `head_sha` is the commit the bot validated and pushed: a merge is only ever asked for with it.
    The other state columns are what the hosting API said at the last poll (or webhook);
    `etags` keeps the validators of those reads so an unchanged poll costs a 304.
    """

    __tablename__ = "pull_requests"
    __table_args__ = (UniqueConstraint("fix_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    fix_id: Mapped[str] = mapped_column(String(40), ForeignKey("proposals.fix_id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="fix")
    service: Mapped[str] = mapped_column(String(64))
    repository: Mapped[str] = mapped_column(String(140))
    number: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(Text, default="")
    branch: Mapped[str] = mapped_column(String(255))
    base: Mapped[str] = mapped_column(String(255))
    head_sha: Mapped[str] = mapped_column(String(64))
    observed_head_sha: Mapped[str] = mapped_column(String(64), default="")
    # open | closed | merged
    state: Mapped[str] = mapped_column(String(16), default="open")
    draft: Mapped[bool] = mapped_column(default=False)
    # GitHub's mergeable_state: clean | blocked | dirty | unstable | behind | draft | unknown ...
    mergeable: Mapped[str] = mapped_column(String(16), default="unknown")
    # passing | failing | pending | none
    checks: Mapped[str] = mapped_column(String(16), default="none")
    checks_detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # approved | changes_requested | commented | none
    review: Mapped[str] = mapped_column(String(32), default="none")
    merge_commit_sha: Mapped[str] = mapped_column(String(64), default="")
    closed_by: Mapped[str] = mapped_column(String(64), default="")
    etags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    next_poll_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
