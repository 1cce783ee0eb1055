"""`phoenix:project=NAME`: LLM trace spans from Arize Phoenix's REST API, as log lines.

Reads `GET {endpoint}/v1/projects/{NAME}/spans` (`limit` ≤ 1000, `start_time`, `cursor`; answer
`{"data": [span, ...], "next_cursor": str | null}`) with `Authorization: Bearer $PHOENIX_API_KEY`
when the key is set. Phoenix answers newest first (by insertion id, its default order), so the
cursor is a high-water mark on the span's insertion id (decoded from its Span Global ID, `id`):

    {"hwm": int | None,                                  newest span id fully read
     "drain": {"head": int, "page": str, "since": str},  a walk down to hwm in progress
     "latency": {"LLM:chat": [mean_ms, count], ...}}     each span kind+name's usual latency

A read fetches one page; while the walk has not reached `hwm` (or the end of the lookback window)
the batch says `more` and the cursor holds Phoenix's `next_cursor`, so a restart resumes where it
stopped. Spans arriving late (they are stored when they end) still come after the mark, because
the mark is insertion order, not start time. A read never looks back further than
`lookback_seconds` (the first read, or one after a long outage).

Every span becomes one JSON line that `monitoring.events` parses (see `span_line`): ERROR spans at
level error with their exception's stacktrace as a Python traceback, LLM spans cut by their token
limit (finish reason `length`/`max_tokens`) at warning with "truncated" in the message, spans slower
than `slow_factor` × their own average at warning with "took N s", and the rest at info. The trace
id is in the message (so the incident title and the Slack proposal show it) and, with the span's
name, kind, model and token counts, in the fields. Prompts and outputs are never copied; what is
copied (names, status and exception text) is redacted here, before anything is stored.

HTTP errors become `SourceError`s (401 → `SourceAuthError` naming PHOENIX_API_KEY, 429 →
`SourceRateLimited` with Retry-After, 5xx/unreachable → `SourceUnavailable`, 404/422/bad JSON →
`SourceBadResponse`); the scanner records them with backoff and keeps the cursor.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from monitoring.events import BOT_LOG_MARKER, MAX_LINE_CHARS, RawLine, parse_timestamp
from monitoring.redact import redact
from monitoring.sources.base import (
    Batch,
    SourceAuthError,
    SourceBadResponse,
    SourceRateLimited,
    SourceUnavailable,
)

__all__ = [
    "MAX_LATENCY_KEYS",
    "PAGE_LIMIT",
    "TRUNCATING_FINISH_REASONS",
    "LatencyRule",
    "PhoenixSource",
    "finish_reasons",
    "parse_spec",
    "span_line",
    "span_rowid",
]

# Phoenix rejects limit > 1000 with a 422.
PAGE_LIMIT = 1000
# The latency table is bounded: the least recently seen span names go first.
MAX_LATENCY_KEYS = 500
# Finish reasons that mean "the output was cut by the token limit": OpenAI `length`, Anthropic
# `max_tokens`, Gemini `MAX_TOKENS`, OpenAI Responses `max_output_tokens`.
TRUNCATING_FINISH_REASONS = frozenset({"length", "max_tokens", "max_output_tokens"})
# Kinds whose latency is their own work; CHAIN/AGENT spans add up their children's.
_TIMED_KINDS = frozenset({"LLM", "TOOL", "RETRIEVER", "EMBEDDING", "RERANKER"})
_MAX_NAME = 200
_MAX_TEXT = 500
_MAX_TRACEBACK = 16_000
_MAX_OUTPUT_JSON = 200_000
_FINISH_KEY = re.compile(r"(?:^|\.)finish_reasons?(?:\.\d+)?$")
_SPEC = re.compile(r"^phoenix:project=(?P<project>[^/?#\s]+)$")


def parse_spec(spec: str) -> str:
    """The project identifier (name or Global ID) of `phoenix:project=NAME`; `ValueError` otherwise."""
    match = _SPEC.match(spec)
    if match is None:
        raise ValueError(
            f"phoenix source {spec!r}: expected phoenix:project=NAME (a Phoenix project name or id, "
            "without '/', '?', '#' or spaces), e.g. phoenix:project=support-bot"
        )
    return match.group("project")


def span_rowid(global_id: object) -> int:
    """The insertion id inside a Span Global ID (base64 of `Span:<id>`); `SourceBadResponse` otherwise."""
    try:
        kind, _, number = base64.b64decode(str(global_id), validate=True).decode("ascii").partition(":")
        if kind == "Span" and number.isdigit():
            return int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise SourceBadResponse(
        f"phoenix: span id {str(global_id)[:80]!r} is not a Span Global ID; this source needs a Phoenix "
        "server whose GET /v1/projects/{project}/spans returns `id` (see docs/monitoring.md)"
    )


@dataclass(frozen=True)
class LatencyRule:
    """When a span counts as slower than usual: factor × its average, at least min_ms, after min_samples."""

    factor: float = 3.0
    min_ms: float = 1000.0
    min_samples: int = 20


def _one_line(value: object, limit: int) -> str:
    text = " ".join(str(value).split())
    return redact(text[:limit])


def _number(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):  # json.loads accepts NaN and Infinity
        return int(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


def _reasons_in_output(value: object) -> list[str]:
    # output.value holds the provider's raw answer as JSON for most instrumentations.
    if not isinstance(value, str) or len(value) > _MAX_OUTPUT_JSON or not value.lstrip().startswith("{"):
        return []
    try:
        data = json.loads(value)
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    found: list[str] = []
    for key in ("choices", "candidates"):
        choices = data.get(key)
        for choice in choices if isinstance(choices, list) else []:
            if isinstance(choice, dict):
                reason = choice.get("finish_reason") or choice.get("finishReason")
                if isinstance(reason, str):
                    found.append(reason)
    for key in ("stop_reason", "finish_reason"):
        if isinstance(data.get(key), str):
            found.append(data[key])
    details = data.get("incomplete_details")
    if isinstance(details, dict) and isinstance(details.get("reason"), str):
        found.append(details["reason"])
    return found


def finish_reasons(attributes: Mapping[str, Any]) -> list[str]:
    """Every finish reason a span's attributes report (attributes ending in finish_reason(s), output JSON)."""
    found: list[str] = []
    for key, value in attributes.items():
        if _FINISH_KEY.search(key):
            values = value if isinstance(value, list) else [value]
            found.extend(str(v) for v in values if isinstance(v, str))
    found.extend(_reasons_in_output(attributes.get("output.value")))
    return found


