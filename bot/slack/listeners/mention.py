"""`@fixbot <command>` in a channel or a thread. Bolt acks events before the listener runs."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext

from bot.slack.conversation import CommandRunner, is_from_bot
from bot.slack.failures import asker_of

__all__ = ["register"]


def register(app: App, runner: CommandRunner) -> None:
    @app.event("app_mention")
    def on_mention(event: dict[str, Any], body: dict[str, Any], context: BoltContext) -> None:
        if is_from_bot(event) or not event.get("user"):
            return
        runner.submit(
            context.get("delivery"),
            lambda: runner.handle_text(
                event.get("text", ""),
                user=event["user"],
                channel=event["channel"],
                ts=event["ts"],
                thread_ts=event.get("thread_ts", ""),
            ),
            reply_to=(event["channel"], event.get("thread_ts") or event["ts"]),
            asker=asker_of(body),
        )
