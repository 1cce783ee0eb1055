"""JSON records as real logging setups write them: the request and the exception under their keys.

The records are rendered by the real libraries (structlog, python-json-logger, ecs-logging) from
real exceptions, so the field shapes are theirs, not ours."""

from __future__ import annotations

import io
import json
import logging
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import ecs_logging
import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st
from pythonjsonlogger.json import JsonFormatter

from core.settings import DetectorThresholds
from monitoring.detect import DetectorState
from monitoring.events import LogEvent, RawLine, parse_lines
from monitoring.pipeline import analyze
from monitoring.record_fields import exception_lines, request_of
from tests.monitoring.service_logs import match_labels, service_log

NOW = datetime(2026, 10, 21, tzinfo=UTC)


def _orders() -> dict[str, Any]:
    return {}


def _owner_of(order_id: str) -> str:
    return _orders()[order_id]["owner"]


def _handle(order_id: str) -> str:
    try:
        return _owner_of(order_id)
    except KeyError as error:
        raise ValueError(f"order {order_id} has no owner") from error


def _raise_and_log(log: Callable[[], None]) -> None:
    try:
        _handle("o-17")
    except ValueError:
        log()


def _event(line: str) -> LogEvent:
    [event] = parse_lines([RawLine(line, 1)])
    return event


def _structlog_line(*processors: Any) -> str:
    out = io.StringIO()
    logger = structlog.wrap_logger(
        structlog.PrintLogger(out),
        processors=[structlog.processors.add_log_level, *processors, structlog.processors.JSONRenderer()],
    )
    _raise_and_log(lambda: logger.exception("unhandled error in request handler"))
    [line] = out.getvalue().splitlines()
    return line


@pytest.fixture
def stdlib_lines() -> Callable[[logging.Formatter], list[str]]:
    logger = logging.getLogger("tests.record_fields")
    logger.propagate = False
    logger.setLevel(logging.INFO)

    def render(formatter: logging.Formatter) -> list[str]:
        out = io.StringIO()
        handler = logging.StreamHandler(out)
        handler.setFormatter(formatter)
        logger.addHandler(handler)
        try:
            _raise_and_log(lambda: logger.exception("unhandled error in request handler"))
            logger.info(
                "request finished",
                extra={
                    "http.request.method": "GET",
                    "url.path": "/api/orders/7",
                    "http.response.status_code": 502,
                },
            )
        finally:
            logger.removeHandler(handler)
        return out.getvalue().splitlines()

    return render


def _frames(event: LogEvent) -> list[tuple[str, str]]:
    return [(frame.file.rsplit("/", 1)[-1], frame.function) for frame in event.frames]


def test_structlog_dict_tracebacks_fold_like_its_printed_traceback() -> None:
    """structlog's `dict_tracebacks` (exceptions as a list of objects) gives the event the type,
    frames and chain the same exception printed by `format_exc_info` gives."""
    structured = _event(_structlog_line(structlog.processors.dict_tracebacks))
    printed = _event(_structlog_line(structlog.processors.format_exc_info))
    assert "ValueError" == structured.exception_type == printed.exception_type
    assert _frames(structured) == _frames(printed)
    assert ("test_record_fields.py", "_handle") == _frames(structured)[-1]
    assert "The above exception was the direct cause" in structured.traceback
    assert "KeyError: 'o-17'" in structured.traceback
    assert ("error", "unhandled error in request handler") == (structured.level, structured.message)
    # The frames' local variables (structlog renders them) never reach the event.
    assert "order_id" not in structured.traceback


def test_a_structured_traceback_cut_mid_line_keeps_its_exception_type() -> None:
    """A `dict_tracebacks` record cut by a shipper's line limit anywhere after its exception's type
    is an error of that type (so a burst of them is one incident, apart from other types)."""
    line = _structlog_line(structlog.processors.dict_tracebacks)
    end = line.index('"ValueError"') + len('"ValueError"')
    for cut in range(end, len(line) - 1, 23):
        event = _event(line[:cut])
        assert ("error", "ValueError", True) == (event.level, event.exception_type, event.fields["truncated"])


def test_python_json_logger_and_ecs_records(stdlib_lines: Callable[[logging.Formatter], list[str]]) -> None:
    """python-json-logger's `exc_info` and ECS's `error.stack_trace`; ECS's nested `http.*` fields
    make a request (a 502 is an error whatever level the record says)."""
    for formatter in (
        JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"),
        ecs_logging.StdlibFormatter(),
    ):
        error, request = (_event(line) for line in stdlib_lines(formatter))
        assert ("ValueError", "unhandled error in request handler") == (error.exception_type, error.message)
        assert ("test_record_fields.py", "_handle") == _frames(error)[-1]
        assert "tests.record_fields" == error.logger
        if isinstance(formatter, ecs_logging.StdlibFormatter):
            assert {"method": "GET", "status": 502} == {
                k: request.fields.get(k) for k in ("method", "status")
            }
            assert "error" == request.level


