"""Unexpected errors reach the person who asked, with a reference id that is also in the log.

Before, bolt's `@app.error` handler and `CommandRunner.submit` logged a reference and the user heard
nothing. Now both call `tell_failure`: the log gets the reference and the traceback, the bot's
error list (`status`) gets one line, and the person who issued the command or pressed the button
gets an ephemeral message with the same reference (in the thread where they asked).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from bot.render.blocks import text_message
from bot.slack.client import SlackCalls

__all__ = ["Asker", "asker_of", "failure_text", "tell_failure"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Asker:
    """Where the person who triggered a request can be answered."""

    channel: str
    user: str
    thread_ts: str = ""


def asker_of(body: dict[str, Any]) -> Asker | None:
    """The asker of an Events API body (`event`) or an interactivity payload (`user`, `channel`)."""
    event = body.get("event")
    if isinstance(event, dict) and event.get("user") and event.get("channel"):
        return Asker(
            str(event["channel"]), str(event["user"]), str(event.get("thread_ts") or event.get("ts") or "")
        )
    user = body.get("user")
    channel = body.get("channel") or {}
    container = body.get("container") or {}
    user_id = user.get("id") if isinstance(user, dict) else None
    channel_id = (channel.get("id") if isinstance(channel, dict) else None) or container.get("channel_id")
    if user_id and channel_id:
        message = body.get("message") or {}
        thread = message.get("thread_ts") or message.get("ts") or container.get("message_ts") or ""
        return Asker(str(channel_id), str(user_id), str(thread))
    return None


def failure_text(ref: str) -> str:
    return (
        f":boom: Sorry, that failed unexpectedly (ref `{ref}`). Nothing else was changed by it; "
        f"try again, and if it keeps failing give the bot's operator the reference `{ref}` "
        "(the bot's log has the details under it)."
    )


def tell_failure(slack: SlackCalls, asker: Asker | None, what: str, error: BaseException) -> str:
    """Log `error` under a new reference, record it, and tell `asker`; returns the reference."""
    ref = uuid.uuid4().hex[:8]
    log.error("%s failed (ref %s)", what, ref, exc_info=error)
    slack.errors.record(f"{what} failed (ref {ref}): {type(error).__name__}: {error}"[:300])
    if asker is not None:
        slack.call(
            "chat.postEphemeral",
            slack.client.chat_postEphemeral,
            channel=asker.channel,
            user=asker.user,
            thread_ts=asker.thread_ts or None,
            **text_message(failure_text(ref)).as_kwargs(),
        )
    return ref
