"""Bolt listeners, one module per surface, each with `register(app, runner)`."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.conversation import CommandRunner
from bot.slack.listeners import actions, mention, messages

__all__ = ["register_listeners"]


def register_listeners(app: App, runner: CommandRunner) -> None:
    mention.register(app, runner)
    messages.register(app, runner)
    actions.register(app, runner)
