"""A tiny threaded HTTP server on 127.0.0.1 for the fakes (real sockets, real wire formats)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

__all__ = ["Failure", "FakeServer", "LocalServer", "Reply", "Request"]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    """A scripted bad answer for the next request(s): status, raw body, headers."""

    status: int = 500
    raw: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class LocalServer:
    """Serve `handle(request) -> Reply` on 127.0.0.1:<free port> in a background thread."""

    def __init__(self, handle: Callable[[Request], Reply]) -> None:
        self._handle = handle
        self.requests: list[Request] = []
        self.failures: list[Failure] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query={k: v[-1] for k, v in parse_qs(parts.query).items()},
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                with outer._lock:
                    outer.requests.append(request)
                    failure = outer.failures.pop(0) if outer.failures else None
                if failure is not None:
                    reply = Reply(failure.status, raw=failure.raw, headers=failure.headers)
                else:
                    try:
                        reply = outer._handle(request)
                    except Exception as exc:  # a bug in a fake must show up as a 500, not a hang
                        reply = Reply(500, {"error": f"fake server error: {exc!r}"})
                data = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll interval: shutdown() waits for it (the default 0.5 s adds up over many tests).
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail_next(self, *failures: Failure) -> None:
        """Answer the next requests with these failures, in order."""
        with self._lock:
            self.failures.extend(failures)

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class FakeServer:
    """What a fake built on `LocalServer` shares: a context manager, its URL, its requests, failures.

    Subclasses set `self._server = LocalServer(self._handle)` in `__init__`.
    """

    _server: LocalServer

    def __enter__(self) -> Self:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    @property
    def url(self) -> str:
        return self._server.base_url

    @property
    def requests(self) -> list[Request]:
        return self._server.requests

    def fail_next(self, *failures: Failure) -> None:
        """Answer the next requests with these failures, in order."""
        self._server.fail_next(*failures)
