"""Parsing log lines into events: shapes, traceback folding, the bot's own lines, bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from core.settings import DetectorThresholds as Thresholds
from monitoring.detect import DetectorState
from monitoring.events import BOT_LOG_MARKER, RawLine, parse_lines, parse_timestamp


def _parse(text: str) -> list:  # type: ignore[type-arg]
    return list(parse_lines(RawLine(t, i) for i, t in enumerate(text.splitlines(), 1)))


TRACEBACK = """2026-10-20 02:30:02,000 ERROR app.payments: charge failed for order 42
Traceback (most recent call last):
  File "/usr/lib/python3.11/site-packages/httpx/_client.py", line 10, in send
    raise X
  File "/app/app/payments.py", line 88, in charge
    resp = client.post(url)
KeyError: 'card'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/app/app/payments.py", line 92, in charge
    raise PaymentError("bad")
app.errors.PaymentError: bad
2026-10-20 02:30:03,000 INFO app.web: next"""


def test_python_logging_line() -> None:
    """Timestamp, level, logger and message come out of a logging line."""
    [event] = _parse("2026-10-20 02:30:01,123 WARNING app.mcp: MCP Tool slow")
    assert ("warning", "app.mcp", "MCP Tool slow") == (event.level, event.logger, event.message)
    assert "2026-10-20T02:30:01.123000+00:00" == event.timestamp.isoformat()


def test_log4j_line_with_a_thread_in_brackets() -> None:
    """A JVM sidecar's log4j line: the thread (spaces and all) is not part of the message."""
    [event] = _parse(
        "2015-10-18 18:01:47,978 ERROR [RMCommunicator Allocator] "
        "org.apache.hadoop.mapreduce.v2.app.rm.RMContainerAllocator: ERROR IN CONTACTING RM."
    )
    assert ("error", "ERROR IN CONTACTING RM.") == (event.level, event.message)
    assert "org.apache.hadoop.mapreduce.v2.app.rm.RMContainerAllocator" == event.logger
    # A Python logger in brackets keeps its message whole (`Error:` is not a class name).
    [python] = _parse("2026-10-20 02:30:01,123 ERROR [app.api] Error: boom")
    assert "Error: boom" in python.message


def test_level_first_then_time() -> None:
    """Django's documented `verbose` format puts the level before the time."""
    [event] = _parse("ERROR 2026-10-20 02:30:01,123 log 7 140 Internal Server Error: /api/orders/5")
    assert ("error", "log 7 140 Internal Server Error: /api/orders/5") == (event.level, event.message)
    assert "2026-10-20T02:30:01.123000+00:00" == event.timestamp.isoformat()


def test_chained_traceback_is_folded_into_its_event() -> None:
    """All lines of a chained traceback belong to the event that logged it; the last exception wins."""
    events = _parse(TRACEBACK)
    assert [1, 15] == [e.line_number for e in events]
    first = events[0]
    assert "app.errors.PaymentError" == first.exception_type
    assert [("/app/app/payments.py", 92, "charge")] == [(f.file, f.line, f.function) for f in first.frames]
    assert "During handling" in first.traceback
    assert "next" == events[1].message


def test_standalone_traceback_is_an_event() -> None:
    """A traceback printed on its own becomes an error event named after its exception line."""
    [event] = _parse(
        "Traceback (most recent call last):\n"
        '  File "/app/x.py", line 1, in <module>\n'
        "ZeroDivisionError: division by zero"
    )
    assert ("error", "ZeroDivisionError: division by zero") == (event.level, event.message)


def test_json_lines_structlog_and_railway() -> None:
    """JSON logs give level, message, logger and timestamp under their usual names."""
    lines = "\n".join(
        [
            json.dumps(
                {
                    "event": "db down",
                    "level": "error",
                    "logger": "app.db",
                    "timestamp": "2026-10-20T02:30:01Z",
                }
            ),
            json.dumps({"message": "ok", "severity": "INFO", "name": "app.web"}),
            json.dumps(
                {
                    "msg": "boom",
                    "levelname": "ERROR",
                    "exc_info": "Traceback (most recent call last):\n"
                    '  File "/app/a.py", line 3, in f\nValueError: x',
                }
            ),
        ]
    )
    events = _parse(lines)
    assert [("error", "app.db", "db down"), ("info", "app.web", "ok"), ("error", "", "boom")] == [
        (e.level, e.logger, e.message) for e in events
    ]
    assert "ValueError" == events[2].exception_type


def test_json_nested_past_the_parsers_depth_is_read_not_raised() -> None:
    """A 10 KB line nested 5,000 deep (under the line limit) once raised RecursionError out of a scan.

    It is hostile input: read for what its first keys say (like a line cut mid-JSON), and the
    values orjson does not take (NaN) still parse as Python's parser reads them."""
    deep = '{"level": "error", "event": "boom", "a": ' + "[" * 5000 + "]" * 5000 + "}"
    nan = json.dumps({"event": "ratio", "level": "warning", "value": float("nan")})
    [first, second] = _parse(f"{deep}\n{nan}")
    assert ("error", "boom") == (first.level, first.message)
    assert ("warning", "ratio") == (second.level, second.message)
    assert second.fields["value"] != second.fields["value"]  # NaN, as json.loads reads it