def test_traceback_inside_the_message() -> None:
    """Cloud Logging's convention: the traceback appended to the message after a newline."""
    try:
        _handle("o-9")
    except ValueError:
        text = "payment sync failed\n" + traceback.format_exc()
    event = _event(json.dumps({"severity": "ERROR", "message": text}))
    assert ("payment sync failed", "ValueError") == (event.message, event.exception_type)
    assert ("test_record_fields.py", "_handle") == _frames(event)[-1]


def _status_code(record: dict[str, Any]) -> dict[str, Any]:
    record["status_code"] = record.pop("status")
    return record


def _http_url(record: dict[str, Any]) -> dict[str, Any]:
    url = "https://api.example.com" + record.pop("path")
    record["http"] = {"method": record.pop("method"), "url": url, "status_code": record.pop("status")}
    return record


def _ecs_nested(record: dict[str, Any]) -> dict[str, Any]:
    path, _, query = record.pop("path").partition("?")
    record["http"] = {
        "request": {"method": record.pop("method")},
        "response": {"status_code": record.pop("status")},
    }
    record["url"] = {"path": path, **({"query": query} if query else {})}
    return record


def _dotted(record: dict[str, Any]) -> dict[str, Any]:
    record |= {"http.method": record.pop("method"), "url.path": record.pop("path")}
    record["http.status_code"] = record.pop("status")
    return record


def _access_message(record: dict[str, Any]) -> dict[str, Any]:
    # uvicorn's access logger through structlog: the access line is the message, every line INFO.
    request = f"{record.pop('method')} {record.pop('path')} HTTP/1.1"
    record["event"] = f'{record.pop("client")} - "{request}" {record.pop("status")}'
    record["level"] = "info"
    return record


@pytest.mark.parametrize("spelling", [_status_code, _http_url, _ecs_nested, _dotted, _access_message])
def test_request_spellings_find_the_same_incidents(
    spelling: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    """The labelled JSON service log with its request lines re-spelt as other setups write them:
    every labelled incident is still found, and steady requests raise nothing (read as plain
    messages, they raised rate spikes, new errors and shifted durations of `request finished`)."""
    lines, labels = service_log("json", seed=1)
    respelt = []
    for line in lines:
        record = json.loads(line) if line.endswith("}") else None
        respelt.append(
            json.dumps(spelling(record)) if isinstance(record, dict) and "status" in record else line
        )
    assert respelt != lines
    raw = [RawLine(text, number) for number, text in enumerate(respelt, 1)]
    anomalies = analyze(raw, DetectorThresholds(), DetectorState(), now=NOW).anomalies
    assert ([], []) == match_labels(labels, anomalies)


def test_a_secret_in_a_request_url_is_not_kept() -> None:
    """A token in the query string of a failed request's `url` field reaches no anomaly."""
    token = "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
    lines = [
        json.dumps(
            {
                "event": "request finished",
                "level": "info",
                "timestamp": f"2026-10-20T01:{minute:02d}:00Z",
                "http": {
                    "method": "GET",
                    "url": f"https://api.example.com/export?token={token}",
                    "status_code": code,
                },
            }
        )
        for minute, code in [(m, 200) for m in range(40)] + [(41 + m, 503) for m in range(6)]
    ]
    anomalies = analyze(
        [RawLine(text, n) for n, text in enumerate(lines, 1)], DetectorThresholds(), DetectorState(), now=NOW
    ).anomalies
    assert anomalies
    assert all(token not in json.dumps(anomaly.as_json()) for anomaly in anomalies)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=30,
)
_KEYS = st.sampled_from(
    [
        "status",
        "status_code",
        "http",
        "url",
        "path",
        "method",
        "response",
        "request",
        "http.status_code",
        "url.path",
        "exception",
        "frames",
        "exc_type",
        "stack_trace",
        "lineno",
        "filename",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_KEYS | st.text(max_size=8), _JSON, max_size=6), st.text(max_size=60))
def test_hostile_records_are_read_or_refused_never_raised(record: dict[str, Any], message: str) -> None:
    """Any JSON under the keys these readers look at: a request or None, lines or None, no error;
    a request found is a real one (a status from 100 to 599, a path from the root)."""
    request = request_of(record)
    if request is not None:
        method, path, status = request
        assert 100 <= status <= 599
        assert path.startswith("/")
        assert isinstance(method, str)
    for value in record.values():
        lines = exception_lines(value)
        assert lines is None or all(isinstance(line, str) for line in lines)
    # (A record holding the bot's marker anywhere is skipped as the bot's own: no event then.)
    events = list(parse_lines([RawLine(json.dumps({**record, "event": message}), 1)]))
    assert all(isinstance(event.message, str) for event in events)


def test_a_huge_structured_traceback_is_bounded() -> None:
    """A record claiming 10,000 exceptions of 10,000 frames renders at most a few hundred lines."""
    frame = {"filename": "/app/x.py", "lineno": 1, "name": "f"}
    stacks = [{"exc_type": "RecursionError", "exc_value": "deep", "frames": [frame] * 10_000}] * 10_000
    lines = exception_lines(stacks)
    assert lines is not None
    assert len(lines) < 400
    assert "RecursionError: deep" == lines[-1]
