"""Streaming: a scan in small chunks finds what one pass finds; a traceback across chunks is one event."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from core.settings import DetectorThresholds, ServiceSettings, Settings
from monitoring.detect import DetectorState
from monitoring.events import RawLine
from monitoring.pipeline import Scanner, analyze
from monitoring.scan import run_scan
from monitoring.sources.file import FileSource
from monitoring.stream import scan_once
from tests.monitoring.service_logs import service_log

NOW = datetime(2026, 10, 21, tzinfo=UTC)
T = DetectorThresholds()
# Tracebacks in every shape (plain, exception group), a truncated-JSON burst is in the json log.
LINES, _ = service_log("mixed", minutes=77, incidents=(1, 2, 3))
RAW = [RawLine(text, number) for number, text in enumerate(LINES, 1)]
WHOLE = [a.as_json() for a in analyze(RAW, T, DetectorState(), now=NOW).anomalies]


def test_the_fixture_holds_the_incidents() -> None:
    """The log used below does hold incidents (the equivalence is not between two empty lists)."""
    assert {"KeyError", "ZeroDivisionError"} <= {a["exception_type"] for a in WHOLE}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=0, max_value=len(RAW)), max_size=40))
def test_chunked_feed_equals_one_pass(cuts: list[int]) -> None:
    """Feeding the same lines in chunks cut anywhere (mid-traceback too) gives the same anomalies."""
    scanner = Scanner(T, DetectorState(), now=NOW)
    bounds = [0, *sorted(cuts), len(RAW)]
    for start, end in pairwise(bounds):
        scanner.feed(RAW[start:end])
    assert WHOLE == [a.as_json() for a in scanner.finish()]


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=1, max_value=400))
def test_file_scan_in_small_batches_equals_one_batch(tmp_path_factory: object, batch: int) -> None:
    """`scan --once` reading a file `batch` lines at a time gives what one big read gives."""
    path = Path(str(tmp_path_factory.mktemp("log"))) / "app.log"  # type: ignore[attr-defined]
    lines, _ = service_log("json", minutes=72, incidents=(1, 3))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    one = [a.as_json() for a in scan_once(FileSource(path), T, now=NOW)]
    many = [a.as_json() for a in scan_once(FileSource(path), T, now=NOW, batch_lines=batch)]
    assert one
    assert one == many


HEAD = """2026-10-20 02:30:00,000 INFO app.web: started
2026-10-20 02:30:01,000 ERROR app.orders: lookup failed for order 42
Traceback (most recent call last):
  File "/app/api/orders.py", line 41, in get_order
