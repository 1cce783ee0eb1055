"""Plain snapshots of what the renderers show, detached from the database session.

Renderers take these (not ORM rows) so they stay pure and testable with literal data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.render.states import state_label
from core.store.models import Incident, Proposal

__all__ = ["IncidentView", "OptionView", "ProposalView", "PullRequestView", "Reply", "StatusReport"]


@dataclass(frozen=True)
class IncidentView:
    id: int
    service: str
    kind: str
    title: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    status: str = "open"

    @classmethod
    def of(cls, incident: Incident) -> IncidentView:
        return cls(
            id=incident.id,
            service=incident.service,
            kind=incident.kind,
            title=incident.title,
            count=incident.count,
            first_seen=incident.first_seen,
            last_seen=incident.last_seen,
            status=incident.status,
        )


@dataclass(frozen=True)
class OptionView:
    """One way to fix it: option 1 is the proposal's own diff, 2..K its alternatives."""

    number: int
    summary: str
    diff: str
    risk: str
    validation_status: str
    validation_output: str = ""


@dataclass(frozen=True)
class PullRequestView:
    """The pull request that delivers a fix (pull-request delivery), as last polled."""

    kind: str
    number: int
    url: str
    state: str
    draft: bool
    checks: str
    review: str
    mergeable: str
    head_changed: bool

    @property
    def ready_to_merge(self) -> bool:
        """Checks green, nobody asked for changes, and the head is the one the bot validated."""
        return (
            self.state == "open"
            and not self.draft
            and not self.head_changed
            and self.checks == "passing"
            and self.review != "changes_requested"
        )


@dataclass(frozen=True)
class ProposalView:
    fix_id: str
    service: str
    status: str
    severity: str
    summary: str
    root_cause: str
    risk: str
    diff: str
    validation_status: str
    validation_output: str
    options: tuple[OptionView, ...] = ()
    incident: IncidentView | None = None
    no_fix_reason: str = ""
    approver: str = ""
    rejected_by: str = ""
    reject_reason: str = ""
    commit_sha: str = ""
    revert_commit_sha: str = ""
    deploy_status: str = ""
    failed_step: str = ""
    failure_reason: str = ""
    chosen_option: int = 1
    created_at: datetime | None = None
    proof: str = ""  # "proven: …" | "not proven: <why>"
    test_suggestion: str = ""
    pull_request: PullRequestView | None = None

    @property
    def has_fix(self) -> bool:
        return bool(self.diff)

    @property
    def state(self) -> str:
        """What people read: `report` for a proposal without code, `pushed — deploy not followed`."""
        return state_label(self.status, has_fix=self.has_fix, deploy_status=self.deploy_status)

    @property
    def awaiting_decision(self) -> bool:
        return self.status in {"proposed", "failed"} and self.has_fix

    @classmethod
    def of(cls, proposal: Proposal, incident: Incident | None = None) -> ProposalView:
        options = [_option_view(number, proposal.option(number)) for number in _numbers(proposal)]
        return cls(
            fix_id=proposal.fix_id,
            service=proposal.service,
            status=proposal.status,
            severity=proposal.severity,
            summary=proposal.summary,
            root_cause=proposal.root_cause,
            risk=proposal.risk,
            diff=proposal.diff,
            validation_status=proposal.validation_status,
            validation_output=proposal.validation_output,
            options=tuple(options),
            incident=IncidentView.of(incident) if incident is not None else None,
            no_fix_reason=proposal.no_fix_reason,
            approver=proposal.approver,
            rejected_by=proposal.rejected_by,
            reject_reason=proposal.reject_reason,
            commit_sha=proposal.commit_sha,
            revert_commit_sha=proposal.revert_commit_sha,
            deploy_status=proposal.deploy_status,
            failed_step=proposal.failed_step,
            failure_reason=proposal.failure_reason,
            chosen_option=proposal.chosen_option,
            created_at=proposal.created_at,
            proof=proposal.proof or "",
            test_suggestion=proposal.test_suggestion,
            pull_request=_pull_request_view(proposal),
        )


def _pull_request_view(proposal: Proposal) -> PullRequestView | None:
    # The newest pull request shown: a revert's once there is one, else the fix's own.
    pulls = list(proposal.pull_requests or [])
    if not pulls:
        return None
    pull = pulls[-1]
    return PullRequestView(
        kind=pull.kind,
        number=pull.number,
        url=pull.url,
        state=pull.state,
        draft=pull.draft,
        checks=pull.checks,
        review=pull.review,
        mergeable=pull.mergeable,
        head_changed=bool(pull.observed_head_sha and pull.observed_head_sha != pull.head_sha),
    )


def _numbers(proposal: Proposal) -> range:
    return range(1, len(proposal.alternatives or []) + 2)


def _option_view(number: int, data: Mapping[str, Any]) -> OptionView:
    return OptionView(
        number=number,
        summary=str(data.get("summary", "")),
        diff=str(data.get("diff", "")),
        risk=str(data.get("risk", "")),
        validation_status=str(data.get("validation_status", "not_run")),
        validation_output=str(data.get("validation_output", "")),
    )


@dataclass(frozen=True)
class StatusReport:
    """What `status` shows. `problems` are the lines a human must act on."""

    approvers_configured: bool
    breaker_open: bool
    breaker_reason: str
    pending_posts: int
    post_errors: tuple[str, ...]
    slack_errors: tuple[str, ...]
    sources: tuple[str, ...]
    counts: Mapping[str, int]
    workers_busy: int = 0
    problems: tuple[str, ...] = ()
    validation: tuple[str, ...] = ()  # "sandbox: <level>", then where each service validates


@dataclass(frozen=True)
class Reply:
    """The immediate answer to a command.

    `private` replies go only to the person who typed the command (ephemeral in Slack).
    Exactly one of `proposal`, `proposals`, `status` may carry structured content; `text` is
    always set and is the whole answer for plain replies.
    """

    text: str
    private: bool = False
    ok: bool = True
    fix_id: str | None = None
    proposal: ProposalView | None = None
    proposals: Sequence[ProposalView] = field(default_factory=tuple)
    status: StatusReport | None = None
