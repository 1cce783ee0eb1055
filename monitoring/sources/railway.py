"""`railway:deployment=ID` | `railway:environment=ID`: logs from Railway's public GraphQL API.

Cursor: `{"after": RFC 3339 timestamp, "seen": [hashes of the lines at that timestamp]}`; the
next read asks for logs from `after` on and drops the ones already seen. Without a cursor the
newest `limit` lines are read. Errors come back as HTTP 200 with `errors` (mapped to
`SourceAuthError` for "Not Authorized"), rate limits as 429 with `Retry-After`.

A token is an account/workspace token (`Authorization: Bearer`) or a project token
(`Project-Access-Token`); both come from the environment through `bot.settings.Secrets`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx

from monitoring.events import RawLine, parse_timestamp
from monitoring.sources._http import send
from monitoring.sources.base import Batch, SourceAuthError, SourceBadResponse

__all__ = ["DEPLOYMENT_LOGS", "ENVIRONMENT_LOGS", "PAGE_LIMIT", "RailwaySource"]

PAGE_LIMIT = 1000

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


class RailwaySource:
    """Runtime logs of one deployment, or of a whole environment, after a timestamp cursor."""

    def __init__(
        self,
        spec: str,
        *,
        client: httpx.Client,
        endpoint: str,
        bearer_token: str = "",
        project_token: str = "",
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
        self.headers: dict[str, str] = {}
        if bearer_token:
            self.headers["Authorization"] = f"Bearer {bearer_token}"
        elif project_token:
            self.headers["Project-Access-Token"] = project_token

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
        """Log lines newer than the cursor (oldest first)."""
        if not self.headers:
            raise SourceAuthError(
                "railway: no token; set RAILWAY_API_TOKEN (account/workspace) or RAILWAY_TOKEN (project)"
            )
        # Railway's CLI asks for 500 lines at a time; larger pages are not documented.
        limit = min(limit, PAGE_LIMIT)
        name, query, variables = self._query(cursor, limit)
        request = self.client.build_request(
            "POST",
            self.endpoint,
            json={"query": query, "variables": variables, "operationName": name},
            headers=self.headers,
        )
        body = send(self.client, "railway", request)
        if not isinstance(body, dict):
            raise SourceBadResponse(f"railway: expected a JSON object, got {type(body).__name__}")
        errors = body.get("errors")
        if errors:
            message = "; ".join(str(e.get("message", e)) for e in errors if isinstance(e, dict)) or str(
                errors
            )
            if "not authorized" in message.lower() or "unauthorized" in message.lower():
                raise SourceAuthError(f"railway: {message} — check the token and the {self.kind} id")
            raise SourceBadResponse(f"railway: {message}")
        field = "deploymentLogs" if self.kind == "deployment" else "environmentLogs"
        entries = (body.get("data") or {}).get(field)
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