"""
TAIL = """    return ORDERS[order_id]['owner']
KeyError: 'owner'
2026-10-20 02:30:02,000 INFO app.web: next
"""


def test_traceback_across_two_scheduled_scans_is_one_event(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    """A traceback whose second half is written after a scan is folded whole by the next scan."""
    log = tmp_path / "app.log"
    log.write_text(HEAD)
    service = ServiceSettings(
        name="api", source=f"file:{log}", repo=str(tmp_path), thresholds=DetectorThresholds(error_repeat=1)
    )
    settings_ = Settings(config_path=None, data_dir=tmp_path, services=(service,))
    first = run_scan(settings_, sessions, service, now=lambda: NOW)
    with log.open("a") as handle:
        handle.write(TAIL)
    second = run_scan(settings_, sessions, service, now=lambda: NOW)
    assert ([], 1) == (first.anomalies, first.events)
    [anomaly] = second.anomalies
    assert ("KeyError", "lookup failed for order 42", [2]) == (
        anomaly.exception_type,
        anomaly.samples[0],
        list(anomaly.line_numbers),
    )
    assert [("/app/api/orders.py", "get_order")] == [(f.file, f.function) for f in anomaly.frames]


def test_traceback_split_between_two_source_reads_is_one_event(tmp_path: Path) -> None:
    """Within one scan, a traceback split across two reads of the source is one event (batch of 3 lines)."""
    log = tmp_path / "app.log"
    log.write_text(HEAD + TAIL)
    found = scan_once(FileSource(log), DetectorThresholds(error_repeat=1), now=NOW, batch_lines=3)
    assert [("error_pattern", "KeyError", 1)] == [(a.kind, a.exception_type, a.count) for a in found]


ERROR_LINE = "2026-10-20 02:30:01,000 ERROR app.orders: lookup failed for order 42\n"
FRAMES = HEAD.split(ERROR_LINE, 1)[1]


def _two_scans(tmp_path: Path, sessions: sessionmaker[Session], first: str, then: str) -> list[list[object]]:
    log = tmp_path / "app.log"
    log.write_text(first)
    service = ServiceSettings(
        name="api", source=f"file:{log}", repo=str(tmp_path), thresholds=DetectorThresholds(error_repeat=1)
    )
    settings_ = Settings(config_path=None, data_dir=tmp_path, services=(service,))
    # The scans run seconds after the error line was written (an older one would not be held).
    now = datetime(2026, 10, 20, 2, 30, 5, tzinfo=UTC)
    reports = [run_scan(settings_, sessions, service, now=lambda: now)]
    with log.open("a") as handle:
        handle.write(then)
    reports.append(run_scan(settings_, sessions, service, now=lambda: now))
    reports.append(run_scan(settings_, sessions, service, now=lambda: now))
    return [[(a.kind, a.exception_type, a.samples[0]) for a in r.anomalies] for r in reports]


def test_error_line_read_last_waits_for_its_traceback(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    """A scan that ends right after `logger.exception`'s message line (its traceback not written yet)
    holds that line: the next scan folds message and traceback into one event, not two."""
    found = _two_scans(
        tmp_path, sessions, "2026-10-20 02:30:00,000 INFO app.web: started\n" + ERROR_LINE, FRAMES + TAIL
    )
    assert [[], [("error_pattern", "KeyError", "lookup failed for order 42")], []] == found


def test_error_line_held_once_is_reported_when_nothing_follows(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    """A service that logs one last error and falls silent: held by one scan, reported by the next."""
    found = _two_scans(tmp_path, sessions, ERROR_LINE, "")
    assert [[], [("error_pattern", "", "lookup failed for order 42")], []] == found


def test_old_error_line_read_last_is_not_held(tmp_path: Path, sessions: sessionmaker[Session]) -> None:
    """An error line read last a day after it was written has no traceback coming: reported at once."""
    log = tmp_path / "app.log"
    log.write_text(ERROR_LINE)
    service = ServiceSettings(
        name="api", source=f"file:{log}", repo=str(tmp_path), thresholds=DetectorThresholds(error_repeat=1)
    )
    report = run_scan(
        Settings(config_path=None, data_dir=tmp_path, services=(service,)), sessions, service, now=lambda: NOW
    )
    assert ["lookup failed for order 42"] == [a.samples[0] for a in report.anomalies]


def _warnings(start_minute: int, per_minute: int, minutes: int) -> list[str]:
    """`duplicate event` warnings, evenly spread, as plain `logging` lines."""
    step = 60 / per_minute
    return [
        f"{(NOW + timedelta(seconds=start_minute * 60 + i * step)):%Y-%m-%d %H:%M:%S},000 "
        f"WARNING app.events: duplicate event {i}, retrying"
        for i in range(per_minute * minutes)
    ]


# 40 quiet minutes (one a minute), then a burst of 30 a minute lasting exactly `sustain_seconds`, or
# half of it (not an incident).
SPIKE = [RawLine(t, n) for n, t in enumerate(_warnings(0, 1, 40) + _warnings(40, 30, 2), 1)]
SHORT = [RawLine(t, n) for n, t in enumerate(_warnings(0, 1, 40) + _warnings(40, 30, 1), 1)]


@settings(max_examples=20, deadline=None)
@given(st.sampled_from([SPIKE, SHORT]), st.floats(min_value=0.01, max_value=0.99))
def test_spike_straddling_two_scheduled_scans_is_judged_as_one_pass(log: list[RawLine], at: float) -> None:
    """Two scheduled scans split anywhere find the burst one pass finds (and no burst where one pass
    finds none): the slot a scan ends in, and the run of high slots, go on in the next scan instead
    of the two halves being judged apart. (Both scans may report it: incidents dedupe by fingerprint.)"""
    whole = {a.kind for a in analyze(log, T, DetectorState(), now=NOW).anomalies}
    cut = max(1, int(len(log) * at))
    state = DetectorState()
    kinds: set[str] = set()
    for part in (log[:cut], log[cut:]):
        # Each scan runs a second after the newest line it reads (scheduled scans keep up).
        last = datetime.fromisoformat(part[-1].text[:19]).replace(tzinfo=UTC)
        scanner = Scanner(T, state, now=last + timedelta(seconds=1))
        scanner.feed(part)
        kinds |= {a.kind for a in scanner.suspend()}
        state = DetectorState.from_json(state.to_json())
    assert ({"unusual"} if log is SPIKE else set()) == whole
    assert whole == kinds


def _scan_state(lines: list[RawLine], chunk: int) -> tuple[list[dict[str, object]], dict[str, object]]:
    state = DetectorState()
    scanner = Scanner(T, state, now=NOW)
    for start in range(0, len(lines), chunk):
        scanner.feed(lines[start : start + chunk])
    anomalies = [a.as_json() for a in scanner.suspend()]
    return anomalies, state.to_json()


def _request_line(fmt: str, second: int, *, path: str, status: int, took: float | None) -> str:
    method = "GET"
    stamp = NOW - timedelta(hours=2) + timedelta(seconds=second)
    if fmt == "json":
        record: dict[str, object] = {"event": "request finished", "level": "info", "logger": "app.access"}
        record |= {"timestamp": stamp.isoformat().replace("+00:00", "Z"), "method": method, "path": path}
        record |= {"status": status} | ({"duration_ms": took} if took is not None else {})
        return json.dumps(record)
    client = f'10.0.0.{second % 250}:5{second % 1000:03d} - "{method} {path} HTTP/1.1" {status}'
    if fmt == "mixed":
        return f"INFO:     {client} OK"  # no time of its own: the line before's
    return f"{stamp:%Y-%m-%d %H:%M:%S},{second % 1000:03d} INFO uvicorn.access: {client}"


def _log_line(fmt: str, second: int, level: str, message: str, **fields: object) -> str:
    """A service's own (not access) line; JSON `fields` are the record's, plain ones its message's."""
    stamp = NOW - timedelta(hours=2) + timedelta(seconds=second)
    if fmt == "json":
        record = {"event": message, "level": level, "logger": "app.jobs"}
        return json.dumps(record | {"timestamp": stamp.isoformat().replace("+00:00", "Z")} | fields)
    took = f" in {fields['duration_ms']}ms" if "duration_ms" in fields else ""
    return f"{stamp:%Y-%m-%d %H:%M:%S},{second % 1000:03d} {level.upper()} app.jobs: {message}{took}"