def _exception(events: object) -> tuple[str, str, str]:
    """(type, message, stacktrace) of the span's last `exception` event, or empty strings."""
    last: Mapping[str, Any] | None = None
    for event in events if isinstance(events, list) else []:
        if isinstance(event, dict) and event.get("name") == "exception":
            attributes = event.get("attributes")
            if isinstance(attributes, dict):
                nested = attributes.get("exception")
                last = (
                    nested
                    if isinstance(nested, dict)
                    else {k.removeprefix("exception."): v for k, v in attributes.items()}
                )
    if last is None:
        return "", "", ""
    return str(last.get("type") or ""), str(last.get("message") or ""), str(last.get("stacktrace") or "")


def _mapping(value: object) -> Mapping[str, Any]:
    # Hostile input: a field that should be an object but is not reads as empty.
    return value if isinstance(value, dict) else {}


def _first(attributes: Mapping[str, Any], *keys: str) -> Any:
    return next((attributes[k] for k in keys if attributes.get(k) not in (None, "")), None)


def _span_fields(span: Mapping[str, Any], project: str) -> dict[str, Any]:
    attributes, context = _mapping(span.get("attributes")), _mapping(span.get("context"))
    fields: dict[str, Any] = {
        "span_name": _one_line(span.get("name") or "?", _MAX_NAME),
        "span_kind": _one_line(span.get("span_kind") or "UNKNOWN", 40).upper(),
        "trace_id": _one_line(context.get("trace_id") or "", 64),
        "span_id": _one_line(context.get("span_id") or "", 64),
        "status_code": _one_line(span.get("status_code") or "UNSET", 20).upper(),
        "phoenix_project": project,
    }
    model = _first(attributes, "llm.model_name", "gen_ai.response.model", "gen_ai.request.model")
    if model is not None:
        fields["model"] = _one_line(model, 100)
    for name, keys in (
        ("prompt_tokens", ("llm.token_count.prompt", "gen_ai.usage.input_tokens")),
        ("completion_tokens", ("llm.token_count.completion", "gen_ai.usage.output_tokens")),
        ("total_tokens", ("llm.token_count.total",)),
    ):
        count = _number(_first(attributes, *keys))
        if count is not None:
            fields[name] = count
    return fields


