"""A fake Arize Phoenix on 127.0.0.1: `GET /v1/projects/{project_identifier}/spans`, the real shapes.

What it mirrors from Phoenix's `routers/v1/spans.py::span_search`: spans ordered by insertion id,
newest first; `limit` 1..1000 (default 100) and `start_time`/`end_time` (inclusive/exclusive, on
the span's start) validated like FastAPI does (422 with a `detail` list); `cursor` is the Span
Global ID of the first span of the next page (`id <= cursor`), anything else is a 422 "Invalid
cursor"; the answer is `{"data": [...], "next_cursor": str | null}` with each span's `id`,
`name`, `context`, `span_kind` (popped from `openinference.span.kind`), `parent_id`,
`start_time`, `end_time`, `status_code`, `status_message`, flattened `attributes` and `events`.
The project is found by name or by Project Global ID (404 otherwise). With `api_key` set, a
request without `Authorization: Bearer <key>` gets a 401.

Stricter than the real server on purpose: an unknown query parameter is a 422 here, while FastAPI
ignores it — a typo in our own parameter names would otherwise silently return every span.
`fail_next(Failure(...))` scripts 429/5xx answers.
"""

from __future__ import annotations

import base64
import itertools
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes._http import Failure, FakeServer, LocalServer, Reply, Request

__all__ = ["Failure", "FakePhoenix", "global_id", "python_traceback"]

_KNOWN_PARAMS = {
    "cursor",
    "limit",
    "sort",
    "order",
    "start_time",
    "end_time",
    "trace_id",
    "span_id",
    "parent_id",
    "name",
    "span_kind",
    "status_code",
    "attribute",
}
_STATUS_CODES = {"OK", "ERROR", "UNSET"}


def global_id(kind: str, rowid: int) -> str:
    """A Relay Global ID as Phoenix (strawberry) writes it: base64 of `Kind:rowid`."""
    return base64.b64encode(f"{kind}:{rowid}".encode()).decode()


def python_traceback(exc_type: str, message: str, frames: list[tuple[str, int, str]]) -> str:
    """What OpenTelemetry's Python SDK stores in `exception.stacktrace` (traceback.format_exception)."""
    lines = ["Traceback (most recent call last):"]
    for file, line, function in frames:
        lines += [f'  File "{file}", line {line}, in {function}', "    ..."]
    return "\n".join([*lines, f"{exc_type}: {message}"]) + "\n"


def _unprocessable(loc: str, msg: str, value: str, kind: str) -> Reply:
    return Reply(422, {"detail": [{"type": kind, "loc": ["query", loc], "msg": msg, "input": value}]})


def _parse_time(value: str) -> datetime | None:
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


class _Refused(Exception):
    def __init__(self, reply: Reply) -> None:
        self.reply = reply


def _validate(query: dict[str, str]) -> tuple[int, dict[str, datetime], int | None]:
    """(limit, time bounds, cursor's insertion id) of a query, or `_Refused` with FastAPI's 422."""
    unknown = sorted(set(query) - _KNOWN_PARAMS)
    if unknown:
        raise _Refused(
            _unprocessable(unknown[0], "unknown query parameter (fake Phoenix is strict)", "", "extra")
        )
    raw_limit = query.get("limit", "100")
    if not raw_limit.lstrip("-").isdigit():
        raise _Refused(_unprocessable("limit", "Input should be a valid integer", raw_limit, "int_parsing"))
    limit = int(raw_limit)
    if limit <= 0:
        raise _Refused(_unprocessable("limit", "Input should be greater than 0", raw_limit, "greater_than"))
    if limit > 1000:
        raise _Refused(
            _unprocessable(
                "limit", "Input should be less than or equal to 1000", raw_limit, "less_than_equal"
            )
        )
    bounds: dict[str, datetime] = {}
    for key in ("start_time", "end_time"):
        if key in query:
            parsed = _parse_time(query[key])
            if parsed is None:
                raise _Refused(
                    _unprocessable(
                        key, "Input should be a valid datetime", query[key], "datetime_from_date_parsing"
                    )
                )
            bounds[key] = parsed
    if query.get("status_code", "OK") not in _STATUS_CODES:
        raise _Refused(Reply(422, {"detail": f"Invalid status_code value(s): {query['status_code']}"}))
    top: int | None = None
    if "cursor" in query:
        try:
            kind, _, number = base64.b64decode(query["cursor"], validate=True).decode().partition(":")
            if kind != "Span" or not number.isdigit():
                raise ValueError(kind)
            top = int(number)
        except ValueError:
            raise _Refused(Reply(422, {"detail": "Invalid cursor"})) from None
    return limit, bounds, top


