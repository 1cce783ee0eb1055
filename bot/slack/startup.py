"""Startup checks: is the token valid, who is the bot, may it post where it must?

`startup_checks` returns problems as sentences a person can act on (which scope to add, which
channel to invite the bot to); an empty list means ready. `SlackHealth` keeps the last result for
`/health`.
"""

from __future__ import annotations

import threading

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from core.settings import Settings

__all__ = ["REQUIRED_SCOPES", "SlackHealth", "startup_checks"]

REQUIRED_SCOPES = (
    "app_mentions:read",
    "channels:history",
    "channels:read",
    "chat:write",
    "files:write",
    "usergroups:read",
)


def _channels(settings: Settings) -> list[str]:
    channels = [s.channel for s in settings.services if s.channel]
    if settings.slack.default_channel:
        channels.append(settings.slack.default_channel)
    return list(dict.fromkeys(channels))


def startup_checks(client: WebClient, settings: Settings) -> list[str]:  # noqa: PLR0912 - one branch per problem
    """Problems that stop the bot from working in Slack (empty when all is well)."""
    try:
        auth = client.auth_test()
    except SlackApiError as exc:
        code = exc.response.get("error", exc.response.status_code)
        return [
            f"auth.test failed ({code}): SLACK_BOT_TOKEN is not accepted; copy the Bot User OAuth Token "
            "(xoxb-…) from OAuth & Permissions after installing the app"
        ]
    except (SlackClientError, OSError) as exc:
        return [f"auth.test could not reach Slack ({type(exc).__name__}: {exc}); check the network"]

    problems: list[str] = []
    if not auth.get("user_id") or not auth.get("bot_id"):
        problems.append("auth.test did not name a bot user: SLACK_BOT_TOKEN must be a bot token (xoxb-…)")
    header = auth.headers.get("x-oauth-scopes") or auth.headers.get("X-OAuth-Scopes")
    if header:
        granted = {scope.strip() for scope in str(header).split(",")}
        missing = [scope for scope in REQUIRED_SCOPES if scope not in granted]
        if missing:
            problems.append(
                f"missing bot scopes: {', '.join(missing)} — add them in OAuth & Permissions "
                "(or install slack-manifest.yaml) and reinstall the app"
            )
    channels = _channels(settings)
    if not channels:
        problems.append(
            "no channel configured: set slack.default_channel or a service's channel "
            "(a channel id like C0123OPS)"
        )
    for channel in channels:
        try:
            info = client.conversations_info(channel=channel)
        except SlackApiError as exc:
            code = exc.response.get("error", exc.response.status_code)
            if code == "missing_scope":
                # Slack names the scope it needs: groups:read for a private channel.
                needed = exc.response.get("needed") or "channels:read"
                private = " (a private channel)" if "groups" in str(needed) else ""
                problems.append(
                    f"cannot check channel {channel}{private}: add the {needed} scope in OAuth & "
                    "Permissions (slack-manifest.yaml has it) and reinstall the app"
                )
            elif code == "channel_not_found":
                problems.append(
                    f"channel {channel} not found: check the id in agent.toml; for a private channel, "
                    f"invite the bot first (/invite @{auth.get('user', 'fixbot')})"
                )
            else:
                problems.append(f"conversations.info for {channel} failed: {code}")
            continue
        except (SlackClientError, OSError) as exc:
            problems.append(f"conversations.info for {channel} failed: {type(exc).__name__}: {exc}")
            continue
        data = info.get("channel") or {}
        if not data.get("is_member"):
            name = data.get("name") or channel
            problems.append(
                f"the bot is not in #{name} ({channel}): "
                f"type /invite @{auth.get('user', 'fixbot')} in that channel"
            )
    return problems


class SlackHealth:
    """`/health` check: "ok" or the startup problems (re-checked on `refresh`)."""

    def __init__(self, client: WebClient, settings: Settings) -> None:
        self._client = client
        self._settings = settings
        self._problems: list[str] | None = None
        self._lock = threading.Lock()

    def refresh(self) -> list[str]:
        problems = startup_checks(self._client, self._settings)
        with self._lock:
            self._problems = problems
        return problems

    def __call__(self) -> str:
        with self._lock:
            problems = self._problems
        if problems is None:
            problems = self.refresh()
        return "ok" if not problems else "error: " + "; ".join(problems)
