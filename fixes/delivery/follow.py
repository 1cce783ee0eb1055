"""Follow open pull requests: state, checks, reviews; merged → pushed, closed unmerged → rejected.

One round (`follow_pull_requests`) reads, for each open pull request the bot delivered, the pull
request, the check runs and combined status of its head, and its reviews — each conditionally
(`If-None-Match`), so an unchanged pull request costs four 304s and no rate limit. A rate-limited
answer puts that service's pull requests to sleep until `Retry-After` (or the reset time) passes.
A webhook delivery runs the same round for one fix at once (`only=`).

Merged (here, by the team in GitHub, or from Slack through `fixes.delivery.merge`): the proposal
becomes `pushed` with the merge commit as its commit, so the deploy watch and verification start
from the commit that reached the deploy branch. Closed without merging: `rejected`, with the reason.

Network I/O never runs inside a database transaction: a round reads snapshots, talks to the API,
then writes in short transactions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings, UnknownService
from core.store.lifecycle import LifecycleError, ProposalStatus, TransitionResult, transition
from core.store.models import Proposal, PullRequest, utcnow
from fixes.delivery.errors import DeliveryError, RateLimited
from fixes.delivery.github_api import GitHubApi
from fixes.delivery.pr_state import checks_verdict, review_decision, summarize_check_runs, summarize_statuses
from fixes.delivery.pull_request import github_api

__all__ = [
    "PullSnapshot",
    "PullUpdate",
    "follow_pull_requests",
    "record_closed",
    "record_merged",
    "refresh_pull",
]

log = logging.getLogger(__name__)

_WAITING = (ProposalStatus.PR_OPEN, ProposalStatus.REVERT_PR_OPEN)


@dataclass(frozen=True)
class PullSnapshot:
    """The followed fields of a `PullRequest` row, detached from the session."""

    fix_id: str
    kind: str
    service: str
    number: int
    head_sha: str
    observed_head_sha: str
    state: str
    draft: bool
    mergeable: str
    checks: str
    review: str
    merge_commit_sha: str = ""
    closed_by: str = ""
    checks_detail: dict[str, Any] = field(default_factory=dict)
    etags: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, row: PullRequest) -> PullSnapshot:
        return cls(
            fix_id=row.fix_id,
            kind=row.kind,
            service=row.service,
            number=row.number,
            head_sha=row.head_sha,
            observed_head_sha=row.observed_head_sha or row.head_sha,
            state=row.state,
            draft=row.draft,
            mergeable=row.mergeable,
            checks=row.checks,
            review=row.review,
            merge_commit_sha=row.merge_commit_sha,
            closed_by=row.closed_by,
            checks_detail=dict(row.checks_detail or {}),
            etags=dict(row.etags or {}),
        )

    def shown(self) -> tuple[Any, ...]:
        """What the Slack message shows: a change here is worth an update in place."""
        return (self.state, self.draft, self.mergeable, self.checks, self.review, self.observed_head_sha)

    def write(self, row: PullRequest) -> None:
        row.observed_head_sha = self.observed_head_sha
        row.state = self.state
        row.draft = self.draft
        row.mergeable = self.mergeable[:16]
        row.checks = self.checks
        row.review = self.review
        row.merge_commit_sha = self.merge_commit_sha
        row.closed_by = self.closed_by[:64]
        row.checks_detail = dict(self.checks_detail)
        row.etags = dict(self.etags)


@dataclass(frozen=True)
class PullUpdate:
    """What one round found for one pull request. `outcome`: "" | "merged" | "closed"."""

    fix_id: str
    kind: str
    changed: bool
    outcome: str = ""
    message: str = ""
    merge_commit_sha: str = ""


def _conditional(etags: dict[str, Any], name: str, key: str) -> str:
    """The stored ETag for `name` when it was taken for the same `key` (e.g. the same head sha)."""
    stored = etags.get(name)
    return str(stored[1]) if isinstance(stored, list) and len(stored) == 2 and stored[0] == key else ""


def refresh_pull(api: GitHubApi, snapshot: PullSnapshot) -> PullSnapshot:
    """Read the pull request, its head's checks and its reviews; the new snapshot."""
    etags = dict(snapshot.etags)
    state = snapshot
    pull = api.get_pull(snapshot.number, etag=_conditional(etags, "pull", str(snapshot.number)))
    if pull.changed:
        etags["pull"] = [str(snapshot.number), pull.etag]
        body = pull.body
        merged = bool(body.get("merged"))
        closed = body.get("state") == "closed"
        state = replace(
            state,
            draft=bool(body.get("draft")),
            mergeable=str(body.get("mergeable_state") or "unknown"),
            observed_head_sha=str((body.get("head") or {}).get("sha") or snapshot.observed_head_sha),
            state="merged" if merged else ("closed" if closed else "open"),
            merge_commit_sha=str(body.get("merge_commit_sha") or "") if merged else "",
            closed_by=str((body.get("merged_by") or {}).get("login", "")) if merged else "",
        )
    if state.state != "open":
        return replace(state, etags=etags)
    head = state.observed_head_sha
    detail = dict(state.checks_detail)
    if detail.get("sha") != head:
        detail = {"sha": head}
    runs = api.check_runs(head, etag=_conditional(etags, "check_runs", head))
    if runs.changed:
        etags["check_runs"] = [head, runs.etag]
        detail["check_runs"] = summarize_check_runs(runs.body)
    statuses = api.combined_status(head, etag=_conditional(etags, "statuses", head))
    if statuses.changed:
        etags["statuses"] = [head, statuses.etag]
        detail["statuses"] = summarize_statuses(statuses.body)
    review = state.review
    reviews = api.reviews(snapshot.number, etag=_conditional(etags, "reviews", str(snapshot.number)))
    if reviews.changed:
        etags["reviews"] = [str(snapshot.number), reviews.etag]
        review = review_decision(reviews.body)
    return replace(
        state,
        checks=checks_verdict(detail.get("check_runs", {}), detail.get("statuses", {})),
        checks_detail=detail,
        review=review,
        etags=etags,
    )


