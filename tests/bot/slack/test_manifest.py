"""The Slack app manifest in the repository matches what the code needs."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.slack.startup import REQUIRED_SCOPES

MANIFEST = Path(__file__).resolve().parents[3] / "slack-manifest.yaml"


def test_manifest_grants_every_scope_the_startup_check_requires() -> None:
    """Installing the manifest leaves no scope for the startup check to complain about."""
    manifest = yaml.safe_load(MANIFEST.read_text())
    granted = set(manifest["oauth_config"]["scopes"]["bot"])
    assert set() == set(REQUIRED_SCOPES) - granted


def test_manifest_subscribes_to_the_events_the_listeners_handle() -> None:
    """Mentions, channel thread replies and DMs are delivered; buttons post to /slack/events."""
    settings = yaml.safe_load(MANIFEST.read_text())["settings"]
    assert {"app_mention", "message.channels", "message.im"} <= set(
        settings["event_subscriptions"]["bot_events"]
    )
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["interactivity"]["request_url"].endswith("/slack/events")
    assert settings["event_subscriptions"]["request_url"].endswith("/slack/events")
