"""The four detectors and traceback fingerprints, on literal events."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

from hypothesis import example, given, settings
from hypothesis import strategies as st

from core.settings import DetectorThresholds
from monitoring import detect as detect_module
from monitoring.detect import DetectorState, detect, duration_ms, route_for, traceback_fingerprint
from monitoring.events import Frame, LogEvent

NOW = datetime(2026, 10, 20, 3, 0, tzinfo=UTC)
T = DetectorThresholds()


def _frames(*names: str) -> list[Frame]:
    return [Frame("/usr/lib/python3.11/site-packages/httpx/_client.py", 10, "send")] + [
        Frame(f"/app/app/{n}.py", 10 + i, n) for i, n in enumerate(names)
    ]


def test_error_pattern_after_three_repeats() -> None:
    """The same error three times in the window is one high-severity error_pattern."""
    pairs = [
        (
            LogEvent(
                "MCP Tool failed: 500", "error", timestamp=NOW + timedelta(seconds=i), line_number=i + 1
            ),
            "MCP Tool failed: <*>",
        )
        for i in range(3)
    ]
    [anomaly] = detect(pairs, T, DetectorState(started_at=NOW), now=NOW)
    assert ("error_pattern", "high", 3, (1, 2, 3)) == (
        anomaly.kind,
        anomaly.severity,
        anomaly.count,
        anomaly.line_numbers,
    )


def test_errors_spread_beyond_the_window_are_not_a_pattern() -> None:
    """Three errors spread over more than the window do not make an error_pattern."""
    pairs = [(LogEvent("boom", "error", timestamp=NOW + timedelta(hours=i)), "boom") for i in range(3)]
    assert [] == [
        a.kind for a in detect(pairs, T, DetectorState(started_at=NOW), now=NOW) if a.kind == "error_pattern"
    ]


def test_new_error_only_after_the_baseline() -> None:
    """A single unseen error is new only once the baseline period has passed, and only once."""
    pair = (LogEvent("disk full", "error", timestamp=NOW), "disk full")
    young = DetectorState(started_at=NOW - timedelta(minutes=5))
    assert [] == detect([pair], T, young, now=NOW)
    old = DetectorState(started_at=NOW - timedelta(hours=2))
    assert ["new_error"] == [a.kind for a in detect([pair], T, old, now=NOW)]
    assert [] == detect([pair], T, old, now=NOW)


def test_truncation_and_explicit_limits_are_performance() -> None:
    """Repeated truncation warnings, and a duration over its template's explicit limit, are performance."""
    pairs = [
        (LogEvent("request took 2500ms", "info", timestamp=NOW), "request took <*>"),
        (LogEvent("request took 20ms", "info", timestamp=NOW), "request took <*>"),
        (
            LogEvent("Response truncated at 4096 tokens", "warning", timestamp=NOW),
            "Response truncated at <*> tokens",
        ),
        (
            LogEvent("Response truncated at 4096 tokens", "warning", timestamp=NOW),
            "Response truncated at <*> tokens",
        ),
    ]
    limited = DetectorThresholds(slow_templates={"request took": 2000})
    found = detect(pairs, limited, DetectorState(started_at=NOW), now=NOW)
    assert [("performance", 1), ("performance", 2)] == sorted((a.kind, a.count) for a in found)
    # Without a limit a single long duration is no incident: slowness is judged against history.
    assert [2] == [a.count for a in detect(pairs, T, DetectorState(started_at=NOW), now=NOW)]


def test_a_shift_in_typical_duration_is_performance() -> None:
    """An operation at ~100 ms that runs at ~500 ms five times in a row is slow; one outlier is not."""

    def took(ms: float, second: int) -> tuple[LogEvent, str]:
        stamp = NOW + timedelta(seconds=second)
        return LogEvent(f"query took {ms}ms", "info", timestamp=stamp), "query took <*>"

    history = [took(90 + (i % 5) * 5, i) for i in range(40)]
    outlier = [*history, took(900, 41), *(took(100, 42 + i) for i in range(4))]
    assert [] == detect(outlier, T, DetectorState(), now=NOW)
    shifted = [*history, *(took(500, 41 + i) for i in range(5))]
    assert [("performance", 5)] == [(a.kind, a.count) for a in detect(shifted, T, DetectorState(), now=NOW)]


def test_duration_parsing() -> None:
    """Durations come from JSON *_ms fields or `took 2.5s`-style text."""
    assert 2500.0 == duration_ms(LogEvent("took 2.5s"))
    assert 300.0 == duration_ms(LogEvent("done", fields={"duration_ms": 300}))
    # Microseconds and nanoseconds (`time.perf_counter_ns()` differences) under their own names.
    assert 42.0 == duration_ms(LogEvent("done", fields={"duration_us": 42_000}))
    assert 42.0 == duration_ms(LogEvent("done", fields={"duration_ns": 42_000_000}))
    assert None is duration_ms(LogEvent("user 2500 logged in"))


_DURATION_WORDS = st.sampled_from(
    [
        "took",
        "TOOK",
        "duration",
        "Duration ",
        "in",
        "after",
        "elapsed",
        "latency=",
        "time:",
        "slow (",
        " ",
        "  ",
        "\t",
        "2",
        "2.5",
        "45",
        "ms",
        "MS",
        "s",
        "S",
        "\u017f",
        "sec",
        "min",
        "minutes",
        "Milliseconds",
        "x",
        ".",
        "=",
        "(",
        "٣",
        "within",
        "\u212a",
        "\u00a0",
    ]
)


