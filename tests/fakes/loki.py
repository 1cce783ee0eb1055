"""A fake Loki on 127.0.0.1: `GET /loki/api/v1/query_range` with stream selectors and limits.

Selectors support equality matchers only (`{app="api", level="error"}`), which is what the scanner
sends. `start` is inclusive, `end` exclusive, `direction=forward|backward`, `limit` caps entries.
`fail_next(Failure(...))` scripts errors; `require_token` demands `Authorization: Bearer`.

Loki's own limits are enforced with its default values and error texts (Grafana Loki HTTP API and
`limits_config` reference), so a client that only works against a lenient fake fails here:
`limit` above `max_entries_limit_per_query` (5000) → 400; `end <= start` → 400; a window longer than
`max_query_length` (721h) → 400; with `multi_tenant=True` (auth enabled, Loki's default) a request
without `X-Scope-OrgID` → 401 "no org id", and each tenant sees only its own lines.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from tests.fakes._http import Failure, FakeServer, LocalServer, Reply, Request

__all__ = ["Failure", "FakeLoki"]

_MATCHER = re.compile(r'(\w+)\s*=\s*"([^"]*)"')
MAX_ENTRIES_LIMIT_PER_QUERY = 5000
MAX_QUERY_LENGTH_NS = 721 * 3600 * 10**9


class FakeLoki(FakeServer):
    def __init__(self, *, require_token: str = "", multi_tenant: bool = False) -> None:
        self.require_token = require_token
        self.multi_tenant = multi_tenant
        self.entries: list[tuple[dict[str, str], int, str]] = []
        self.tenant_of: list[str] = []
        self._lock = threading.Lock()
        self._server = LocalServer(self._handle)

    def push(self, labels: dict[str, str], ns: int, line: str, *, tenant: str = "fake") -> None:
        """Store one log line with its stream labels and nanosecond timestamp (for `tenant`)."""
        with self._lock:
            self.entries.append((dict(labels), int(ns), line))
            self.tenant_of.append(tenant)

    def _handle(self, request: Request) -> Reply:  # noqa: PLR0911 - one answer per Loki refusal
        if request.path != "/loki/api/v1/query_range":
            return Reply(404, {"status": "error", "error": "not found"})
        if self.require_token and request.headers.get("authorization") != f"Bearer {self.require_token}":
            return Reply(401, {"status": "error", "error": "unauthorized"})
        tenant = request.headers.get("x-scope-orgid", "")
        if self.multi_tenant and not tenant:
            return Reply(401, raw=b"no org id\n")
        query = request.query.get("query", "")
        if not query.startswith("{"):
            return Reply(400, {"status": "error", "error": "parse error: expected a stream selector"})
        wanted = dict(_MATCHER.findall(query))
        start = int(request.query.get("start", "0"))
        end = int(request.query.get("end", str(2**63)))
        limit = int(request.query.get("limit", "100"))
        if limit > MAX_ENTRIES_LIMIT_PER_QUERY:
            return _bad(
                f"max entries limit per query exceeded, limit > max_entries_limit_per_query "
                f"({limit} > {MAX_ENTRIES_LIMIT_PER_QUERY})"
            )
        if end <= start:
            return _bad("end timestamp must not be before or equal to start time")
        if end - start > MAX_QUERY_LENGTH_NS:
            return _bad("the query time range exceeds the limit (query length: too long, limit: 30d1h)")
        forward = request.query.get("direction", "backward") == "forward"
        with self._lock:
            chosen = [
                e
                for e, owner in zip(self.entries, self.tenant_of, strict=True)
                if all(e[0].get(k) == v for k, v in wanted.items())
                and start <= e[1] < end
                and (not self.multi_tenant or owner == tenant)
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


def _bad(message: str) -> Reply:
    # Loki answers its limit errors as plain text with HTTP 400.
    return Reply(400, raw=message.encode() + b"\n")
