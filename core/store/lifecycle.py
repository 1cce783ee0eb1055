"""The proposal lifecycle: which status may follow which, applied atomically with an audit row.

```
proposed -> approved -> applying -> pushed -> deployed -> verified
    |           |           \\-> failed (rolled back; reason kept) -> approved (again)
    \\-> rejected | expired | superseded
pushed -> deploy_failed;  deployed -> unresolved (the incident came back)
pushed | deployed | deploy_failed | verified | unresolved -> reverting -> reverted | revert_failed
applying -> pr_open -> pushed (merged) | rejected (closed unmerged)      [delivery = "pull_request"]
reverting -> revert_pr_open -> reverted (merged) | revert_failed (closed unmerged)
```

Every change is one `UPDATE proposals SET ... WHERE fix_id = :id AND status IN (:expected)`: when two
approvals, a Slack retry and a button click race, exactly one update matches a row. The loser learns
what happened instead (`TransitionResult.changed is False`, with a message naming who won).

Services here take a `Session` and never commit: the caller owns the transaction.

Errors:
    LifecycleError
      ├── ProposalNotFound   no proposal has that fix id
      └── IllegalTransition  the proposal is in a status from which that change is not allowed
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.store.models import AuditEvent, Proposal, utcnow

__all__ = [
    "OPEN_STATUSES",
    "POSTABLE",
    "REVERTIBLE",
    "TRANSITIONS",
    "IllegalTransition",
    "LifecycleError",
    "ProposalNotFound",
    "ProposalStatus",
    "TransitionResult",
    "approve",
    "audit",
    "last_actor",
    "reject",
    "transition",
]


class ProposalStatus(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    APPLYING = "applying"
    PUSHED = "pushed"
    DEPLOYED = "deployed"
    VERIFIED = "verified"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"
    DEPLOY_FAILED = "deploy_failed"
    UNRESOLVED = "unresolved"
    REVERTING = "reverting"
    REVERTED = "reverted"
    REVERT_FAILED = "revert_failed"
    # Pull-request delivery (fixes/delivery): the change waits in an open pull request.
    PR_OPEN = "pr_open"
    REVERT_PR_OPEN = "revert_pr_open"


S = ProposalStatus

TRANSITIONS: Mapping[ProposalStatus, frozenset[ProposalStatus]] = {
    S.PROPOSED: frozenset({S.APPROVED, S.REJECTED, S.EXPIRED, S.SUPERSEDED}),
    S.APPROVED: frozenset({S.APPLYING, S.FAILED}),
    S.APPLYING: frozenset({S.PUSHED, S.FAILED, S.PR_OPEN}),
    S.PR_OPEN: frozenset({S.PUSHED, S.REJECTED}),
    S.FAILED: frozenset({S.APPROVED, S.REJECTED, S.EXPIRED, S.SUPERSEDED}),
    S.PUSHED: frozenset({S.DEPLOYED, S.DEPLOY_FAILED, S.REVERTING}),
    S.DEPLOYED: frozenset({S.VERIFIED, S.UNRESOLVED, S.REVERTING}),
    S.DEPLOY_FAILED: frozenset({S.REVERTING}),
    S.VERIFIED: frozenset({S.REVERTING}),
    S.UNRESOLVED: frozenset({S.REVERTING}),
    S.REVERTING: frozenset({S.REVERTED, S.REVERT_FAILED, S.REVERT_PR_OPEN}),
    S.REVERT_PR_OPEN: frozenset({S.REVERTED, S.REVERT_FAILED}),
    S.REVERT_FAILED: frozenset({S.REVERTING}),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
    S.SUPERSEDED: frozenset(),
    S.REVERTED: frozenset(),
}

# Named sets of states, next to the machine they describe, so no caller keeps its own copy.
# Shown by `list`: work that is not finished one way or the other.
OPEN_STATUSES: tuple[ProposalStatus, ...] = (
    S.PROPOSED,
    S.APPROVED,
    S.APPLYING,
    S.FAILED,
    S.PR_OPEN,
    S.PUSHED,
    S.DEPLOYED,
    S.DEPLOY_FAILED,
    S.REVERT_PR_OPEN,
)
# A pushed commit that `revert` may undo.
REVERTIBLE: tuple[ProposalStatus, ...] = (
    S.PUSHED,
    S.DEPLOYED,
    S.DEPLOY_FAILED,
    S.VERIFIED,
    S.UNRESOLVED,
    S.REVERT_FAILED,
)
# States whose Slack message the poster keeps current.
POSTABLE: tuple[ProposalStatus, ...] = (
    S.PROPOSED,
    S.FAILED,
    S.APPROVED,
    S.APPLYING,
    S.PR_OPEN,
    S.PUSHED,
    S.DEPLOYED,
    S.VERIFIED,
    S.REVERT_PR_OPEN,
)

_WHY_NOT: Mapping[ProposalStatus, str] = {
    S.REJECTED: "it was rejected; ask the bot for a new proposal (`scan`)",
    S.EXPIRED: "it expired; ask the bot for a new proposal (`scan`)",
    S.SUPERSEDED: "a newer proposal replaced it; see `list`",
    S.REVERTED: "it was reverted; a new fix needs a new proposal",
    S.PROPOSED: "it has not been approved yet",
}


class LifecycleError(Exception):
    """Base of the lifecycle's errors."""