_CAUGHT = "Traceback (most recent call last):\n  File \"/app/jobs.py\", line 9, in sync\nKeyError: 'tenant'"
_KINDS = st.sampled_from(
    ["ok"] * 6 + ["4xx", "5xx", "debug", "error", "traceback", "marker", "blank", "note", "timed", "caught"]
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["plain", "json", "mixed"]), st.lists(_KINDS, min_size=1, max_size=300))
# Found by this test: an error line kept open by the blank line after it, then a uvicorn request
# (no time of its own), which took the time of the line before the error.
@example("mixed", ["error", "error", "blank", "ok", "traceback"])
def test_one_line_records_read_without_the_folder_equal_the_folder(fmt: str, kinds: list[str]) -> None:
    """A scan reads a line whose next line starts a new record itself, and a successful request
    without making an event; fed one line at a time it cannot (no next line), and the folder reads
    every line. Both give the same anomalies and the same stored state, whatever the lines are:
    timed requests turning slow (kept: their events are made then), failures, debug requests,
    errors, tracebacks after a request, the bot's own lines, blank lines."""
    lines: list[str] = []
    for second, kind in enumerate(kinds):
        path = f"/api/items/{second % 3}"
        # One route turns slow for good after a while: its shift is flagged, and its events made.
        took = 5000.0 + second if second > 120 and path.endswith("/0") else 20.0 + second % 5
        status = {"4xx": 404, "5xx": 503}.get(kind, 200)
        line = _request_line(fmt, second, path=path, status=status, took=took if fmt == "json" else None)
        if kind == "debug" and fmt == "json":
            line = line.replace('"level": "info"', '"level": "debug"')
        elif kind == "error":
            line = f"2026-10-20 22:00:{second % 60:02d},000 ERROR app.api: lookup failed for item {second}"
        elif kind == "marker":
            line = f"2026-10-20 22:00:{second % 60:02d},000 INFO bot.x: [fixbot] scanning"
        elif kind == "blank":
            line = ""
        elif kind == "note":  # an info line reporting no duration: only its time counts
            line = _log_line(fmt, second, "info", f"cache warmed for tenant t{second % 7}")
        elif kind == "timed":  # an operation's duration (a JSON field, or `in 25ms` in the message)
            line = _log_line(fmt, second, "info", "sync finished", duration_ms=25 + (second > 150) * 4000)
        elif kind == "caught":  # an exception logged at info level: an incident all the same
            caught = {"exc_info": _CAUGHT} if fmt == "json" else {}  # else the traceback follows
            line = _log_line(fmt, second, "info", "sync retried", **caught)
        lines.append(line)
        if kind == "traceback" or (kind == "caught" and fmt != "json"):
            lines += [
                "Traceback (most recent call last):",
                '  File "/app/a.py", line 3, in f',
                "KeyError: 'x'",
            ]
    raw = [RawLine(text, number) for number, text in enumerate(lines, 1)]
    one_by_one = _scan_state(raw, 1)
    assert one_by_one == _scan_state(raw, len(raw))
    timed = [second for second, kind in enumerate(kinds) if kind == "ok" and second % 3 == 0]
    if fmt == "json" and len(timed) >= 30 and sum(second > 120 for second in timed) >= 8:
        assert "performance" in {a["kind"] for a in one_by_one[0]}  # the slow route's events were made


def test_an_iterable_of_lines_is_read_in_bounded_slices() -> None:
    """`feed` given a generator (not a list) never holds the whole of it: while a line is pulled,
    the lines already read but not yet scanned stay below one slice."""
    scanner = Scanner(T, DetectorState(), now=NOW)
    ahead: list[int] = []

    def lines() -> Iterator[RawLine]:
        for number in range(1, 50_001):
            ahead.append(number - scanner.events)
            yield RawLine(f"2026-10-20 22:00:{number % 60:02d},000 INFO app.jobs: tick {number}", number)

    scanner.feed(lines())
    scanner.finish()
    assert 50_000 == scanner.events
    assert max(ahead) <= 10_001
