"""Merge a fix's pull request from Slack, bound to the head sha the bot validated.

The merge call carries `sha` = the commit the bot validated and pushed: if anyone pushed to the
branch afterwards, GitHub answers 409 and nothing is merged on the old approval (the content hash
binding of push mode, carried over). 405 means GitHub refuses for its own reasons (checks, required
reviews, branch protection, conflicts); its message is shown. On success the proposal is `pushed`
at the merge commit, and the caller starts the deploy watch.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from core.store.lifecycle import LifecycleError, ProposalStatus
from core.store.models import PullRequest
from core.store.proposals import get_proposal
from fixes.delivery.errors import DeliveryError, HeadChanged, NotMergeable, RateLimited
from fixes.delivery.follow import record_merged
from fixes.delivery.pull_request import github_api

__all__ = ["MergeResult", "merge_fix"]


@dataclass(frozen=True)
class MergeResult:
    fix_id: str
    ok: bool
    status: str
    message: str
    merge_commit_sha: str = ""


def _checks_note(row: PullRequest) -> str:
    return f"checks {row.checks}, review {row.review.replace('_', ' ')}, mergeable state {row.mergeable}"


def merge_fix(  # noqa: PLR0911 - each refusal is an early, explained return
    settings: Settings, sessions: sessionmaker[Session], http: httpx.Client, fix_id: str, *, actor: str
) -> MergeResult:
    """Merge the open pull request of `fix_id` (or of its revert) at its validated head.

    The caller has checked that `actor` may approve for the service.
    """
    with sessions() as session:
        proposal = get_proposal(session, fix_id)
        status = proposal.status
        kind = {ProposalStatus.PR_OPEN.value: "fix", ProposalStatus.REVERT_PR_OPEN.value: "revert"}.get(
            status
        )
        row = (
            session.scalar(select(PullRequest).where(PullRequest.fix_id == fix_id, PullRequest.kind == kind))
            if kind
            else None
        )
        if row is None:
            return MergeResult(
                fix_id, False, status, f"{fix_id} is {status}; it has no open pull request to merge"
            )
        service = settings.service(proposal.service)
        number, head, summary, note = row.number, row.head_sha, proposal.summary, _checks_note(row)
        observed = row.observed_head_sha
    if observed and observed != head:
        return MergeResult(
            fix_id,
            False,
            status,
            f"the branch of pull request #{number} changed after approval (head {observed[:10]}, validated "
            f"{head[:10]}); not merging on the old approval. Review and merge it in GitHub, or reject it",
        )
    title = f"{'revert' if kind == 'revert' else 'fix'}: {' '.join(summary.split())[:120]} ({fix_id})"
    try:
        merge_sha = github_api(settings, service, http).merge(
            number, sha=head, method=service.pull_request.merge_method, title=title
        )
    except HeadChanged as exc:
        return MergeResult(
            fix_id,
            False,
            status,
            f"not merged: the branch changed after the bot validated {head[:10]} ({exc}). "
            "Review and merge it in GitHub, or reject it",
        )
    except NotMergeable as exc:
        return MergeResult(fix_id, False, status, f"not merged: {exc} (last seen: {note})")
    except RateLimited as exc:
        return MergeResult(fix_id, False, status, f"not merged: {exc}; try again later")
    except DeliveryError as exc:
        return MergeResult(fix_id, False, status, f"not merged: {exc}")
    with sessions.begin() as session:
        stored = session.scalar(
            select(PullRequest).where(PullRequest.fix_id == fix_id, PullRequest.kind == kind)
        )
        if stored is not None:
            stored.state, stored.merge_commit_sha, stored.closed_by = "merged", merge_sha, actor
        try:
            result = record_merged(session, fix_id, kind or "fix", merge_sha=merge_sha, actor=actor)
        except LifecycleError as exc:
            return MergeResult(fix_id, True, status, f"pull request #{number} merged; {exc}", merge_sha)
        target = result.status.value
    return MergeResult(
        fix_id, True, target, f"pull request #{number} merged as {merge_sha[:12]} by {actor}", merge_sha
    )
