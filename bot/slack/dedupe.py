"""Exactly-once handling of Slack deliveries, across retries and restarts.

Slack redelivers an event (same `event_id`, header `X-Slack-Retry-Num`) when it did not get a 200
within 3 seconds, and a person can press a button twice. Each delivery has a key:

- events: `event:<event_id>`;
- interactions: `action:<sha256(action_ts, user, action_id, value)>` (a redelivery repeats all four;
  two different people pressing at once have different keys, and the proposal lifecycle decides
  which press wins).

Two layers, so that the ack path never waits for a database write:

1. `first_in_process(key)`: an in-memory, bounded set checked by the global middleware before any
   listener runs; a duplicate is answered 200 at once and nothing else happens.
2. `claim(key, kind)`: an INSERT into `processed_events` (primary key = the key) done by the worker
   before any work; a duplicate key (a retry after a restart, or another process) loses and the
   work is skipped.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.store.deliveries import claim_delivery

__all__ = ["DeliveryLedger", "delivery_key"]

log = logging.getLogger(__name__)


def delivery_key(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """(key, kind) identifying this delivery, or None for payloads that need no dedupe.

    The body is signed but its shape is still untrusted: a field of the wrong type (an `event`
    that is not an object, a `user` that is a string) gives a key from what is there, never an
    exception (that would answer 500 and make Slack deliver the same body three more times).
    """
    if body.get("type") == "event_callback" and body.get("event_id"):
        event = _mapping(body.get("event"))
        return f"event:{body['event_id']}", str(event.get("type", "event"))[:32]
    if body.get("type") == "block_actions":
        actions = body.get("actions")
        action = _mapping(actions[0] if isinstance(actions, list) and actions else None)
        user = _mapping(body.get("user")).get("id", "")
        raw = "\x1f".join(
            [
                str(action.get("action_ts", "")),
                str(user),
                str(action.get("action_id", "")),
                str(action.get("value", "")),
            ]
        )
        return "action:" + hashlib.sha256(raw.encode()).hexdigest()[:48], "block_actions"
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


class DeliveryLedger:
    """Remembers deliveries: in memory (fast, per process) and in the database (durable)."""

    def __init__(self, sessions: sessionmaker[Session], *, memory: int = 10_000) -> None:
        self._sessions = sessions
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._memory = memory
        self._lock = threading.Lock()

    def first_in_process(self, key: str) -> bool:
        """True the first time this process sees `key` (atomic)."""
        with self._lock:
            if key in self._seen:
                self._seen.move_to_end(key)
                return False
            self._seen[key] = None
            if len(self._seen) > self._memory:
                self._seen.popitem(last=False)
            return True

    def forget(self, key: str) -> None:
        """Let `key` be processed again: its claim failed, so Slack's retry must not be dropped."""
        with self._lock:
            self._seen.pop(key, None)

    def claim(self, key: str, kind: str) -> bool:
        """Record `key` durably; False when it was already recorded (do not process again)."""
        if claim_delivery(self._sessions, key, kind):
            return True
        log.info("delivery %s was already processed; skipping", key)
        return False
