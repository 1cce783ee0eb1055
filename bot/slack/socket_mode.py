"""Socket Mode, for when there is no public HTTPS URL (SLACK_APP_TOKEN=xapp-… is set).

The same `App`, listeners and dedupe apply: bolt's Socket Mode adapter copies the envelope's
`retry_attempt` into the `x-slack-retry-num` header and acks from the BoltResponse.

`SocketModeLink` owns the connection. The first connect (`apps.connections.open`, then the
WebSocket) is retried in a background thread with exponential backoff — an unreachable Slack used
to raise out of `agent run` (URLError) and end the process, while HTTP mode stays up and reports
503. Once connected, slack_sdk's client reconnects by itself (on `disconnect` envelopes and dropped
sockets). `health()` is the `/health` check: "ok" while connected, else what failed and when the
next attempt is. Tested against a local WebSocket server speaking Slack's envelope format
(tests/fakes/socket_mode.py).
"""

from __future__ import annotations

import logging
import threading
import time

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler

__all__ = ["SocketModeLink"]

log = logging.getLogger(__name__)


class SocketModeLink:
    """A Socket Mode connection that keeps trying until it is up, and says how it is."""

    def __init__(
        self,
        app: App,
        app_token: str,
        *,
        first_backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 60.0,
    ) -> None:
        self._app = app
        self._token = app_token
        self._first = first_backoff_seconds
        self._max = max_backoff_seconds
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._handler: SocketModeHandler | None = None
        self._thread: threading.Thread | None = None
        self.attempts = 0
        self._last_error = ""
        self._next_attempt = 0.0
        self.connected = threading.Event()

    def start(self) -> None:
        """Connect in the background; returns at once."""
        self._thread = threading.Thread(target=self._connect_until_up, name="slack-socket-mode", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            handler = self._handler
        if handler is not None:
            handler.close()  # type: ignore[no-untyped-call]
        if self._thread is not None:
            self._thread.join(5)

    def health(self) -> str:
        """`/health`: "ok" while connected, else what failed and what happens next."""
        with self._lock:
            handler, attempts = self._handler, self.attempts
            error, next_at = self._last_error, self._next_attempt
        if handler is not None:
            if handler.client.is_connected():
                return "ok: Socket Mode connected"
            return "error: Socket Mode connection lost; slack_sdk is reconnecting"
        if not attempts:
            return "error: Socket Mode not connected yet"
        wait = max(0.0, next_at - time.monotonic())
        return (
            f"error: Socket Mode cannot connect after {attempts} attempt(s): {error}; "
            f"next attempt in {wait:.0f}s (check network access to slack.com and SLACK_APP_TOKEN)"
        )

    def _connect_until_up(self) -> None:
        delay = self._first
        while not self._stop.is_set():
            handler = SocketModeHandler(self._app, self._token)
            try:
                handler.connect()  # type: ignore[no-untyped-call]
            except Exception as exc:  # URLError, SlackApiError, a refused WebSocket: all mean "retry"
                handler.client.close()
                with self._lock:
                    self.attempts += 1
                    self._last_error = f"{type(exc).__name__}: {exc}"[:300]
                    self._next_attempt = time.monotonic() + delay
                log.warning(
                    "Slack Socket Mode: connecting failed (%s); retrying in %.0fs", self._last_error, delay
                )
                if self._stop.wait(delay):
                    return
                delay = min(delay * 2, self._max)
                continue
            with self._lock:
                self.attempts += 1
                self._handler = handler
            self.connected.set()
            log.info("Slack Socket Mode connected after %d attempt(s)", self.attempts)
            if self._stop.is_set():  # closed while connecting
                handler.close()  # type: ignore[no-untyped-call]
            return
