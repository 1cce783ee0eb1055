"""The Slack outbox: which proposals still need a message, and who is posting one right now.

A proposal's `slack_ts` is empty (not posted), `posting:<unix time>` (claimed by a poster), or the
message's ts. The claim is a conditional update, so two posters racing for one proposal post it once;
a claim older than its timeout is abandoned (a poster crashed) and may be taken over.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from core.store.models import Proposal

__all__ = [
    "CLAIM_PREFIX",
    "Posted",
    "claim_post",
    "mark_posted",
    "posted_at",
    "release_post",
    "unposted_fix_ids",
]

CLAIM_PREFIX = "posting:"


class Posted(NamedTuple):
    channel: str
    ts: str


def unposted_fix_ids(session: Session, statuses: Collection[str], limit: int) -> list[str]:
    """Fix ids in `statuses` that have no message yet (or a claim that may be stale), oldest first."""
    return list(
        session.scalars(
            select(Proposal.fix_id)
            .where(
                Proposal.status.in_(list(statuses)),
                or_(Proposal.slack_ts == "", Proposal.slack_ts.like(f"{CLAIM_PREFIX}%")),
            )
            .order_by(Proposal.id)
            .limit(limit)
        )
    )


def claim_post(session: Session, fix_id: str, *, now: int, timeout_seconds: int) -> str | None:
    """Claim `fix_id` for posting; the claim token, or None when it is posted or claimed by another."""
    token = f"{CLAIM_PREFIX}{now:010d}"
    stale = f"{CLAIM_PREFIX}{now - timeout_seconds:010d}"
    row = session.execute(
        update(Proposal)
        .where(
            Proposal.fix_id == fix_id,
            or_(
                Proposal.slack_ts == "",
                Proposal.slack_ts.like(f"{CLAIM_PREFIX}%") & (Proposal.slack_ts < stale),
            ),
        )
        .values(slack_ts=token)
        .returning(Proposal.id)
        .execution_options(synchronize_session=False)
    ).first()
    return token if row is not None else None


def release_post(session: Session, fix_id: str, token: str, error: str) -> None:
    """Give up our claim on `fix_id`, keeping why (shown by `status`)."""
    session.execute(
        update(Proposal)
        .where(Proposal.fix_id == fix_id, Proposal.slack_ts == token)
        .values(slack_ts="", post_error=error[:2000])
        .execution_options(synchronize_session=False)
    )


def mark_posted(session: Session, fix_id: str, channel: str, ts: str) -> None:
    session.execute(
        update(Proposal)
        .where(Proposal.fix_id == fix_id)
        .values(slack_channel=channel, slack_ts=ts, post_error="")
        .execution_options(synchronize_session=False)
    )


def posted_at(session: Session, fix_id: str) -> Posted | None:
    """Where the message of `fix_id` is, or None when it is not posted (or only claimed)."""
    row = session.execute(
        select(Proposal.slack_channel, Proposal.slack_ts).where(Proposal.fix_id == fix_id)
    ).first()
    if row is None or not row.slack_ts or row.slack_ts.startswith(CLAIM_PREFIX):
        return None
    return Posted(row.slack_channel, row.slack_ts)
