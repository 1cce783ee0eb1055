"""The Slack surface: a bolt `App` with thin listeners, served over HTTP or Socket Mode.

Listeners parse → ack → hand off to a bounded worker pool → call `bot.operations.Operations` →
render with `bot.render.blocks` → reply. Slack API failures never propagate into a listener or a
worker: `bot.slack.client.SlackCalls` records them (metrics, `status`) and returns None.
"""

from bot.slack.app import build_slack_app, build_slack_stack
from bot.slack.routes import slack_routes
from bot.slack.startup import startup_checks

__all__ = ["build_slack_app", "build_slack_stack", "slack_routes", "startup_checks"]