class ProposalNotFound(LifecycleError):
    def __init__(self, fix_id: str) -> None:
        super().__init__(f"no proposal {fix_id!r}; `list` shows the open ones")
        self.fix_id = fix_id


class IllegalTransition(LifecycleError):
    def __init__(self, fix_id: str, current: ProposalStatus, target: ProposalStatus) -> None:
        why = _WHY_NOT.get(current, f"from {current.value} it can only go to {_allowed(current)}")
        super().__init__(f"{fix_id} cannot go from {current.value} to {target.value}: {why}")
        self.fix_id = fix_id
        self.current = current
        self.target = target


def _allowed(status: ProposalStatus) -> str:
    targets = sorted(t.value for t in TRANSITIONS[status])
    return ", ".join(targets) if targets else "nowhere (it is final)"


@dataclass(frozen=True)
class TransitionResult:
    """What happened: `changed` is False when another actor got there first."""

    fix_id: str
    changed: bool
    status: ProposalStatus
    message: str


def audit(
    session: Session,
    *,
    actor: str,
    action: str,
    fix_id: str | None = None,
    incident_id: int | None = None,
    from_status: str = "",
    to_status: str = "",
    detail: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit row to the caller's transaction."""
    event = AuditEvent(
        actor=actor,
        action=action,
        fix_id=fix_id,
        incident_id=incident_id,
        from_status=from_status,
        to_status=to_status,
        detail=dict(detail or {}),
    )
    session.add(event)
    return event


def transition(
    session: Session,
    fix_id: str,
    target: ProposalStatus,
    *,
    actor: str,
    expected: Iterable[ProposalStatus] | None = None,
    evidence: Mapping[str, Any] | None = None,
    values: Mapping[str, Any] | None = None,
) -> TransitionResult:
    """Move `fix_id` to `target` if it is in one of `expected`, in one conditional UPDATE.

    Args:
        expected: statuses the caller believes the proposal is in; default: every status from
            which `target` is legal.
        evidence: stored on the audit row (validation output, commit sha, deploy id).
        values: other proposal columns to set in the same UPDATE.

    Returns:
        `changed=True` when this call made the change; `changed=False` when the proposal was
        already in `target` (someone else won the race).

    Raises:
        ProposalNotFound, IllegalTransition.
    """
    sources = (
        frozenset(expected)
        if expected is not None
        else frozenset(s for s, targets in TRANSITIONS.items() if target in targets)
    )
    illegal = sorted(s.value for s in sources if target not in TRANSITIONS[s])
    if illegal:
        raise ValueError(f"{target.value} can never follow {', '.join(illegal)}")

    # Write first, read after: on SQLite the UPDATE takes the write lock up front, so a racing
    # reader never has to upgrade its lock (which would fail instead of waiting).
    row = session.execute(
        update(Proposal)
        .where(Proposal.fix_id == fix_id, Proposal.status.in_([s.value for s in sources]))
        .values(status=target.value, updated_at=utcnow(), **dict(values or {}))
        .returning(Proposal.id)
        .execution_options(synchronize_session=False)
    ).first()

    current_row = session.execute(
        select(Proposal.status, Proposal.approver, Proposal.incident_id).where(Proposal.fix_id == fix_id)
    ).first()
    if current_row is None:
        raise ProposalNotFound(fix_id)
    current = ProposalStatus(current_row.status)

    if row is None:
        if current == target:
            return TransitionResult(fix_id, False, current, f"{fix_id} is already {current.value}")
        raise IllegalTransition(fix_id, current, target)

    from_status = _source_of(sources, target)
    audit(
        session,
        actor=actor,
        action=target.value,
        fix_id=fix_id,
        incident_id=current_row.incident_id,
        from_status=from_status,
        to_status=target.value,
        detail=evidence,
    )
    # Objects already loaded in this session must not keep the old status.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Proposal) and obj.fix_id == fix_id:
            session.expire(obj)
    return TransitionResult(fix_id, True, target, f"{fix_id} is now {target.value}")


def _source_of(sources: frozenset[ProposalStatus], target: ProposalStatus) -> str:
    # The UPDATE matched one of `sources`; with a single candidate we know which.
    return next(iter(sources)).value if len(sources) == 1 else ""


_ALREADY_APPROVED = frozenset({S.APPROVED, S.APPLYING, S.PR_OPEN, S.PUSHED, S.DEPLOYED, S.VERIFIED})


def approve(
    session: Session,
    fix_id: str,
    *,
    actor: str,
    option: int = 1,
    content_hash: str = "",
) -> TransitionResult:
    """Record `actor`'s approval of option `option`.

    A second approval is a no-op that says who approved first (`changed=False`), also when the
    fix is already being applied or further. `content_hash` is the hash of the diff the approver
    saw; the pipeline refuses to apply anything whose hash differs.
    """
    try:
        result = transition(
            session,
            fix_id,
            S.APPROVED,
            actor=actor,
            expected=(S.PROPOSED, S.FAILED),
            evidence={"option": option, "content_hash": content_hash},
            values={
                "approver": actor,
                "approved_at": utcnow(),
                "chosen_option": option,
                "approved_hash": content_hash,
                "outcome": "approved",
            },
        )
    except IllegalTransition as exc:
        if exc.current not in _ALREADY_APPROVED:
            raise
        current = exc.current
    else:
        if result.changed:
            return result
        current = result.status
    approver = session.scalar(select(Proposal.approver).where(Proposal.fix_id == fix_id)) or "someone"
    return TransitionResult(
        fix_id, False, current, f"{fix_id} was already approved by {approver} (now {current.value})"
    )


def reject(session: Session, fix_id: str, *, actor: str, reason: str = "") -> TransitionResult:
    """Discard a proposal (from proposed or failed)."""
    return transition(
        session,
        fix_id,
        S.REJECTED,
        actor=actor,
        expected=(S.PROPOSED, S.FAILED),
        evidence={"reason": reason},
        values={"rejected_by": actor, "reject_reason": reason, "outcome": "rejected"},
    )


def last_actor(session: Session, fix_id: str, action: str) -> str | None:
    """Who last recorded `action` on `fix_id` (the audit trail names them), or None."""
    return session.scalar(
        select(AuditEvent.actor)
        .where(AuditEvent.fix_id == fix_id, AuditEvent.action == action)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    )
