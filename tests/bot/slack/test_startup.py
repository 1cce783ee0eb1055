"""Startup checks against the fake Slack Web API: each problem names what to do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from bot.slack.client import make_web_client
from bot.slack.startup import startup_checks
from tests.bot.slack.conftest import CHANNEL, make_settings
from tests.bot.slack.test_manifest import MANIFEST
from tests.fakes.slack_api import FakeSlack


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


def test_ready_bot_has_no_problems(fake: FakeSlack) -> None:
    """Valid token, all scopes, member of the channel: nothing to report."""
    fake.add_channel(CHANNEL, "ops", is_member=True)
    assert [] == startup_checks(make_web_client(fake.token, base_url=fake.api_url), make_settings())


def test_missing_invitation_and_scope_are_named(fake: FakeSlack) -> None:
    """Not in the channel and a missing scope each produce an actionable sentence."""
    fake.add_channel(CHANNEL, "ops", is_member=False)
    fake.scopes = "app_mentions:read,chat:write,channels:read"
    problems = startup_checks(make_web_client(fake.token, base_url=fake.api_url), make_settings())
    assert [
        "missing bot scopes: channels:history, files:write, usergroups:read — add them in OAuth & "
        "Permissions (or install slack-manifest.yaml) and reinstall the app",
        "the bot is not in #ops (C0OPS): type /invite @fixbot in that channel",
    ] == problems


def test_bad_token_and_unknown_channel(fake: FakeSlack) -> None:
    """A rejected token stops the checks with a hint; an unknown channel says to check its id."""
    bad = startup_checks(make_web_client("xoxb-wrong", base_url=fake.api_url), make_settings())
    assert 1 == len(bad)
    assert bad[0].startswith("auth.test failed (invalid_auth): SLACK_BOT_TOKEN is not accepted")
    unknown = startup_checks(make_web_client(fake.token, base_url=fake.api_url), make_settings())
    assert unknown[0].startswith("channel C0OPS not found: check the id in agent.toml")


def test_private_channel_needs_groups_read_and_says_so(fake: FakeSlack) -> None:
    """Without groups:read a private channel cannot be checked: the advice names that scope."""
    fake.add_channel(CHANNEL, "ops-private", is_member=True, is_private=True)
    client = make_web_client(fake.token, base_url=fake.api_url)
    problems = startup_checks(client, make_settings())
    assert 1 == len(problems)
    assert "(a private channel): add the groups:read scope" in problems[0]
    fake.scopes += ",groups:read"  # what installing slack-manifest.yaml grants
    assert [] == startup_checks(client, make_settings())


def test_manifest_grants_groups_read_for_private_channels() -> None:
    """The manifest asks for the scope the private-channel check needs."""
    manifest = yaml.safe_load(MANIFEST.read_text())
    assert "groups:read" in manifest["oauth_config"]["scopes"]["bot"]
