"""A local Socket Mode endpoint: a real WebSocket server speaking Slack's envelope format.

Slack's Socket Mode (api.slack.com/apis/socket-mode): the app calls `apps.connections.open` with
its `xapp-` token and gets a `wss://` URL; on connect the server sends
`{"type": "hello", ...}`; events arrive as envelopes
`{"envelope_id", "type": "events_api", "payload": {...event_callback...}, "accepts_response_payload",
"retry_attempt", "retry_reason"}` that the app acks by sending `{"envelope_id": ...}` back;
`{"type": "disconnect", "reason": "refresh_requested"}` asks the app to reconnect to a new URL.

    with FakeSocketMode() as socket:
        fake_slack.socket_url = socket.url        # what apps.connections.open answers
        socket.wait_for_connections(1)
        envelope_id = socket.send_event({...})
        socket.wait_for_ack(envelope_id)
"""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

__all__ = ["FakeSocketMode"]


class FakeSocketMode:
    def __init__(self) -> None:
        self.acks: list[str] = []
        self.connections: list[ServerConnection] = []
        self.received: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._changed = threading.Condition()
        self._server: Server | None = None

    def __enter__(self) -> FakeSocketMode:
        self._server = serve(self._session, "127.0.0.1", 0)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}/link/?ticket=fake"

    def _session(self, connection: ServerConnection) -> None:
        with self._changed:
            self.connections.append(connection)
            self._changed.notify_all()
        connection.send(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "debug_info": {
                        "host": "applink-fake",
                        "build_number": 1,
                        "approximate_connection_time": 3600,
                    },
                    "connection_info": {"app_id": "A0FIXBOT"},
                }
            )
        )
        try:
            for raw in connection:
                message = json.loads(raw)
                with self._changed:
                    self.received.append(message)
                    if set(message) >= {"envelope_id"}:
                        self.acks.append(str(message["envelope_id"]))
                    self._changed.notify_all()
        except ConnectionClosed:
            return

    def _wait(self, predicate: Any, what: str, timeout: float) -> None:
        with self._changed:
            if not self._changed.wait_for(predicate, timeout=timeout):
                raise AssertionError(f"fake Socket Mode: timed out waiting for {what}")

    def wait_for_connections(self, count: int, timeout: float = 15.0) -> None:
        self._wait(lambda: len(self.connections) >= count, f"{count} connection(s)", timeout)

    def wait_for_ack(self, envelope_id: str, timeout: float = 15.0) -> None:
        self._wait(lambda: envelope_id in self.acks, f"the ack of {envelope_id}", timeout)

    def send_event(self, event: dict[str, Any], *, retry_attempt: int = 0) -> str:
        """Deliver an Events API payload on the newest connection; returns its envelope id."""
        envelope_id = f"env-{next(self._ids)}"
        payload = {
            "token": "legacy-verification-token",
            "team_id": "T0001",
            "api_app_id": "A0FIXBOT",
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{envelope_id}",
            "event_time": 1761900000,
            "authorizations": [{"team_id": "T0001", "user_id": "UBOT", "is_bot": True}],
        }
        envelope = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": "events_api",
            "accepts_response_payload": False,
            "retry_attempt": retry_attempt,
            "retry_reason": "",
        }
        self.connections[-1].send(json.dumps(envelope))
        return envelope_id

    def ask_to_refresh(self) -> None:
        """Send `disconnect` (refresh_requested) on the newest connection, as Slack does periodically."""
        self.connections[-1].send(
            json.dumps(
                {"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "applink-fake"}}
            )
        )
