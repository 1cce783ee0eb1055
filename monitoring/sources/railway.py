"""`railway:deployment=ID` | `railway:environment=ID`: logs from Railway's public GraphQL API.

Cursor: `{"after": RFC 3339 timestamp, "seen": [hashes of the lines at that timestamp]}`; the
next read asks for logs from `after` on and drops the ones already seen. Without a cursor the
newest `limit` lines are read.

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
import time
from collections.abc import Callable
from typing import Any

import httpx

from core.settings import Secrets
from monitoring.events import RawLine, parse_timestamp
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
    "DEPLOYMENT_LOGS",
    "ENVIRONMENT_LOGS",
    "MAX_RETRIES",
    "MAX_WAIT_SECONDS",
    "PAGE_LIMIT",
    "RailwaySource",
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
ENVIRONMENT_LOGS = """
query EnvironmentLogs($environmentId: String!, $afterDate: String, $afterLimit: Int, $filter: String) {
  environmentLogs(environmentId: $environmentId, afterDate: $afterDate, afterLimit: $afterLimit,
                  filter: $filter) {
    timestamp message severity attributes { key value }
  }
}
"""
_SEVERITY = {"err": "error", "error": "error", "warn": "warning", "warning": "warning", "info": "info"}


def _hash(entry: dict[str, Any]) -> str:
    text = f"{entry.get('timestamp')}\x1f{entry.get('message')}"
    return hashlib.sha1(text.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()[:16]


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
        variables = {"environmentId": self.ident, "afterLimit": limit}
        if after:
            variables["afterDate"] = after
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
        fresh = []
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("timestamp"), str):
                raise SourceBadResponse(f"railway: a log entry has no timestamp: {str(entry)[:200]}")
            if after and entry["timestamp"] < after:
                continue
            if entry["timestamp"] == after and _hash(entry) in seen:
                continue
            fresh.append(entry)
        fresh.sort(key=lambda e: e["timestamp"])
        lines = [self._line(entry) for entry in fresh]
        if fresh:
            last = fresh[-1]["timestamp"]
            at_last = [_hash(e) for e in fresh if e["timestamp"] == last]
            if last == after:
                at_last = [*seen, *at_last]
            cursor = {"after": last, "seen": at_last[-500:]}
        return Batch(lines, dict(cursor), more=len(entries) >= limit)

    @staticmethod
    def _line(entry: dict[str, Any]) -> RawLine:
        message = str(entry.get("message", ""))
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
