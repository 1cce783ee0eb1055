"""`railway:deployment=ID` | `railway:environment=ID`: logs from Railway's public GraphQL API.

Cursor: `{"after": RFC 3339 timestamp, "seen": [hashes of the lines at that timestamp]}`; the
next read asks for logs from `after` on and drops the ones already seen (timestamps compared as
instants, not strings). Without a cursor the newest `limit` lines are read. Environment logs use
Railway's anchor window (`ENVIRONMENT_LOGS`).

Requests go through the shared `monitoring.railway_api.RailwayClient` (auth header, `errors` in a
200, 429/5xx retries, pacing). A scheduled scan must not sleep for minutes inside a worker, so the
source asks for few retries with short waits (`MAX_RETRIES`, `MAX_WAIT_SECONDS`) and `fail_fast`:
a 429 whose `Retry-After` is longer becomes `SourceRateLimited(retry_after=…)` at once and the
scanner's cursor backoff waits instead. The client's errors are translated here, so the source
keeps the `SourceError` contract:

    RailwayNotConfigured, RailwayAuthError  → SourceAuthError
    RailwayRateLimited                      → SourceRateLimited (retry_after)
    RailwayNotJSON, RailwayQueryError       → SourceBadResponse
    RailwayUnavailable                      → SourceUnavailable

The token comes from `core.settings.Secrets`: `RAILWAY_TOKEN` (project token, `Project-Access-Token`)
or `RAILWAY_API_TOKEN` (account/workspace token, `Authorization: Bearer`); the project token wins
when both are set (`monitoring.railway_api.auth_headers`).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from core.settings import Secrets
from monitoring.events import RawLine, parse_timestamp, without_escapes
from monitoring.railway_api import (
    RailwayAuthError,
    RailwayClient,
    RailwayError,
    RailwayNotConfigured,
    RailwayNotJSON,
    RailwayQueryError,
    RailwayRateLimited,
    RailwayUnavailable,
    auth_headers,
)
from monitoring.sources.base import (
    Batch,
    SourceAuthError,
    SourceBadResponse,
    SourceError,
    SourceRateLimited,
    SourceUnavailable,
)

__all__ = [
    "AFTER_MARGIN_SECONDS",
    "DEPLOYMENT_LOGS",
    "ENVIRONMENT_LOGS",
    "MAX_RETRIES",
    "MAX_WAIT_SECONDS",
    "PAGE_LIMIT",
    "RailwaySource",
    "instant_ns",
    "source_error",
]

PAGE_LIMIT = 1000
# Bounded retries inside one read: at most ~3 s of backoff, never a long Retry-After.
MAX_RETRIES = 2
MAX_WAIT_SECONDS = 5.0

DEPLOYMENT_LOGS = """
query DeploymentLogs($deploymentId: String!, $limit: Int, $startDate: DateTime) {
  deploymentLogs(deploymentId: $deploymentId, limit: $limit, startDate: $startDate) {
    timestamp message severity attributes { key value }
  }
}
"""
# Railway's environment logs are a window around `anchorDate`: `afterLimit` lines from the anchor
# on, up to `afterDate` (the window's *upper* bound), or `beforeLimit` lines back from it. The CLI
# reads "after a cursor" as anchor=cursor, afterDate=now+margin, and "the latest N" as anchor=now,
# beforeLimit=N (railwayapp/cli src/controllers/deployment.rs; ../shared/reference/railway.md §5).
ENVIRONMENT_LOGS = """
query EnvironmentLogs($environmentId: String!, $anchorDate: String, $afterDate: String,
                      $afterLimit: Int, $beforeLimit: Int, $filter: String) {
  environmentLogs(environmentId: $environmentId, anchorDate: $anchorDate, afterDate: $afterDate,
                  afterLimit: $afterLimit, beforeLimit: $beforeLimit, filter: $filter) {
    timestamp message severity attributes { key value }
  }
}
"""
# How far past "now" the upper bound of an after-cursor window reaches (clock skew, late writes).
AFTER_MARGIN_SECONDS = 300.0
_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9})\d*)?([Zz]|[+-]\d{2}:?\d{2})?$"
)
_SEVERITY = {"err": "error", "error": "error", "warn": "warning", "warning": "warning", "info": "info"}


def _hash(entry: dict[str, Any]) -> str:
    text = f"{entry.get('timestamp')}\x1f{entry.get('message')}"
    return hashlib.sha1(text.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()[:16]


def instant_ns(timestamp: str) -> int | None:
    """Nanoseconds since the epoch for an RFC 3339 timestamp (any offset, up to 9 fraction digits).

    Railway stamps lines with nanoseconds (`…:01.123456789Z`); comparing the strings breaks as soon
    as two stamps differ in offset or in the number of fraction digits, so compare instants.
    """
    match = _RFC3339.match(timestamp.strip())
    if not match:
        return None
    day, hour, minute, second, fraction, zone = match.groups()
    try:
        base = datetime.fromisoformat(f"{day}T{hour}:{minute}:{second}+00:00")
    except ValueError:
        return None
    offset = 0
    if zone and zone not in {"Z", "z"}:
        digits = zone[1:].replace(":", "")
        offset = (int(digits[:2]) * 60 + int(digits[2:])) * 60 * (1 if zone[0] == "+" else -1)
    seconds = int(base.timestamp()) - offset
    return seconds * 1_000_000_000 + int((fraction or "0").ljust(9, "0"))


def _rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _attribute(value: str) -> Any:
    # The CLI strips quotes and JSON-decodes attribute values; accept raw strings as well.
    try:
        return json.loads(value)
    except ValueError:
        return value


def source_error(exc: RailwayError, spec: str) -> SourceError:
    """The `SourceError` for a Railway client error, so the scan records it with backoff."""
    if isinstance(exc, (RailwayNotConfigured, RailwayAuthError)):
        return SourceAuthError(f"railway: {exc} (source {spec})")
    if isinstance(exc, RailwayRateLimited):
        return SourceRateLimited(f"railway: {exc}", exc.retry_after)
    if isinstance(exc, RailwayNotJSON):
        return SourceBadResponse(f"railway: the answer is not JSON; {exc}")
    if isinstance(exc, RailwayUnavailable):
        return SourceUnavailable(f"railway: {exc}")
    if isinstance(exc, RailwayQueryError):
        return SourceBadResponse(f"railway: {exc} (source {spec})")
    return SourceError(f"railway: {exc}")


class RailwaySource:
    """Runtime logs of one deployment, or of a whole environment, after a timestamp cursor.

    Args:
        spec: `railway:deployment=ID` or `railway:environment=ID` (`ValueError` otherwise).
        client: the shared HTTP client (its timeouts apply).
        endpoint: the GraphQL URL, `ServiceSettings.railway.endpoint`.
        secrets: where the token comes from; no token is a `SourceAuthError` at `read`.
        max_retries, max_wait_seconds: the client's bounded retries inside one read.
        sleep, wall_clock: injected so tests neither wait nor depend on the date.
    """

    def __init__(
        self,
        spec: str,
        *,
        client: httpx.Client,
        endpoint: str,
        secrets: Secrets,
        max_retries: int = MAX_RETRIES,
        max_wait_seconds: float = MAX_WAIT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        kind, _, ident = spec.removeprefix("railway:").partition("=")
        if kind not in {"deployment", "environment"} or not ident:
            raise ValueError(
                f"railway source {spec!r}: expected railway:deployment=ID or railway:environment=ID"
            )
        self.spec = spec
        self.kind = kind
        self.ident = ident
        self.client = client
        self.endpoint = endpoint
        self._secrets = secrets
        self._max_retries = max_retries
        self._max_wait = max_wait_seconds
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._railway: RailwayClient | None = None

    def _api(self) -> RailwayClient:
        # Built on first use (no token surfaces at read, as a SourceError); kept for its pacing state.
        if self._railway is None:
            self._railway = RailwayClient(
                self.client,
                endpoint=self.endpoint,
                headers=auth_headers(self._secrets),
                max_retries=self._max_retries,
                max_wait_seconds=self._max_wait,
                fail_fast=True,
                sleep=self._sleep,
                wall_clock=self._wall_clock,
            )
        return self._railway

    def _query(self, cursor: dict[str, Any], limit: int) -> tuple[str, str, dict[str, Any]]:
        after = cursor.get("after")
        if self.kind == "deployment":
            variables: dict[str, Any] = {"deploymentId": self.ident, "limit": limit}
            if after:
                variables["startDate"] = after
            return "DeploymentLogs", DEPLOYMENT_LOGS, variables
        now = self._wall_clock()
        if after:
            variables = {
                "environmentId": self.ident,
                "anchorDate": after,
                "afterDate": _rfc3339(now + AFTER_MARGIN_SECONDS),
                "afterLimit": limit,
            }
        else:
            variables = {"environmentId": self.ident, "anchorDate": _rfc3339(now), "beforeLimit": limit}
        return "EnvironmentLogs", ENVIRONMENT_LOGS, variables

    def read(self, cursor: dict[str, Any], limit: int) -> Batch:
        """Log lines newer than the cursor (oldest first); failures raise `SourceError` only."""
        # Railway's CLI asks for 500 lines at a time; larger pages are not documented.
        limit = min(limit, PAGE_LIMIT)
        name, query, variables = self._query(cursor, limit)
        try:
            data = self._api().query(query, variables, operation=name)
        except RailwayError as exc:
            raise source_error(exc, self.spec) from exc
        field = "deploymentLogs" if self.kind == "deployment" else "environmentLogs"
        entries = data.get(field)
        if not isinstance(entries, list):
            raise SourceBadResponse(f"railway: the answer has no data.{field} list")
        seen = set(cursor.get("seen") or [])
        after = cursor.get("after")
        after_ns = instant_ns(after) if isinstance(after, str) else None
        fresh: list[tuple[int, dict[str, Any]]] = []
        for entry in entries:
            stamp = instant_ns(entry.get("timestamp", "")) if isinstance(entry, dict) else None
            if stamp is None:
                raise SourceBadResponse(f"railway: a log entry has no RFC 3339 timestamp: {str(entry)[:200]}")
            if after_ns is not None and stamp < after_ns:
                continue
            if stamp == after_ns and _hash(entry) in seen:
                continue
            fresh.append((stamp, entry))
        fresh.sort(key=lambda pair: pair[0])
        lines = [self._line(entry) for _, entry in fresh]
        if fresh:
            last_ns, last_entry = fresh[-1]
            at_last = [_hash(e) for ns, e in fresh if ns == last_ns]
            if last_ns == after_ns:
                at_last = [*seen, *at_last]
            cursor = {"after": last_entry["timestamp"], "seen": at_last[-500:]}
        return Batch(lines, dict(cursor), more=len(entries) >= limit)

    @staticmethod
    def _line(entry: dict[str, Any]) -> RawLine:
        message = str(entry.get("message", ""))
        if "\x1b" in message:
            message = without_escapes(message)
        level = _SEVERITY.get(str(entry.get("severity") or "").lower(), "")
        attributes = {
            str(a.get("key")): _attribute(str(a.get("value")))
            for a in entry.get("attributes") or []
            if isinstance(a, dict)
        }
        extra = {k: v for k, v in attributes.items() if k not in {"level", "message"}}
        stamp = parse_timestamp(entry["timestamp"])
        if extra:
            # Structured line: hand the parser one JSON object with the attributes.
            record = {**extra, "message": message, "level": attributes.get("level", level or "info")}
            record.setdefault("timestamp", entry["timestamp"])
            return RawLine(json.dumps(record, default=str), timestamp=stamp, level=level)
        return RawLine(message, timestamp=stamp, level=level)