class FakePhoenix(FakeServer):
    def __init__(self, *, api_key: str = "", projects: tuple[str, ...] = ("default",)) -> None:
        self.api_key = api_key
        self.projects = {name: number for number, name in enumerate(projects, start=1)}
        self.spans: list[tuple[int, str, dict[str, Any]]] = []  # (rowid, project, span without id)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = LocalServer(self._handle)

    # -- storing spans (what the service's tracer would export) ------------------------------
    def add_span(
        self,
        name: str,
        *,
        project: str = "default",
        kind: str = "LLM",
        start: datetime,
        duration_ms: float = 100.0,
        status_code: str = "OK",
        status_message: str = "",
        attributes: dict[str, Any] | None = None,
        events: list[dict[str, Any]] | None = None,
        trace_id: str = "",
    ) -> dict[str, Any]:
        """Store a span (its next insertion id); returns it as the API will show it."""
        with self._lock:
            rowid = next(self._ids)
            flat = {"openinference.span.kind": kind, **(attributes or {})}
            span = {
                "name": name,
                "context": {"trace_id": trace_id or f"{rowid:032x}", "span_id": f"{rowid:016x}"},
                "span_kind": flat.pop("openinference.span.kind"),
                "parent_id": None,
                "start_time": start.isoformat(),
                "end_time": (start + timedelta(milliseconds=duration_ms)).isoformat(),
                "status_code": status_code,
                "status_message": status_message,
                "attributes": flat,
                "events": events or [],
            }
            self.spans.append((rowid, project, span))
        return {"id": global_id("Span", rowid), **span}

    def add_error_span(
        self, name: str, *, start: datetime, exc_type: str, message: str, stacktrace: str = "", **kw: Any
    ) -> dict[str, Any]:
        """An ERROR span with the `exception` event OpenTelemetry's `record_exception` adds."""
        attributes = {"exception.type": exc_type, "exception.message": message, "exception.escaped": "False"}
        if stacktrace:
            attributes["exception.stacktrace"] = stacktrace
        event = {"name": "exception", "timestamp": start.isoformat(), "attributes": attributes}
        return self.add_span(
            name,
            start=start,
            status_code="ERROR",
            status_message=f"{exc_type}: {message}",
            events=[event],
            **kw,
        )

    # -- the API -----------------------------------------------------------------------------
    def _project(self, identifier: str) -> str | None:
        if identifier in self.projects:
            return identifier
        try:
            kind, _, number = base64.b64decode(identifier, validate=True).decode().partition(":")
        except ValueError:
            return None
        return next((n for n, i in self.projects.items() if kind == "Project" and str(i) == number), None)

    def _handle(self, request: Request) -> Reply:
        parts = request.path.split("/")
        if (
            request.method != "GET"
            or len(parts) != 5
            or parts[1:3] != ["v1", "projects"]
            or parts[4] != "spans"
        ):
            return Reply(404, {"detail": "Not Found"})
        if self.api_key and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return Reply(401, raw=b"Invalid token")
        try:
            limit, bounds, top = _validate(request.query)
        except _Refused as refused:
            return refused.reply
        query = request.query
        status = query.get("status_code")
        project = self._project(parts[3])
        if project is None:
            return Reply(404, {"detail": f"Project with name {parts[3]!r} not found"})
        with self._lock:
            rows = sorted(((r, s) for r, p, s in self.spans if p == project), key=lambda row: -row[0])
        chosen = [
            (rowid, span)
            for rowid, span in rows
            if (top is None or rowid <= top)
            and ("start_time" not in bounds or _parse_time(span["start_time"]) >= bounds["start_time"])  # type: ignore[operator]
            and ("end_time" not in bounds or _parse_time(span["start_time"]) < bounds["end_time"])  # type: ignore[operator]
            and (status is None or span["status_code"] == status)
            and ("span_kind" not in query or span["span_kind"] == query["span_kind"])
        ][: limit + 1]
        next_cursor = global_id("Span", chosen[limit][0]) if len(chosen) == limit + 1 else None
        data = [{"id": global_id("Span", rowid), **span} for rowid, span in chosen[:limit]]
        return Reply(200, {"data": data, "next_cursor": next_cursor})