def test_access_lines() -> None:
    """uvicorn and gunicorn access lines become `METHOD PATH STATUS` with a level from the status."""
    events = _parse(
        'INFO:     127.0.0.1:5000 - "GET /health HTTP/1.1" 503 Service Unavailable\n'
        '10.0.0.1 - - [20/Oct/2026:02:30:01 +0000] "POST /pay HTTP/1.1" 404 12 "-" "curl/8"'
    )
    assert [("error", "GET /health 503"), ("warning", "POST /pay 404")] == [
        (e.level, e.message) for e in events
    ]


def test_unknown_lines_are_kept_and_bot_lines_skipped() -> None:
    """A line of unknown shape is a message; a line with the bot's marker (and its traceback) is not."""
    events = _parse(
        f"some free text\n2026-10-20 02:30:05,000 ERROR bot.scan: {BOT_LOG_MARKER} failed\n"
        'Traceback (most recent call last):\n  File "/bot/x.py", line 1, in f\nValueError: own\n'
        "more free text"
    )
    assert ["some free text", "more free text"] == [e.message for e in events]
    assert [""] * 2 == [e.exception_type for e in events]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80), max_size=30))
def test_every_line_of_plain_text_becomes_an_event(lines: list[str]) -> None:
    """Without tracebacks, every non-blank line yields exactly one event (nothing is dropped)."""
    lines = [line.replace("\n", " ").replace("\r", " ").replace("Traceback", "T") for line in lines]
    lines = [line for line in lines if line.strip() and BOT_LOG_MARKER not in line and not line[0].isspace()]
    events = list(parse_lines(RawLine(t, i) for i, t in enumerate(lines, 1)))
    assert [i for i, _ in enumerate(lines, 1)] == [e.line_number for e in events]


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400))
def test_binary_noise_does_not_crash(data: bytes) -> None:
    """Invalid UTF-8 and control bytes parse into events without raising."""
    text = data.decode("utf-8", "replace")
    events = _parse(text)
    assert len(events) <= len(text.splitlines())


def test_a_megabyte_line_is_cut_not_fatal() -> None:
    """A 1 MB line is parsed (cut to the maximum length) without error."""
    [event] = _parse("ERROR:app:" + "x" * 1_000_000)
    assert event.level == "error"
    assert len(event.message) < 20_000


def _fill(template: str) -> Callable[[tuple[object, ...]], str]:
    return lambda parts: template.format(*parts)


def _two(low: int, high: int) -> st.SearchStrategy[str]:
    """Two digits, nearly always in range, now and then not (hour 24, month 13, second 60)."""
    return st.one_of(st.integers(low, high), st.integers(0, 99)).map("{:02d}".format)


_DATES = st.one_of(
    st.tuples(_two(1, 12), _two(1, 28)).map(_fill("-{}-{}")),  # 2026-10-20
    st.tuples(_two(1, 53), st.integers(1, 7)).map(_fill("-W{}-{}")),  # a week date, 2026-W43-2
    st.tuples(_two(1, 12), _two(1, 28)).map(_fill("{}{}")),  # basic, 20261020
)
_CLOCKS = st.one_of(
    st.tuples(_two(0, 23), _two(0, 59), _two(0, 59)).map(_fill("{}:{}:{}")),  # 02:30:01
    st.tuples(_two(0, 23), _two(0, 59), _two(0, 59)).map(_fill("{}{}{}")),  # basic, 023001
    st.tuples(_two(0, 23), _two(0, 59)).map(_fill("{}:{}")),  # no seconds
)
_TAILS = st.one_of(
    st.sampled_from(["", ".5", ",123", ".123456", ".1234567", "+02:00", "-0130", ".5+00:00", " "]),
    st.text(alphabet="0123456789.,:+-Z \u00b2\u0663", max_size=12),
)


@settings(max_examples=600)
@given(st.integers(1, 9999).map("{:04d}".format), _DATES, st.sampled_from("T "), _CLOCKS, _TAILS)
def test_time_shortcuts_read_what_the_pattern_reads(
    year: str, date: str, sep: str, clock: str, tail: str
) -> None:
    """The shortcuts in front of the ISO pattern (the standard library's parser for `…Z` times, the
    cached split) give what the pattern gives, or both nothing, for times valid or not: week dates,
    basic forms, out-of-range fields, odd fractions and zones."""
    from monitoring.events import _pattern_stamp

    value = year + date + sep + clock + tail
    assert parse_timestamp(value) == _pattern_stamp(value)
    assert parse_timestamp(value + "Z") == _pattern_stamp(value + "Z")


@given(st.one_of(st.floats(), st.integers(), st.text(max_size=40)))
def test_parse_timestamp_never_hangs_or_raises(value: object) -> None:
    """Any number (inf and nan included: a hostile span's `start_time`) or text gives a time or None."""
    stamp = parse_timestamp(value)
    assert stamp is None or stamp.tzinfo is not None


