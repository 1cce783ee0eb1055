"""`loki:URL?query=LOGQL`: logs from Loki's `query_range` API with a nanosecond cursor.

Cursor: `{"start_ns": int, "seen": [hashes of the lines at start_ns]}`. The first read looks back
`lookback_seconds`. Streams are merged and ordered by timestamp.
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

__all__ = ["LokiSource"]


def _hash(ns: int, line: str) -> str:
    text = f"{ns}\x1f{line}"
    return hashlib.sha1(text.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()[:16]


class LokiSource:
    """One LogQL selector on one Loki server."""

    def __init__(
        self,
        spec: str,
        *,
        client: httpx.Client,
        lookback_seconds: float = 3600.0,
        clock: Any = time.time_ns,
    ) -> None:
        url = spec.removeprefix("loki:")
        parts = urlsplit(url)
        query = parse_qs(parts.query).get("query", [""])[0]
        if not parts.scheme or not parts.netloc or not query:
            raise ValueError(f'loki source {spec!r}: expected loki:http://HOST:3100?query={{app="api"}}')
        self.spec = spec
        self.base = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
        self.query = query
        self.client = client
        self.lookback_ns = int(lookback_seconds * 1e9)
        self.clock = clock

    def read(self, cursor: dict[str, Any], limit: int) -> Batch:
        """Lines with a timestamp at or after the cursor, oldest first."""
        now = int(self.clock())
        start = int(cursor.get("start_ns") or now - self.lookback_ns)
        request = self.client.build_request(
            "GET",
            f"{self.base}/loki/api/v1/query_range",
            params={
                "query": self.query,
                "start": str(start),
                "end": str(now),
                "limit": str(limit),
                "direction": "forward",
            },
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
