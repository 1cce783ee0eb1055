"""Read-only counts and lists for `status` and /health: what the operator sees at a glance."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.store.lifecycle import ProposalStatus
from core.store.models import Proposal, SourceCursor

__all__ = ["proposal_counts", "recent_post_errors", "source_cursors", "unposted_count"]


def proposal_counts(session: Session) -> dict[str, int]:
    """How many proposals are in each status (statuses with none are absent)."""
    return {
        status: int(n)
        for status, n in session.execute(
            select(Proposal.status, func.count()).group_by(Proposal.status)
        ).all()
    }


def unposted_count(session: Session) -> int:
    """Proposals waiting for their first Slack message."""
    count = session.scalar(
        select(func.count())
        .select_from(Proposal)
        .where(Proposal.slack_ts == "", Proposal.status == ProposalStatus.PROPOSED.value)
    )
    return int(count or 0)


def recent_post_errors(session: Session, limit: int = 5) -> list[tuple[str, str]]:
    """(fix id, error) of the newest proposals whose posting failed and is not yet retried."""
    rows = session.execute(
        select(Proposal.fix_id, Proposal.post_error)
        .where(Proposal.post_error != "", Proposal.slack_ts == "")
        .order_by(Proposal.id.desc())
        .limit(limit)
    ).all()
    return [(fix_id, error) for fix_id, error in rows]


def source_cursors(session: Session) -> list[SourceCursor]:
    """Every service's read position, by service name."""
    return list(session.scalars(select(SourceCursor).order_by(SourceCursor.service)))