# Characters `str.isdigit` takes and `int` refuses (superscripts, a circled digit, a fraction),
# beside digits `int` reads (ASCII, Arabic-Indic, Devanagari).
_ODD_DIGITS = st.text(
    alphabet=st.sampled_from("0123456789\u00b2\u00b3\u00b9\u2074\u2460\u00bd\u0663\u0966"),
    min_size=1,
    max_size=7,
)
_HOSTILE_SHAPES = [
    "2026-10-20 02:30:01,{} ERROR app.x: charge failed",
    '{{"event": "charge failed", "level": "error", "timestamp": "2026-10-20T02:30:01.{}Z"}}',
    'INFO:     10.0.0.1:5000 - "GET /api/orders HTTP/1.1" {} OK',
    '{{"event": "request finished", "level": "info", "method": "GET", "path": "/a", "status": "{}"}}',
    '{{"event": "request finished", "level": "warning", "path": "/a", "status": "{}", "took_ms": 5}}',
]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(_HOSTILE_SHAPES), _ODD_DIGITS)
def test_digits_int_cannot_read_never_stop_a_scan(shape: str, digits: str) -> None:
    """A time's fraction or a status code written with `²` (a digit to `str.isdigit`, not to `int`)
    is hostile text: the line is still read, one event, and the scan goes on (it raised
    `ValueError` out of the scan)."""
    from monitoring.pipeline import analyze

    line = shape.format(digits)
    assert len(_parse(line)) == 1
    lines = [RawLine(line, 1), RawLine("2026-10-20 02:30:09,000 INFO app.x: next", 2)]
    analysis = analyze(lines, Thresholds(), DetectorState(), now=datetime(2026, 10, 21, tzinfo=UTC))
    assert analysis.events == 2


@given(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31)),
    st.sampled_from([",", "."]),
)
def test_logging_line_time_equals_the_iso_parse(when: datetime, sep: str) -> None:
    """The split-based fast path of a `logging` line reads the same instant the ISO parser reads."""
    millis = f"{when.microsecond // 1000:03d}"
    text = f"{when:%Y-%m-%d %H:%M:%S}{sep}{millis} INFO app.x: hello"
    [event] = parse_lines([RawLine(text, 1)])
    assert parse_timestamp(text[:23].replace(",", ".")) == event.timestamp
    assert event.timestamp is not None
    assert event.timestamp.microsecond == int(millis) * 1000


@given(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31)),
    st.sampled_from(["T", " "]),
    st.sampled_from(["%Y-%m-%d{sep}%H:%M:%S.%fZ", "%Y-%m-%d{sep}%H:%M:%S.%f", "%Y-%m-%d{sep}%H:%M:%SZ"]),
)
def test_iso_times_fast_and_by_pattern_agree(when: datetime, sep: str, form: str) -> None:
    """An ISO time read by the cached fast path is the instant the full pattern reads (and with an
    offset the pattern alone reads it, shifted)."""
    text = when.strftime(form.format(sep=sep))
    expected = when.replace(tzinfo=UTC) if "%f" in form else when.replace(microsecond=0, tzinfo=UTC)
    assert expected == parse_timestamp(text)
    assert expected - timedelta(hours=2) == parse_timestamp(text.rstrip("Z") + "+02:00")


_RECORD_KEYS = st.sampled_from(
    [
        "message",
        "event",
        "msg",
        "log",
        "logger",
        "name",
        "level",
        "severity",
        "timestamp",
        "time",
        "status",
        "status_code",
        "path",
        "url",
        "method",
        "duration_ms",
        "took_ms",
        "exc_info",
        "limit_ms",
        "client",
        "user",
    ]
)
_RECORD_VALUES = st.one_of(
    st.sampled_from(["info", "warning", "error", "debug", "GET", "/api/a/1", "2026-10-20T02:30:01.5Z"]),
    st.sampled_from(["took 5ms", "app.x", "Traceback (most recent call last):\nKeyError: 'k'"]),
    st.integers(0, 600),
    st.floats(0, 5000),
    st.none(),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_RECORD_KEYS, _RECORD_VALUES, max_size=9), st.randoms(use_true_random=False))
def test_a_json_records_key_order_never_changes_what_it_reads(record: dict[str, object], rng: object) -> None:
    """What a JSON line reads depends on its keys, not on their order; the reading of a shape of
    keys is kept for the next line of that shape, so two shapes must never share one."""
    from monitoring.events import LogEvent, OkRequest, parse_one_line_record

    def read(items: list[tuple[str, object]]) -> object:
        text = json.dumps(dict(items))
        found = parse_one_line_record(text, RawLine(text, 1), None)
        if isinstance(found, OkRequest):
            return ("request", *found[:4], *found[5:8])
        if isinstance(found, LogEvent):
            return ("event", found.message, found.level, found.logger, found.timestamp, found.traceback)
        return found

    items = list(record.items())
    first = read(items)
    rng.shuffle(items)  # type: ignore[attr-defined]
    assert read(items) == first