@given(st.one_of(st.text(), st.lists(_DURATION_WORDS, max_size=12).map("".join)))
@example("took 2\u017f")
@example("duration 5ms")  # the longest keyword, right before the number
@example("took 123456789.5ms")  # a long number before the unit
@example("latency =    (5ms")  # separators and a bracket between keyword and number
@example("took 5 then slow = ( 12.5MS")  # the first number-and-unit's keyword is not the first
@example("in 45 \tMilliseconds")
@example("within 5ms")
@example("took((5ms")
@example("time=: (5ms")
@example("latency 1.2.3s then took 4 min")
def test_duration_shortcuts_find_what_the_case_blind_pattern_finds(text: str) -> None:
    """The cheap test in front of the duration pattern passes every text the pattern matches
    (case-blind `s` takes `ſ` too), and the lowercased search of ASCII text reads the same duration
    as the case-blind pattern on the text itself."""
    from monitoring.detect import _DURATION, _milliseconds

    match = _DURATION.search(text)
    assert duration_ms(LogEvent(text)) == (_milliseconds(match) if match else None)


def test_unusual_rate_against_own_baseline() -> None:
    """A warning at 30 a minute for 3 minutes, against its usual one a minute, is unusual; info never is."""

    def minute(level: str, start: int, per_minute: int, minutes: int) -> list[tuple[LogEvent, str]]:
        return [
            (
                LogEvent(
                    "duplicate event, retrying",
                    level,
                    timestamp=NOW + timedelta(seconds=start * 60 + i * 60 / per_minute),
                ),
                "duplicate event, retrying",
            )
            for i in range(per_minute * minutes)
        ]

    usual = minute("warning", 0, 1, 40)
    assert [] == detect(usual, T, DetectorState(), now=NOW)
    burst = usual + minute("warning", 40, 30, 3)
    assert ["unusual"] == [a.kind for a in detect(burst, T, DetectorState(), now=NOW)]
    info = minute("info", 0, 1, 40) + minute("info", 40, 30, 3)
    assert [] == detect(info, T, DetectorState(), now=NOW)


def test_fingerprint_ignores_values_and_line_numbers() -> None:
    """One bug with varying values, or with its lines moved, keeps one fingerprint."""
    a = traceback_fingerprint("KeyError", _frames("views", "payments"))
    moved = [Frame(f.file, f.line + 7, f.function) for f in _frames("views", "payments")]
    assert a == traceback_fingerprint("KeyError", moved)
    elsewhere = [
        Frame("/srv/app/" + f.file.split("/app/")[-1], f.line, f.function) if "/app/app/" in f.file else f
        for f in moved
    ]
    assert a == traceback_fingerprint("KeyError", elsewhere)


def test_two_exceptions_behind_one_message_are_two_incidents() -> None:
    """The same log message with different exceptions gives two error fingerprints."""
    pairs = [
        (
            LogEvent(
                "request failed",
                "error",
                timestamp=NOW,
                exception_type="KeyError",
                frames=_frames("payments"),
                traceback="t",
            ),
            "request failed",
        )
        for _ in range(3)
    ] + [
        (
            LogEvent(
                "request failed",
                "error",
                timestamp=NOW,
                exception_type="TimeoutError",
                frames=_frames("client"),
                traceback="t",
            ),
            "request failed",
        )
        for _ in range(3)
    ]
    found = detect(pairs, T, DetectorState(started_at=NOW), now=NOW)
    assert 2 == len({a.fingerprint for a in found})
    assert {"KeyError", "TimeoutError"} == {a.exception_type for a in found}
    assert [{"file": "/app/app/payments.py", "line": 10, "function": "payments"}] in [
        a.details("file:x")["frames"] for a in found
    ]


def test_state_round_trips_through_json() -> None:
    """Detector state survives being stored as JSON."""
    state = DetectorState(started_at=NOW, rates={"a": 1.5}, known_errors={"f": NOW.isoformat()})
    assert state == DetectorState.from_json(state.to_json())


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=1, max_size=12))
def test_median_is_the_statistics_median(values: list[float]) -> None:
    """The detector's median (taken for every timed event) is exactly `statistics.median`."""
    from monitoring.detect import _median

    assert statistics.median(values) == _median(values)


# Short paths over a few characters: many share a length, digits in the same places, or all but
# one character, which is where a wrong cache key would give one path another's route.
_PATHS = st.text(alphabet="/ab-.%?=é0123456789", max_size=10).map(lambda text: "/" + text)


@settings(max_examples=300)
@given(st.lists(_PATHS, min_size=1, max_size=20), _PATHS)
@example(before=["/a"], path="/b")
@example(before=["/orders/7"], path="/orders/8")
def test_a_cached_route_is_the_route_its_path_has(before: list[str], path: str) -> None:
    """Routes are cached by where a path's digits are, not which: whatever paths were read before,
    a path gets exactly the route it gets from an empty cache."""
    detect_module._ROUTES.clear()
    fresh = route_for("GET", path)
    detect_module._ROUTES.clear()
    for other in before:
        route_for("GET", other)
    assert fresh == route_for("GET", path)


@given(st.integers(min_value=1, max_value=8), st.lists(st.floats(-50, 50) | st.sampled_from([0.0, 1.0, 1.0])))
def test_an_operations_peak_is_the_largest_of_its_recent_durations(size: int, values: list[float]) -> None:
    """The peak the slow-shift test reads first is kept as durations come and go (ties included:
    the oldest copy of the peak dropping out leaves another)."""
    from collections import deque

    history = detect_module._Durations(recent=deque(maxlen=size))
    for value in values:
        history.push(value)
        assert history.peak == max(history.recent)