def record_merged(
    session: Session, fix_id: str, kind: str, *, merge_sha: str, actor: str
) -> TransitionResult:
    """The pull request was merged: the fix is `pushed` (its revert `reverted`) at the merge commit."""
    if kind == "revert":
        return transition(
            session,
            fix_id,
            ProposalStatus.REVERTED,
            actor=actor,
            expected=[ProposalStatus.REVERT_PR_OPEN],
            evidence={"revert_commit_sha": merge_sha, "merged_by": actor},
            values={
                "revert_commit_sha": merge_sha,
                "outcome": "reverted",
                "failed_step": "",
                "failure_reason": "",
            },
        )
    return transition(
        session,
        fix_id,
        ProposalStatus.PUSHED,
        actor=actor,
        expected=[ProposalStatus.PR_OPEN],
        evidence={"commit_sha": merge_sha, "merged_by": actor},
        values={"commit_sha": merge_sha, "deploy_status": ""},
    )


def record_closed(session: Session, fix_id: str, kind: str, *, number: int) -> TransitionResult:
    """Closed without merging: the fix is `rejected` (its revert `revert_failed`) with the reason."""
    reason = f"pull request #{number} was closed in GitHub without merging"
    if kind == "revert":
        return transition(
            session,
            fix_id,
            ProposalStatus.REVERT_FAILED,
            actor="github",
            expected=[ProposalStatus.REVERT_PR_OPEN],
            evidence={"reason": reason},
            values={"failed_step": "merge", "failure_reason": reason},
        )
    return transition(
        session,
        fix_id,
        ProposalStatus.REJECTED,
        actor="github",
        expected=[ProposalStatus.PR_OPEN],
        evidence={"reason": reason},
        values={"rejected_by": "github", "reject_reason": reason, "outcome": "rejected"},
    )


def _open_snapshots(sessions: sessionmaker[Session], only: str | None) -> list[PullSnapshot]:
    query = (
        select(PullRequest)
        .join(Proposal, Proposal.fix_id == PullRequest.fix_id)
        .where(PullRequest.state == "open", Proposal.status.in_([s.value for s in _WAITING]))
        .order_by(PullRequest.id)
    )
    if only is not None:
        query = query.where(PullRequest.fix_id == only)
    with sessions() as session:
        return [PullSnapshot.of(row) for row in session.scalars(query)]