def _latency_ms(span: Mapping[str, Any]) -> float | None:
    start, end = parse_timestamp(span.get("start_time")), parse_timestamp(span.get("end_time"))
    if start is None or end is None or end < start:
        return None
    return (end - start).total_seconds() * 1000.0


def _slower_than_usual(
    key: str, latency: float | None, table: dict[str, list[float]], rule: LatencyRule
) -> float | None:
    """The usual latency when this one is slower than it (and learn this one either way)."""
    if latency is None:
        return None
    mean, count = table.pop(key, [0.0, 0.0])
    slow = count >= rule.min_samples and latency >= max(rule.factor * mean, rule.min_ms)
    # A plain average for the first spans, then a moving one (recent behaviour weighs more).
    weight = max(1.0 / (count + 1), 0.05)
    table[key] = [mean + weight * (latency - mean), count + 1]  # re-inserted: most recently seen last
    while len(table) > MAX_LATENCY_KEYS:
        del table[next(iter(table))]
    return mean if slow else None


def span_line(
    span: Mapping[str, Any],
    project: str,
    latency: dict[str, list[float]],
    rule: LatencyRule = LatencyRule(),
) -> RawLine:
    """One span as a JSON log line (see the module docstring); `latency` learns the span's duration."""
    fields = _span_fields(span, project)
    kind, name, trace = fields["span_kind"], fields["span_name"], fields["trace_id"]
    where = f"{kind} span {name} (trace {trace})"
    took = _latency_ms(span)
    if took is not None:
        fields["span_latency_ms"] = round(took, 1)
    record: dict[str, Any] = {"logger": f"phoenix.{kind.lower()}", "timestamp": span.get("end_time")}
    reasons = finish_reasons(_mapping(span.get("attributes")))
    cut = next((r for r in reasons if r.lower() in TRUNCATING_FINISH_REASONS), None)
    usual = None
    if fields["status_code"] != "ERROR" and kind in _TIMED_KINDS:
        usual = _slower_than_usual(f"{kind}:{name}", took, latency, rule)
    if fields["status_code"] == "ERROR":
        record |= _error_record(span, where)
    elif cut is not None:
        fields["finish_reason"] = _one_line(cut, 40)
        detail = ", ".join(
            part
            for part in (
                f"model {fields['model']}" if "model" in fields else "",
                f"{fields['completion_tokens']} completion tokens" if "completion_tokens" in fields else "",
            )
            if part
        )
        record |= {
            "level": "warning",
            "message": f"{where} output truncated: finish reason {fields['finish_reason']}"
            + (f", {detail}" if detail else ""),
        }
    elif usual is not None and took is not None:
        record |= {
            "level": "warning",
            "message": f"{where} slower than usual: took {took / 1000:.2f}s, usually {usual / 1000:.2f}s",
            # The limit this span broke, judged against its own history here: the detectors treat it
            # as an explicit limit (they see only the slow spans' durations, not the usual ones).
            "limit_ms": round(max(rule.factor * usual, rule.min_ms), 1),
        }
    else:
        record |= {"level": "info", "message": f"{kind} span {name} {fields['status_code'].lower()}"}
    return RawLine(
        _fitted({**fields, **record}),
        timestamp=parse_timestamp(span.get("end_time")),
        level=record["level"],
    )


