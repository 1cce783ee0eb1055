"""The Slack Web API client, with retries, and a call wrapper that never raises into callers.

`make_web_client` adds `RateLimitErrorRetryHandler` (429: sleeps Retry-After, then retries) and
`ServerErrorRetryHandler` (500/503) to the default connection-error retry. `SlackCalls.call`
translates what is left (`SlackApiError`, `SlackRequestError`, `OSError`) into a recorded error:
counted in metrics, shown by `status`, and — when retrying cannot help (`not_in_channel`,
`channel_not_found`, ...) — kept as a problem until a later call to the same channel succeeds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.web import SlackResponse

from bot.status import ErrorLog

__all__ = ["PERMANENT_ERRORS", "SlackCallError", "SlackCalls", "SlackErrorCounter", "make_web_client"]

log = logging.getLogger(__name__)

# Retrying these cannot succeed until a human acts; each maps to what that human should do.
PERMANENT_ERRORS: dict[str, str] = {
    "channel_not_found": "check the channel id in agent.toml, or invite the bot if the channel is private",
    "not_in_channel": "invite the bot: /invite @fixbot in that channel",
    "is_archived": "the channel is archived; configure another channel",
    "invalid_auth": "SLACK_BOT_TOKEN is not valid; copy the Bot User OAuth Token again",
    "not_authed": "SLACK_BOT_TOKEN is missing",
    "account_inactive": "the app was uninstalled or the token revoked; reinstall the app",
    "token_revoked": "the token was revoked; reinstall the app and update SLACK_BOT_TOKEN",
    "missing_scope": "add the scope named above in OAuth & Permissions and reinstall the app",
    "invalid_blocks": "a message exceeded Block Kit limits (a bug: please report it)",
    "msg_too_long": "a message was too long (a bug: please report it)",
    "restricted_action": "a workspace admin restricts posting in that channel",
}


class SlackErrorCounter(Protocol):
    def count_slack_error(self, method: str, error: str) -> None: ...


def make_web_client(
    token: str, *, base_url: str = "https://slack.com/api/", rate_limit_retries: int = 3
) -> WebClient:
    """A `WebClient` that honours 429 Retry-After and retries transient server errors."""
    return WebClient(
        token=token,
        base_url=base_url,
        timeout=30,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=rate_limit_retries),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


@dataclass(frozen=True)
class SlackCallError:
    """A failed call: Slack's error code (or the exception's name); `permanent`: retrying cannot help."""

    method: str
    code: str
    permanent: bool
    detail: str

    def describe(self) -> str:
        hint = PERMANENT_ERRORS.get(self.code)
        return f"{self.method} failed: {self.code}{' (' + self.detail + ')' if self.detail else ''}" + (
            f" — {hint}" if hint else ""
        )


class SlackCalls:
    """Calls on a `WebClient` whose failures are recorded instead of raised."""

    def __init__(self, client: WebClient, errors: ErrorLog, metrics: SlackErrorCounter | None = None) -> None:
        self.client = client
        self.errors = errors
        self.metrics = metrics

    def call(
        self,
        method: str,
        fn: Callable[..., SlackResponse],
        /,
        *,
        on_error: Callable[[SlackCallError], None] | None = None,
        **kwargs: Any,
    ) -> SlackResponse | None:
        """`fn(**kwargs)`; None on failure (after slack_sdk's own retries), with the error recorded."""
        try:
            response = fn(**kwargs)
        except SlackApiError as exc:
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            code = str(data.get("error") or f"http_{exc.response.status_code}")
            needed = data.get("needed")
            failure = SlackCallError(
                method, code, code in PERMANENT_ERRORS, f"needed {needed}" if needed else ""
            )
        except (SlackClientError, OSError) as exc:
            failure = SlackCallError(method, type(exc).__name__, False, str(exc)[:200])
        else:
            channel = kwargs.get("channel") or kwargs.get("channel_id")
            if channel:
                self.errors.clear_permanent(f"{method.split('.', maxsplit=1)[0]}:{channel}")
            return response
        where = kwargs.get("channel") or kwargs.get("channel_id") or ""
        key = f"{method.split('.', maxsplit=1)[0]}:{where}" if failure.permanent else None
        line = failure.describe() + (f" [channel {where}]" if where else "")
        log.warning("Slack API: %s", line)
        self.errors.record(line, permanent_key=key)
        if self.metrics is not None:
            self.metrics.count_slack_error(method, failure.code)
        if on_error is not None:
            on_error(failure)
        return None
