"""The scan masks every secret redaction knows; parsing of the shapes the scanner meets."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.settings import DetectorThresholds
from monitoring.detect import DetectorState
from monitoring.events import RawLine, parse_lines
from monitoring.pipeline import Scanner
from monitoring.redact import redact_event
from tests.monitoring.test_redact import SAMPLES


@pytest.mark.parametrize(("text", "secret"), SAMPLES)
def test_the_scan_masks_every_known_secret(text: str, secret: str) -> None:
    """Every sample of the redaction tests is masked on the scan's path, in message and traceback."""
    event = next(iter(_parse(text)))
    event.traceback = f"Traceback (most recent call last):\nValueError: {text}"
    redacted = redact_event(event)
    assert secret not in redacted.message
    assert secret not in redacted.traceback


def _parse(*lines: str) -> list:  # type: ignore[type-arg]
    return list(parse_lines(RawLine(text, number) for number, text in enumerate(lines, 1)))


def test_exception_group_traceback_names_the_inner_exception() -> None:
    """uvicorn's exception-group traceback folds into its line; the type is the leaf exception."""
    [event] = _parse(
        "ERROR:    Exception in ASGI application",
        "  + Exception Group Traceback (most recent call last):",
        '  |   File "/usr/lib/python3.12/site-packages/anyio/_backends/_asyncio.py", line 767, in __aexit__',
        "  |     raise BaseExceptionGroup(",
        "  | ExceptionGroup: unhandled errors in a TaskGroup (1 sub-exception)",
        "  +-+---------------- 1 ----------------",
        "    | Traceback (most recent call last):",
        '    |   File "/app/api/stats.py", line 17, in average',
        "    |     return total / count",
        "    | ZeroDivisionError: division by zero",
        "    +------------------------------------",
    )
    assert ("error", "ZeroDivisionError", "Exception in ASGI application") == (
        event.level,
        event.exception_type,
        event.message,
    )
    assert [("/app/api/stats.py", "average")] == [(f.file, f.function) for f in event.frames]


def test_uvicorn_access_lines_take_the_time_of_the_line_before() -> None:
    """A uvicorn access line has no time: it gets the last one seen, and its route and status."""
    app, access = _parse(
        "2026-10-20 02:30:01,500 INFO app.web: ready",
        'INFO:     10.0.0.7:51234 - "GET /api/orders/42?x=1 HTTP/1.1" 404 Not Found',
    )
    assert app.timestamp == access.timestamp
    assert ("warning", "GET", "/api/orders/42?x=1", 404) == (
        access.level,
        access.fields["method"],
        access.fields["path"],
        access.fields["status"],
    )


RECORD = json.dumps(
    {
        "event": "payment provider timeout for order 4242",
        "level": "error",
        "logger": "app.payments",
        "timestamp": "2026-10-20T02:30:01.000Z",
        "exception": "Traceback (most recent call last):\n"
        '  File "/app/payments/client.py", line 66, in charge\n'
        "    resp.raise_for_status()\n"
        "httpx.ReadTimeout: timed out",
    }
)


@given(st.integers(min_value=1, max_value=len(RECORD)))
def test_json_cut_anywhere_is_one_event(cut: int) -> None:
    """A structlog line cut at any byte is one event; once its level is in, it is an error."""
    [event] = _parse(RECORD[:cut])
    if cut > RECORD.index('"logger"'):
        assert ("error", "app.payments"[: len(event.logger)]) == (event.level, event.logger)
        assert event.message.startswith("payment provider timeout")


def _scan_log(text: str) -> list[str]:
    """Plain `logging` lines that put `text` where every detector keeps something: a warning burst
    (unusual), repeated errors and a traceback (error_pattern), truncation warnings (performance),
    requests with it in path and query, 5xx included (new value, error share), and INFO traffic."""
    start = datetime(2026, 10, 20, 2, 0, tzinfo=UTC)

    def at(seconds: float) -> str:
        return f"{start + timedelta(seconds=seconds):%Y-%m-%d %H:%M:%S},000"

    lines = [f"{at(m * 60)} WARNING app.cache: refresh slow for {text}" for m in range(40)]
    lines += [f"{at(2400 + i * 2)} WARNING app.cache: refresh slow for {text}" for i in range(90)]
    lines += [f"{at(2600 + i)} INFO app.web: request from {text}" for i in range(5)]
    lines += [f"{at(2610 + i)} WARNING app.llm: response truncated for {text}" for i in range(3)]
    lines += [f"{at(2620 + i)} ERROR app.pay: payment failed: {text}" for i in range(3)]
    lines += [f"{at(2630)} ERROR app.pay: unhandled", "Traceback (most recent call last):"]
    lines += ['  File "/app/pay.py", line 3, in charge', f"ValueError: bad card {text}"]
    quoted = quote(text, safe="")  # as a client encodes a query value
    for i in range(40):
        status = 500 if i % 2 else 200
        lines.append(
            f'{at(2640 + i)} INFO uvicorn.access: 10.0.0.1:5 - "GET /u/{quoted}?q={quoted} HTTP/1.1" {status}'
        )
    # A traceback cut short by the end of the scan: its raw lines wait in the state for the next one.
    lines += [f"{at(2700)} ERROR app.pay: retry failed for {text}", "Traceback (most recent call last):"]
    return [*lines, f'  File "/app/pay.py", line 9, in retry  # {text}']