def _fitted(record: dict[str, Any]) -> str:
    """The record as one JSON line short enough that the parser never cuts it (cut JSON is not JSON)."""
    text = _line(record)
    while len(text) > MAX_LINE_CHARS and record.get("traceback"):
        # Keep the traceback's end: the innermost frames and the exception line.
        over = len(text) - MAX_LINE_CHARS
        traceback = str(record["traceback"])
        cut = traceback[max(over + 64, len(traceback) // 4) :]
        record["traceback"] = cut.partition("\n")[2] or cut  # whole lines only
        text = _line(record)
    return text


def _line(record: dict[str, Any]) -> str:
    # A span is never the bot's own line: the marker (only ever inside a JSON string here) is
    # written as the escape it decodes from, so the folder does not drop the span as ours.
    text = json.dumps(record, default=str, ensure_ascii=False)
    return text.replace(BOT_LOG_MARKER, "\\u005b" + BOT_LOG_MARKER[1:])


def _error_record(span: Mapping[str, Any], where: str) -> dict[str, Any]:
    kind, message, stacktrace = _exception(span.get("events"))
    status = str(span.get("status_message") or "")
    record: dict[str, Any] = {"level": "error"}
    if stacktrace.strip():
        # OpenTelemetry's Python SDK records `traceback.format_exception` text: the parser folds
        # it like a logged traceback, so the fingerprint is the exception type and the own frames.
        # A payload dumped into an exception message must not crowd out the frames; `_fitted`
        # then drops whole lines from the top if the record is still too long.
        lines = [line[: _MAX_TEXT * 2] for line in stacktrace.strip("\n").splitlines()]
        record["traceback"] = redact("\n".join(lines)[-_MAX_TRACEBACK:])
    if kind and not stacktrace.strip():
        detail = f"{kind}: {message}" if message else kind
    else:
        exception_line = next((x for x in reversed(stacktrace.splitlines()) if x[:1].strip()), "")
        detail = message or status or exception_line or "status ERROR"
    first = detail.strip().splitlines()[0] if detail.strip() else "status ERROR"
    record["message"] = f"{where} failed: {_one_line(first, _MAX_TEXT)}"
    if kind:
        record["exception_type"] = _one_line(kind, 200)
    return record


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return redact(response.text[:200])
    detail = body.get("detail", body) if isinstance(body, dict) else body
    return redact(json.dumps(detail, default=str)[:300] if not isinstance(detail, str) else detail[:300])


class PhoenixSource:
    """Spans of one Phoenix project, newest insertion id as the mark.

    Args:
        spec: `phoenix:project=NAME` (`ValueError` otherwise).
        client: the shared HTTP client (its timeouts apply).
        endpoint: the Phoenix base URL, `[services.phoenix] endpoint`.
        api_key: `PHOENIX_API_KEY`, sent as a Bearer token when set.
        lookback_seconds: how far the first read (or one after an outage) looks back.
        rule: when a span is slower than usual.
        wall_clock: injected so tests do not depend on the date.
    """

    def __init__(
        self,
        spec: str,
        *,
        client: httpx.Client,
        endpoint: str,
        api_key: str | None = None,
        lookback_seconds: float = 3600.0,
        rule: LatencyRule = LatencyRule(),
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.project = parse_spec(spec)
        self.spec = spec
        self.client = client
        self.endpoint = endpoint.rstrip("/")
        self._api_key = api_key
        self.lookback = timedelta(seconds=lookback_seconds)
        self.rule = rule
        self._wall_clock = wall_clock

    def _get(self, params: dict[str, str]) -> Any:
        url = f"{self.endpoint}/v1/projects/{quote(self.project, safe='')}/spans"
        headers = {"Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        try:
            response = self.client.get(url, params=params, headers=headers)
        except httpx.TimeoutException as exc:
            raise SourceUnavailable(f"phoenix: timed out talking to {self.endpoint}: {exc}") from exc
        except httpx.TransportError as exc:
            raise SourceUnavailable(f"phoenix: cannot reach {self.endpoint}: {exc}") from exc
        status = response.status_code
        if status == 401:
            missing = "" if self._api_key else " (PHOENIX_API_KEY is not set)"
            raise SourceAuthError(f"phoenix: unauthorized (HTTP 401) — check PHOENIX_API_KEY{missing}")
        if status == 403:
            raise SourceAuthError(
                "phoenix: forbidden (HTTP 403) — the PHOENIX_API_KEY user may not read project "
                f"{self.project!r}"
            )
        if status == 429:
            retry = _retry_after(response)
            raise SourceRateLimited(
                f"phoenix: rate limited (HTTP 429){f', retry after {retry:g}s' if retry else ''}", retry
            )
        if status >= 500:
            raise SourceUnavailable(f"phoenix: server error HTTP {status} from {self.endpoint}")
        if status == 404:
            raise SourceBadResponse(
                f"phoenix: project {self.project!r} not found at {self.endpoint} ({_detail(response)}); "
                "check the source's project= and [services.phoenix] endpoint"
            )
        if status >= 400:
            raise SourceBadResponse(f"phoenix: HTTP {status}: {_detail(response)}")
        try:
            return response.json()
        except ValueError as exc:
            raise SourceBadResponse(f"phoenix: the answer is not JSON: {response.text[:200]!r}") from exc

    def read(self, cursor: dict[str, Any], limit: int) -> Batch:
        """The next page of spans above the mark, oldest first; failures raise `SourceError` only."""
        hwm = cursor.get("hwm")
        hwm = hwm if isinstance(hwm, int) and not isinstance(hwm, bool) else None
        drain = cursor.get("drain") if isinstance(cursor.get("drain"), dict) else None
        latency: dict[str, list[float]] = {
            str(k): [float(v[0]), float(v[1])]
            for k, v in (cursor.get("latency") or {}).items()
            if isinstance(v, list) and len(v) == 2
        }
        now = datetime.fromtimestamp(self._wall_clock(), UTC)
        since = str(drain["since"]) if drain else (now - self.lookback).isoformat()
        params = {"limit": str(max(1, min(limit, PAGE_LIMIT))), "start_time": since}
        if drain and drain.get("page"):
            params["cursor"] = str(drain["page"])
        notes: list[str] = []
        try:
            body = self._get(params)
        except SourceBadResponse as exc:
            if "cursor" not in params or "Invalid cursor" not in str(exc):
                raise
            # The server no longer takes the stored page (e.g. it was upgraded mid-walk): walk again
            # from the newest span down to the mark rather than fail on every scan from now on.
            notes.append(
                f"phoenix: the stored page cursor was refused ({exc}); walking again from the newest span"
            )
            drain, since = None, (now - self.lookback).isoformat()
            params = {"limit": params["limit"], "start_time": since}
            body = self._get(params)
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise SourceBadResponse(f"phoenix: the answer has no data list: {str(body)[:200]}")
        fresh: list[tuple[int, dict[str, Any]]] = []
        reached = False
        for span in body["data"]:
            if not isinstance(span, dict):
                raise SourceBadResponse(f"phoenix: a span is not an object: {str(span)[:200]}")
            # Only the id orders spans; any other odd field is read leniently by span_line.
            rowid = span_rowid(span.get("id"))
            if hwm is not None and rowid <= hwm:
                reached = True  # newest first: everything from here on was read before
                break
            fresh.append((rowid, span))
        head = int(drain["head"]) if drain else (fresh[0][0] if fresh else hwm)
        next_page = body.get("next_cursor")
        lines = [span_line(span, self.project, latency, self.rule) for _, span in reversed(fresh)]
        if reached or not next_page or not fresh:
            return Batch(lines, {"hwm": head, "latency": latency}, notes=notes)
        state = {"head": head, "page": str(next_page), "since": since}
        return Batch(lines, {"hwm": hwm, "drain": state, "latency": latency}, more=True, notes=notes)
