"""`loki:URL?query=LOGQL[&tenant=ORG]`: Loki's `query_range` API, re-reading a window for late lines.

What a real Loki demands (Grafana Loki HTTP API reference, `limits_config` defaults):
- `limit` at most `max_entries_limit_per_query` (5000); above it Loki answers 400. A read asks for
  at most `MAX_ENTRIES` and pages by time: a full page moves the read position to its last
  timestamp and `more` says another page waits.
- `start` before `end`: the window ends `settle_seconds` before now, so a line stamped slightly in
  the future cannot push the position past `end` (Loki answers 400 to start > end).
- A multi-tenant Loki (the default with auth enabled) answers 401 "no org id" without the
  `X-Scope-OrgID` header: `tenant=` in the spec sets it. `LOKI_TOKEN` (environment) is sent as
  `Authorization: Bearer` for a Loki behind an authenticating proxy or Grafana Cloud.

Late lines. Loki accepts lines stamped up to an hour before the newest of their stream (out-of-order
ingestion), and agents retry failed pushes for minutes (Promtail's and Alloy's default backoff gives
up after about 8.5 min). A line that lands after a read passed its timestamp would be missed by a
plain cursor, so every read is a *sweep* of `[edge - overlap, now - settle)`: `edge` is where the
previous complete sweep ended, `overlap_seconds` (per service, default `DEFAULT_OVERLAP_SECONDS`)
how far behind it lines are looked for again. Lines already reported are recognised by a hash of
(timestamp, stream labels, line) and dropped, so each line is reported once.

Cursor (JSON, persisted by the scanner with the detector state):
    {"edge_ns": int, "pos_ns": int | absent, "floor_ns": int, "seen": base64}
`pos_ns` is the next page of a sweep in progress. `seen` packs (timestamp, 64-bit hash) pairs of the
lines reported in the overlap window; older ones are pruned. At most `MAX_SEEN` are kept: when a
service logs more than that within the overlap, the oldest are dropped and `floor_ns` rises past
them, so later sweeps never re-read what they can no longer recognise. The effective overlap then
shrinks (a late line below the floor is missed) but nothing is reported twice.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx

from monitoring.events import RawLine, parse_timestamp, without_escapes
from monitoring.sources._http import send
from monitoring.sources.base import Batch, SourceBadResponse

__all__ = ["DEFAULT_OVERLAP_SECONDS", "DEFAULT_SETTLE_SECONDS", "MAX_ENTRIES", "MAX_SEEN", "LokiSource"]

# Loki's default `max_entries_limit_per_query`.
MAX_ENTRIES = 5000
# How far behind now a read stops (a line stamped in the future must not move the window past now).
DEFAULT_SETTLE_SECONDS = 5.0
# How far behind the previous sweep's end lines are looked for again. 15 min covers an agent's
# whole retry budget (Promtail/Alloy: 10 retries, 0.5 s doubling to 5 min, about 8.5 min) plus its
# batching, at about 4 reads of each line with the default 5-min scan interval. Loki's own
# out-of-order limit is 1 h; `overlap_seconds = "1h"` catches all of it at about 13 reads per line.
DEFAULT_OVERLAP_SECONDS = 900.0
# Hashes kept for the overlap window: 16 bytes each, about 640 KB of cursor JSON at the cap.
MAX_SEEN = 30_000

_ENTRY = struct.Struct(">qQ")
Value = tuple[int, str, Mapping[str, str]]


def line_hash(ns: int, labels: Mapping[str, str], line: str) -> int:
    """A stable 64-bit hash of one Loki entry: its timestamp, its stream's labels and its text."""
    text = json.dumps([ns, sorted(labels.items()), line], ensure_ascii=False)
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class _Seen:
    """The (timestamp, hash) pairs of lines already reported, bounded by time and by `MAX_SEEN`."""

    def __init__(self, packed: str, floor: int, cap: int) -> None:
        raw = base64.b64decode(packed) if packed else b""
        self.entries: dict[int, int] = {h: ns for ns, h in _ENTRY.iter_unpack(raw)}
        self.floor = floor
        self.cap = cap

    def add(self, ns: int, digest: int) -> bool:
        """Remember one line; False when it was already there."""
        if digest in self.entries:
            return False
        self.entries[digest] = ns
        return True

    def prune(self, below: int) -> None:
        """Forget lines older than `below`, then the oldest beyond the cap (raising the floor)."""
        pairs = sorted((ns, h) for h, ns in self.entries.items() if ns >= below)
        if len(pairs) > self.cap:
            kept = pairs[-self.cap :]
            floor = kept[0][0]
            if pairs[-self.cap - 1][0] == floor:
                # Some lines at this very timestamp are forgotten: none of it may be re-read.
                floor += 1
            kept = [(ns, h) for ns, h in kept if ns >= floor]
            self.floor = max(self.floor, floor)
            pairs = kept
        self.entries = {h: ns for ns, h in pairs}

    def pack(self) -> str:
        ordered = sorted((ns, h) for h, ns in self.entries.items())
        return base64.b64encode(b"".join(_ENTRY.pack(ns, h) for ns, h in ordered)).decode("ascii")


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
        overlap_seconds: float = DEFAULT_OVERLAP_SECONDS,
        max_seen: int = MAX_SEEN,
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
        self.overlap_ns = int(overlap_seconds * 1e9)
        self.max_seen = max(1, max_seen)
        self.clock = clock

    def read(self, cursor: dict[str, Any], limit: int) -> Batch:
        """Lines not reported before, oldest first, from at most a few pages of `MAX_ENTRIES`.

        Pages holding only lines already reported (the overlap) are skipped inside one call, so a
        batch without lines means the sweep is done.
        """
        limit = max(1, min(limit, MAX_ENTRIES))
        end = int(self.clock()) - self.settle_ns
        seen, edge, pos = self._state(cursor, end)
        fresh: list[Value] = []
        done = True
        while pos < end:
            values = self._page(pos, end, limit)
            fresh.extend(v for v in values if seen.add(v[0], line_hash(v[0], v[2], v[1])))
            if len(values) < limit:
                break
            last = values[-1][0]
            # The rest of the window starts at the page's last timestamp (its lines there are known);
            # a page that is all one timestamp moves past it rather than asking for it forever.
            pos = last if last > pos else last + 1
            if fresh and pos < end:
                done = False
                break
        if done:
            # The window is read to its end: the next read sweeps again from `end - overlap`.
            edge = max(edge, end)
        # What the next sweep can re-read must stay known; mid-sweep that is at least `pos - overlap`
        # (the sweep will end past `pos`).
        seen.prune((edge if done else pos) - self.overlap_ns)
        lines = [
            RawLine(
                without_escapes(line) if "\x1b" in line else line,
                timestamp=parse_timestamp(ns),
                level=str(labels.get("level", "")),
            )
            for ns, line, labels in fresh
        ]
        state: dict[str, Any] = {"edge_ns": edge, "floor_ns": seen.floor, "seen": seen.pack()}
        if not done:
            state["pos_ns"] = pos
        return Batch(lines, state, more=not done)

    def _state(self, cursor: dict[str, Any], end: int) -> tuple[_Seen, int, int]:
        """The seen set, the last complete sweep's end (0: none yet) and where this read starts."""
        if "edge_ns" not in cursor:
            legacy = int(cursor.get("start_ns") or 0)
            if legacy:
                # A cursor from before the overlap: its line hashes are of another kind, so nothing
                # at or before its position is read again.
                return _Seen("", legacy + 1, self.max_seen), legacy + 1, legacy + 1
            return _Seen("", 0, self.max_seen), 0, end - self.lookback_ns
        seen = _Seen(str(cursor.get("seen") or ""), int(cursor.get("floor_ns") or 0), self.max_seen)
        edge = int(cursor["edge_ns"])
        if "pos_ns" in cursor:
            return seen, edge, int(cursor["pos_ns"])
        return seen, edge, max(edge - self.overlap_ns, seen.floor)

    def _page(self, start: int, end: int, limit: int) -> list[Value]:
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
            values: list[Value] = [
                (int(ns), str(line), _labels(stream.get("stream")))
                for stream in body["data"]["result"]
                for ns, line in stream["values"]
            ]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SourceBadResponse(f"loki: unexpected answer shape ({exc}): {str(body)[:200]}") from exc
        values.sort(key=lambda v: v[0])
        return values


def _labels(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise TypeError(f"stream labels are {type(raw).__name__}, not an object")
    return {str(k): str(v) for k, v in raw.items()}