@pytest.mark.parametrize(("text", "secret"), SAMPLES)
def test_no_secret_leaves_a_scan(text: str, secret: str) -> None:
    """A secret in every kind of line a detector keeps is in none of the anomalies (titles, samples,
    templates, tracebacks) nor in the detector state stored for the next scan."""
    state = DetectorState(started_at=datetime(2026, 10, 19, tzinfo=UTC))
    scanner = Scanner(DetectorThresholds(), state, now=datetime(2026, 10, 20, 3, 0, tzinfo=UTC))
    scanner.feed(RawLine(line, n) for n, line in enumerate(_scan_log(text), 1))
    anomalies = scanner.suspend()
    assert {"unusual", "error_pattern", "performance"} <= {a.kind for a in anomalies}
    assert 3 == len(state.carry)
    kept = json.dumps([a.as_json() for a in anomalies]) + json.dumps(state.to_json())
    assert secret not in kept


def test_long_unique_paths_keep_routes_short_and_secrets_out() -> None:
    """Probes with 8 KB paths (each unique, a token placed across the cut) and long query strings:
    every route a detector keeps is at most `ROUTE_CHARS` (+ the ellipsis), none holds the token,
    and the route cache keeps no long path as a key (memory would grow with such a log)."""
    from monitoring.detect import _ROUTES, ROUTE_CHARS

    token = "xoxb-2816412345-5078123456789-AbCdEfGhIjKlMnOpQrStUvWx"
    scanner = Scanner(DetectorThresholds(), DetectorState(), now=datetime(2026, 10, 20, 3, 0, tzinfo=UTC))
    lines = []
    for n in range(2_000):
        probe = f"/p{'a' * (ROUTE_CHARS - 20)}/{token}/{'b' * 8000}{n:05d}"
        query = f"/search?q={'c' * 8000}{n:05d}"
        stamp = f"2026-10-20 02:{n // 60 % 60:02d}:{n % 60:02d},000"
        lines.append(f'{stamp} INFO uvicorn.access: 10.0.0.1:5 - "GET {probe} HTTP/1.1" 404')
        lines.append(f'{stamp} INFO uvicorn.access: 10.0.0.1:5 - "GET {query} HTTP/1.1" 200')
    scanner.feed([RawLine(line, n) for n, line in enumerate(lines, 1)])
    scanner.finish()
    routes = [key[1] for key in scanner.detector._series if key[0] == "route"]
    assert routes
    assert max(len(route) for route in routes) <= ROUTE_CHARS + 1
    assert not any("xoxb-2816" in route for route in routes)
    assert max((len(path) for _, path in _ROUTES), default=0) <= ROUTE_CHARS


def test_a_flood_of_unique_routes_is_counted_within_the_key_cap() -> None:
    """60,000 requests to distinct word-only paths (a scanner walking a site): the detector's
    per-key tables stop at their cap instead of growing with the log."""
    from monitoring import detect

    scanner = Scanner(DetectorThresholds(), DetectorState(), now=datetime(2026, 10, 20, 3, 0, tzinfo=UTC))
    words = [f"{a}{b}{c}" for a in "abcdefghij" for b in "klmnopqrst" for c in "uvwxyzabcd"]
    lines = [
        f'2026-10-20 02:{n // 1000 % 60:02d}:{n // 20 % 50:02d},000 INFO uvicorn.access: 10.0.0.1:5 - "GET '
        f'/{words[n % 1000]}/{words[n // 1000 % 1000]}/x HTTP/1.1" 200'
        for n in range(60_000)
    ]
    assert detect.MAX_KEYS == scanner.detector.max_keys == 50_000
    scanner.detector.max_keys = 5_000  # the same code path as the real cap, in a fraction of the time
    scanner.feed([RawLine(line, n) for n, line in enumerate(lines, 1)])
    scanner.finish()
    tables = scanner.detector
    assert 60_000 == scanner.events
    assert len(tables._series) <= 5_000
    assert len(tables._values) <= 5_000
    assert len(tables._seen) <= 2 * 5_000
    assert len(tables._settled) <= 5_000
