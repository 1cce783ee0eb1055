"""A fake Slack Web API on 127.0.0.1: real HTTP, JSON and form bodies, recorded calls, scripted failures.

Speaks the wire format slack_sdk's `WebClient` uses (every method is a POST to `/api/<method>`,
token in `Authorization: Bearer`), serves `files.uploadV2`'s upload URL and `response_url` paths,
and can answer a method with an error (`{"ok": false, "error": ...}`) or HTTP 429 + Retry-After.
Every call is checked against slack_sdk's own method table (`tests.fakes.slack_methods`): an
unknown method or argument gets `unknown_method` / `invalid_arguments` and lands in `refused`.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes.slack_methods import check_call

__all__ = ["FakeSlack", "RecordedCall"]


@dataclass(frozen=True)
class RecordedCall:
    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    raw: bytes


@dataclass
class _Script:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class FakeSlack:
    """Start with `FakeSlack().start()`; point `WebClient(base_url=fake.api_url)` at it."""

    def __init__(
        self,
        *,
        token: str = "xoxb-test-token",  # noqa: S107 - the fake's own test token
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
        app_token: str = "xapp-1-test-app-token",  # noqa: S107 - the fake's own test token
    ) -> None:
        self.token = token
        self.app_token = app_token
        # What apps.connections.open answers (a tests.fakes.socket_mode.FakeSocketMode URL).
        self.socket_url = ""
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.scopes = (
            "app_mentions:read,channels:history,channels:read,chat:write,files:write,usergroups:read"
        )
        self.channels: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.calls: list[RecordedCall] = []
        # Calls that slack_sdk's method table says slack.com would refuse (method, error).
        self.refused: list[tuple[str, str]] = []
        # Messages as they stand now: ts -> {channel, thread_ts, text}; chat.update edits them.
        self.messages: dict[str, dict[str, Any]] = {}
        self.uploads: dict[str, bytes] = {}
        self._scripts: dict[str, list[_Script]] = {}
        self._ts = itertools.count(1)
        self._files = itertools.count(1)
        self._changed = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeSlack:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    # ------------------------------------------------------------------ scripting

    def fail(self, method: str, error: str, *, times: int = 1, **extra: Any) -> None:
        """Answer the next `times` calls of `method` with `{"ok": false, "error": error}` (HTTP 200)."""
        self._scripts.setdefault(method, []).extend(
            _Script(200, {"ok": False, "error": error, **extra}) for _ in range(times)
        )

    def rate_limit(self, method: str, *, retry_after: int = 1, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with HTTP 429 and `Retry-After`."""
        self._scripts.setdefault(method, []).extend(
            _Script(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})
            for _ in range(times)
        )

    def add_channel(
        self, channel_id: str, name: str, *, is_member: bool = True, is_private: bool = False
    ) -> None:
        self.channels[channel_id] = {
            "id": channel_id,
            "name": name,
            "is_member": is_member,
            "is_private": is_private,
        }

    # ------------------------------------------------------------------ inspection

    def calls_to(self, method: str) -> list[RecordedCall]:
        with self._changed:
            return [call for call in self.calls if call.method == method]

    def wait_for(self, predicate: Callable[[FakeSlack], bool], timeout: float = 15.0) -> None:
        """Block until `predicate(self)` holds after some recorded call; AssertionError on timeout."""
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self), timeout=timeout):
                methods = [call.method for call in self.calls]
                raise AssertionError(f"fake Slack never reached the expected state; calls so far: {methods}")

    def thread_lines(self, thread_ts: str) -> list[str]:
        """The lines of every message in the thread `thread_ts` as they read now (after edits)."""
        with self._changed:
            texts = [str(m.get("text", "")) for m in self.messages.values() if m["thread_ts"] == thread_ts]
        return [line for text in texts for line in text.splitlines()]

    def wait_for_calls(self, method: str, count: int = 1, timeout: float = 15.0) -> list[RecordedCall]:
        self.wait_for(lambda fake: len([c for c in fake.calls if c.method == method]) >= count, timeout)
        return self.calls_to(method)

    # ------------------------------------------------------------------ serving

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        path = request.path
        headers = {k.lower(): v for k, v in request.headers.items()}
        if path.startswith("/upload/"):
            self.uploads[path.rsplit("/", 1)[-1]] = raw
            self._record(RecordedCall("upload", {"file_id": path.rsplit("/", 1)[-1]}, headers, raw))
            self._send(request, 200, {"ok": True}, raw_text="OK")
            return
        if path.startswith("/actions/"):
            self._record(RecordedCall("response_url", json.loads(raw or b"{}"), headers, raw))
            self._send(request, 200, {"ok": True}, raw_text="ok")
            return
        method = path.removeprefix("/api/")
        params = self._params(headers.get("content-type", ""), raw)
        call = RecordedCall(method, params, headers, raw)
        expected = self.app_token if method == "apps.connections.open" else self.token
        if headers.get("authorization") != f"Bearer {expected}":
            self._record(call)
            self._send(request, 200, {"ok": False, "error": "invalid_auth"})
            return
        if problem := check_call(method, params):
            # What slack.com answers to a method it does not have or arguments it cannot use.
            self._record(call)
            self.refused.append((method, problem))
            self._send(request, 200, {"ok": False, "error": problem})
            return
        script = self._next_script(method)
        if script is not None:
            self._record(call)
            self._send(request, script.status, script.body, script.headers)
            return
        status, body, extra_headers = self._answer(method, params)
        self._record(call)
        self._send(request, status, body, extra_headers)

    def _next_script(self, method: str) -> _Script | None:
        with self._changed:
            queue = self._scripts.get(method)
            return queue.pop(0) if queue else None

    @staticmethod
    def _params(content_type: str, raw: bytes) -> dict[str, Any]:
        if not raw:
            return {}
        if content_type.startswith("application/json"):
            loaded: dict[str, Any] = json.loads(raw)
            return loaded
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))

    def _answer(  # noqa: PLR0911, PLR0912 - one answer per Web API method
        self, method: str, params: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if method == "auth.test":
            return (
                200,
                {
                    "ok": True,
                    "url": "https://acme.slack.com/",
                    "team": "Acme",
                    "user": "fixbot",
                    "team_id": "T0001",
                    "user_id": self.bot_user_id,
                    "bot_id": self.bot_id,
                    "is_enterprise_install": False,
                },
                {"x-oauth-scopes": self.scopes},
            )
        if method in {"chat.postMessage", "chat.update"}:
            if method == "chat.update" and params.get("ts") not in self.messages:
                return 200, {"ok": False, "error": "message_not_found"}, {}
            ts = params.get("ts") or f"1761900000.{next(self._ts):06d}"
            message = {"type": "message", "text": params.get("text", ""), "ts": ts, "bot_id": self.bot_id}
            with self._changed:
                stored = self.messages.setdefault(
                    ts, {"channel": params.get("channel"), "thread_ts": params.get("thread_ts", "")}
                )
                stored["text"] = params.get("text", "")
            return 200, {"ok": True, "channel": params.get("channel"), "ts": ts, "message": message}, {}
        if method == "apps.connections.open":
            if not self.socket_url:
                return 200, {"ok": False, "error": "internal_error"}, {}
            return 200, {"ok": True, "url": self.socket_url}, {}
        if method == "chat.postEphemeral":
            return 200, {"ok": True, "message_ts": f"1761900000.{next(self._ts):06d}"}, {}
        if method == "conversations.info":
            channel = self.channels.get(str(params.get("channel")))
            if channel is None:
                return 200, {"ok": False, "error": "channel_not_found"}, {}
            needed = "groups:read" if channel["is_private"] else "channels:read"
            if needed not in self.scopes.split(","):
                # As slack.com: the scope the conversation type needs, named in `needed`.
                return 200, {"ok": False, "error": "missing_scope", "needed": needed}, {}
            return 200, {"ok": True, "channel": channel}, {}
        if method == "usergroups.users.list":
            group = str(params.get("usergroup"))
            if group not in self.usergroups:
                return 200, {"ok": False, "error": "no_such_subteam"}, {}
            return 200, {"ok": True, "users": self.usergroups[group]}, {}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._files):05d}"
            return 200, {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}, {}
        if method == "files.completeUploadExternal":
            files = json.loads(params.get("files", "[]"))
            return 200, {"ok": True, "files": files}, {}
        return 200, {"ok": True}, {}

    def _record(self, call: RecordedCall) -> None:
        with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    @staticmethod
    def _send(
        request: BaseHTTPRequestHandler,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
        raw_text: str | None = None,
    ) -> None:
        payload = (raw_text if raw_text is not None else json.dumps(body)).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json; charset=utf-8")
        request.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(payload)
