"""Slack deliveries already processed: the durable half of exactly-once (see bot/slack/dedupe.py)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.store.models import ProcessedEvent

__all__ = ["claim_delivery"]


def claim_delivery(sessions: sessionmaker[Session], key: str, kind: str) -> bool:
    """Record `key` (primary key of `processed_events`); False when another process or an earlier
    run already recorded it, so the work must not run again."""
    try:
        with sessions.begin() as session:
            session.add(ProcessedEvent(key=key, kind=kind))
    except IntegrityError:
        return False
    return True
