"""The Implement (option N) and Reject buttons: ack first, then hand off."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.render.blocks import ACTION_IMPLEMENT, ACTION_MERGE, ACTION_REJECT
from bot.slack.conversation import CommandRunner
from bot.slack.failures import asker_of

__all__ = ["register"]


def register(app: App, runner: CommandRunner) -> None:
    @app.action(re.compile(rf"^(?:{ACTION_IMPLEMENT}(?:_\d+)?|{ACTION_REJECT}|{ACTION_MERGE})$"))
    def on_button(ack: Ack, body: dict[str, Any], action: dict[str, Any], context: BoltContext) -> None:
        ack()
        channel = (body.get("channel") or {}).get("id") or body.get("container", {}).get("channel_id", "")
        message_ts = (body.get("message") or {}).get("ts") or body.get("container", {}).get("message_ts", "")
        runner.submit(
            context.get("delivery"),
            lambda: runner.handle_button(
                action["action_id"],
                str(action.get("value", "")),
                user=body["user"]["id"],
                channel=channel,
                message_ts=message_ts,
            ),
            reply_to=(channel, message_ts),
            asker=asker_of(body),
        )
