"""A fake Loki on 127.0.0.1: `GET /loki/api/v1/query_range` with stream selectors and limits.

Selectors support equality matchers only (`{app="api", level="error"}`), which is what the scanner
sends. `start` is inclusive, `end` exclusive, `direction=forward|backward`, `limit` caps entries.
`fail_next(Failure(...))` scripts errors; `require_token` demands `Authorization: Bearer`.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from tests.fakes._http import Failure, LocalServer, Reply, Request

__all__ = ["Failure", "FakeLoki"]

_MATCHER = re.compile(r'(\w+)\s*=\s*"([^"]*)"')


class FakeLoki:
    def __init__(self, *, require_token: str = "") -> None:
        self.require_token = require_token
        self.entries: list[tuple[dict[str, str], int, str]] = []
        self._lock = threading.Lock()
        self._server = LocalServer(self._handle)

    def __enter__(self) -> FakeLoki:
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
        self._server.fail_next(*failures)

    def push(self, labels: dict[str, str], ns: int, line: str) -> None:
        """Store one log line with its stream labels and nanosecond timestamp."""
        with self._lock:
            self.entries.append((dict(labels), int(ns), line))

    def _handle(self, request: Request) -> Reply:
        if request.path != "/loki/api/v1/query_range":
            return Reply(404, {"status": "error", "error": "not found"})
        if self.require_token and request.headers.get("authorization") != f"Bearer {self.require_token}":
            return Reply(401, {"status": "error", "error": "unauthorized"})
        query = request.query.get("query", "")
        if not query.startswith("{"):
            return Reply(400, {"status": "error", "error": "parse error: expected a stream selector"})
        wanted = dict(_MATCHER.findall(query))
        start = int(request.query.get("start", "0"))
        end = int(request.query.get("end", str(2**63)))
        limit = int(request.query.get("limit", "100"))
        forward = request.query.get("direction", "backward") == "forward"
        with self._lock:
            chosen = [
                e
                for e in self.entries
                if all(e[0].get(k) == v for k, v in wanted.items()) and start <= e[1] < end
            ]
        chosen.sort(key=lambda e: e[1], reverse=not forward)
        chosen = chosen[:limit]
        streams: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
        for labels, ns, line in chosen:
            key = tuple(sorted(labels.items()))
            streams.setdefault(key, {"stream": labels, "values": []})["values"].append([str(ns), line])
        return Reply(
            200, {"status": "success", "data": {"resultType": "streams", "result": list(streams.values())}}
        )
