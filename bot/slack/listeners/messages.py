"""Plain messages: commands in DMs, and commands in a proposal's thread without a mention.

A message that mentions the bot also arrives as `app_mention`; it is handled there only.
Messages from bots (including this one), edits and other subtypes are ignored.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext

from bot.commands import Unknown, parse_command
from bot.slack.conversation import CommandRunner, is_from_bot
from bot.slack.failures import asker_of

__all__ = ["register"]


def is_command(text: str) -> bool:
    return not isinstance(parse_command(text), Unknown)


def register(app: App, runner: CommandRunner) -> None:
    @app.event("message")
    def on_message(event: dict[str, Any], body: dict[str, Any], context: BoltContext) -> None:
        if is_from_bot(event) or event.get("subtype") or not event.get("user"):
            return
        text = event.get("text", "")
        if context.bot_user_id and f"<@{context.bot_user_id}" in text:
            return
        direct = event.get("channel_type") == "im"
        thread_ts = event.get("thread_ts", "")
        if not direct and not thread_ts:
            return
        # Failures are answered for commands only: people also just talk in proposal threads.
        answered = direct or is_command(text)
        runner.submit(
            context.get("delivery"),
            lambda: runner.handle_text(
                text,
                user=event["user"],
                channel=event["channel"],
                ts=event["ts"],
                thread_ts=thread_ts,
                direct=direct,
                only_known=not direct,
            ),
            reply_to=(event["channel"], thread_ts) if answered else None,
            asker=asker_of(body) if answered else None,
        )
