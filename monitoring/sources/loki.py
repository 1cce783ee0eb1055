"""`loki:URL?query=LOGQL[&tenant=ORG]`: logs from Loki's `query_range` API with a nanosecond cursor.

Cursor: `{"start_ns": int, "seen": [hashes of the lines at start_ns]}`. The first read looks back
`lookback_seconds`. Streams are merged and ordered by timestamp.

What a real Loki demands (Grafana Loki HTTP API reference, `limits_config` defaults):
- `limit` at most `max_entries_limit_per_query` (5000); above it Loki answers 400. A read asks for
  at most `MAX_ENTRIES` and pages by time: the cursor moves to the last timestamp and `more` says
  another page waits.
- `start` before `end`: the window ends `settle_seconds` before now, so a line stamped slightly in
  the future cannot push the cursor past `end` (Loki answers 400 to start > end); when the cursor is
  already there the read asks nothing. The settle delay also lets lines that are written a little
  late (out-of-order ingestion) land before the window passes them.
- A multi-tenant Loki (the default with auth enabled) answers 401 "no org id" without the
  `X-Scope-OrgID` header: `tenant=` in the spec sets it. `LOKI_TOKEN` (environment) is sent as
  `Authorization: Bearer` for a Loki behind an authenticating proxy or Grafana Cloud.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx

from monitoring.events import RawLine, parse_timestamp
from monitoring.sources._http import send
from monitoring.sources.base import Batch, SourceBadResponse

__all__ = ["DEFAULT_SETTLE_SECONDS", "MAX_ENTRIES", "LokiSource"]

# Loki's default `max_entries_limit_per_query`.
MAX_ENTRIES = 5000
# How far behind now a read stops; lines arriving later than this behind their stamp are missed.
DEFAULT_SETTLE_SECONDS = 5.0


def _hash(ns: int, line: str) -> str:
    text = f"{ns}\x1f{line}"
    return hashlib.sha1(text.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()[:16]


class LokiSource:
    """One LogQL selector on one Loki server (optionally one tenant of it)."""

    def __init__(
        self,
        spec: str,
        *,
        client: httpx.Client,
        token: str = "",
        lookback_seconds: float = 3600.0,
        settle_seconds: float = DEFAULT_SETTLE_SECONDS,
        clock: Any = time.time_ns,
    ) -> None:
        url = spec.removeprefix("loki:")
        parts = urlsplit(url)
        params = parse_qs(parts.query)
        query = params.get("query", [""])[0]
        if not parts.scheme or not parts.netloc or not query:
            raise ValueError(
                f'loki source {spec!r}: expected loki:http://HOST:3100?query={{app="api"}}[&tenant=ORG]'
            )
        self.spec = spec
        self.base = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
        self.query = query
        self.headers: dict[str, str] = {}
        if tenant := params.get("tenant", [""])[0]:
            self.headers["X-Scope-OrgID"] = tenant
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.client = client
        self.lookback_ns = int(lookback_seconds * 1e9)
        self.settle_ns = int(settle_seconds * 1e9)
        self.clock = clock

    def read(self, cursor: dict[str, Any], limit: int) -> Batch:
        """Lines with a timestamp at or after the cursor, oldest first, at most `MAX_ENTRIES`."""
        limit = max(1, min(limit, MAX_ENTRIES))
        end = int(self.clock()) - self.settle_ns
        start = int(cursor.get("start_ns") or end - self.lookback_ns)
        if start >= end:
            # The cursor is at (or past) the settled edge: nothing to ask yet.
            return Batch([], dict(cursor) if cursor else {"start_ns": start, "seen": []})
        request = self.client.build_request(
            "GET",
            f"{self.base}/loki/api/v1/query_range",
            params={
                "query": self.query,
                "start": str(start),
                "end": str(end),
                "limit": str(limit),
                "direction": "forward",
            },
            headers=self.headers,
        )
        body = send(self.client, "loki", request)
        try:
            if body["status"] != "success":
                raise SourceBadResponse(f"loki: status {body['status']!r}: {body.get('error', '')}")
            streams = body["data"]["result"]
            values = [
                (int(ns), str(line), stream.get("stream") or {})
                for stream in streams
                for ns, line in stream["values"]
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise SourceBadResponse(f"loki: unexpected answer shape ({exc}): {str(body)[:200]}") from exc
        seen = set(cursor.get("seen") or [])
        values.sort(key=lambda v: v[0])
        fresh = [v for v in values if v[0] > start or (v[0] == start and _hash(v[0], v[1]) not in seen)]
        lines = [
            RawLine(line, timestamp=parse_timestamp(ns), level=str(labels.get("level", "")))
            for ns, line, labels in fresh
        ]
        if fresh:
            last = fresh[-1][0]
            at_last = [_hash(ns, line) for ns, line, _ in fresh if ns == last]
            if last == start:
                at_last = [*seen, *at_last]
            cursor = {"start_ns": last, "seen": at_last[-500:]}
        else:
            cursor = {"start_ns": start, "seen": list(seen)}
        return Batch(lines, cursor, more=len(values) >= limit)
