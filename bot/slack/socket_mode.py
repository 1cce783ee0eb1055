"""Socket Mode, for when there is no public HTTPS URL (SLACK_APP_TOKEN=xapp-… is set).

The same `App`, listeners and dedupe apply: bolt's Socket Mode adapter copies the envelope's
`retry_attempt` into the `x-slack-retry-num` header and acks from the BoltResponse. Not covered by
the HTTP test suite (the fake Slack has no WebSocket server).
"""

from __future__ import annotations

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler

__all__ = ["start_socket_mode"]


def start_socket_mode(app: App, app_token: str) -> SocketModeHandler:
    """Connect without blocking; call `.close()` on the result to disconnect."""
    handler = SocketModeHandler(app, app_token)
    handler.connect()  # type: ignore[no-untyped-call]
    return handler