def _due(sessions: sessionmaker[Session], snapshot: PullSnapshot, now: datetime) -> bool:
    with sessions() as session:
        wake = session.scalar(
            select(PullRequest.next_poll_at).where(
                PullRequest.fix_id == snapshot.fix_id, PullRequest.kind == snapshot.kind
            )
        )
    return wake is None or wake <= now


def _sleep_service(sessions: sessionmaker[Session], service: str, until: datetime) -> None:
    with sessions.begin() as session:
        for row in session.scalars(
            select(PullRequest).where(PullRequest.service == service, PullRequest.state == "open")
        ):
            row.next_poll_at = until


def _save(  # noqa: PLR0911 - one return per outcome: gone, merged (twice), closed (twice), open
    sessions: sessionmaker[Session], before: PullSnapshot, after: PullSnapshot
) -> PullUpdate:
    changed = before.shown() != after.shown()
    with sessions.begin() as session:
        row = session.scalar(
            select(PullRequest).where(PullRequest.fix_id == after.fix_id, PullRequest.kind == after.kind)
        )
        if row is None:
            return PullUpdate(after.fix_id, after.kind, False)
        after.write(row)
        row.next_poll_at = None
        if after.state == "merged":
            actor = f"github:{after.closed_by}" if after.closed_by else "github"
            try:
                result = record_merged(
                    session, after.fix_id, after.kind, merge_sha=after.merge_commit_sha, actor=actor
                )
            except LifecycleError as exc:
                log.info("merge of %s recorded elsewhere: %s", after.fix_id, exc)
                return PullUpdate(after.fix_id, after.kind, changed)
            if not result.changed:  # merged from Slack, which recorded it already
                return PullUpdate(after.fix_id, after.kind, changed)
            who = f" by {after.closed_by}" if after.closed_by else ""
            return PullUpdate(
                after.fix_id,
                after.kind,
                True,
                "merged",
                f":twisted_rightwards_arrows: Pull request #{after.number} was merged in GitHub{who} "
                f"as `{after.merge_commit_sha[:10]}`",
                after.merge_commit_sha,
            )
        if after.state == "closed":
            try:
                record_closed(session, after.fix_id, after.kind, number=after.number)
            except LifecycleError as exc:
                log.info("closing of %s recorded elsewhere: %s", after.fix_id, exc)
                return PullUpdate(after.fix_id, after.kind, changed)
            return PullUpdate(
                after.fix_id,
                after.kind,
                True,
                "closed",
                f":no_entry_sign: Pull request #{after.number} was closed in GitHub without merging",
            )
    message = ""
    if changed and after.observed_head_sha != after.head_sha and before.observed_head_sha == before.head_sha:
        message = (
            f":warning: The branch of pull request #{after.number} changed after approval "
            f"(head `{after.observed_head_sha[:10]}`, validated `{after.head_sha[:10]}`): "
            "merging from Slack is off; review and merge it in GitHub"
        )
    return PullUpdate(after.fix_id, after.kind, changed, "", message)


def follow_pull_requests(
    settings: Settings,
    sessions: sessionmaker[Session],
    http: httpx.Client,
    *,
    now: datetime | None = None,
    only: str | None = None,
) -> list[PullUpdate]:
    """One round over the open pull requests (or only `only`'s); returns what changed."""
    moment = now or utcnow()
    updates: list[PullUpdate] = []
    resting: set[str] = set()
    for snapshot in _open_snapshots(sessions, only):
        if snapshot.service in resting or not _due(sessions, snapshot, moment):
            continue
        try:
            service = settings.service(snapshot.service)
            after = refresh_pull(github_api(settings, service, http), snapshot)
        except UnknownService:
            continue
        except RateLimited as exc:
            log.warning(
                "GitHub rate limit for %s: pausing its pull requests %.0fs", snapshot.service, exc.retry_after
            )
            resting.add(snapshot.service)
            _sleep_service(sessions, snapshot.service, moment + timedelta(seconds=exc.retry_after))
            continue
        except DeliveryError as exc:
            log.warning("could not read pull request #%s of %s: %s", snapshot.number, snapshot.fix_id, exc)
            continue
        update = _save(sessions, snapshot, after)
        if update.changed:
            updates.append(update)
    return updates
