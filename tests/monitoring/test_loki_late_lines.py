"""Loki lines ingested late are read once: the overlap sweep, its paging, its bound and a restart.

Everything runs against the fake Loki (tests/fakes/loki.py), which enforces Loki's limits; a line
"arrives late" by being pushed after a read has passed its timestamp.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from core.settings import ServiceSettings, Settings
from core.store.db import make_session_factory
from core.store.incidents import list_incidents
from core.store.models import SourceCursor
from monitoring.scan import run_scan
from monitoring.sources import LokiSource, open_source
from monitoring.sources.loki import MAX_ENTRIES
from tests.fakes.loki import FakeLoki

NOW_NS = 1_800_000_000 * 10**9
SECOND = 10**9
MINUTE = 60 * SECOND
QUERY = '{app="api"}'


def _texts(batch: Any) -> list[str]:
    return [line.text for line in batch.lines]


class _Reader:
    """A source read the way the scanner reads it: batches until `more` is off, cursor kept."""

    def __init__(self, source: LokiSource) -> None:
        self.source = source
        self.cursor: dict[str, Any] = {}

    def scan(self) -> list[str]:
        texts: list[str] = []
        while True:
            batch = self.source.read(self.cursor, 50_000)
            self.cursor = batch.cursor
            texts.extend(_texts(batch))
            if not batch.more or not batch.lines:
                return texts


def _source(loki: FakeLoki, http: httpx.Client, now: list[int], **options: Any) -> LokiSource:
    return LokiSource(f"loki:{loki.url}?query={QUERY}", client=http, clock=lambda: now[0], **options)


def test_a_line_delivered_late_is_scanned_exactly_once(fake_loki: FakeLoki, http: httpx.Client) -> None:
    """A line stamped two minutes before the last read's end, ingested afterwards, is read once."""
    now = [NOW_NS]
    fake_loki.push({"app": "api"}, NOW_NS - 3 * MINUTE, "on time")
    reader = _Reader(_source(fake_loki, http, now))
    first = reader.scan()
    fake_loki.push({"app": "api"}, NOW_NS - 2 * MINUTE, "late")
    now[0] += 5 * MINUTE
    second = reader.scan()
    now[0] += 5 * MINUTE
    third = reader.scan()

    assert (["on time"], ["late"], []) == (first, second, third)
    assert all(int(r.query["start"]) < int(r.query["end"]) for r in fake_loki.requests)


def test_the_same_text_in_another_stream_or_at_another_time_is_another_line(
    fake_loki: FakeLoki, http: httpx.Client
) -> None:
    """The hash covers timestamp, stream labels and text: equal text elsewhere is not dropped."""
    now = [NOW_NS]
    fake_loki.push({"app": "api", "pod": "a"}, NOW_NS - 3 * MINUTE, "boom")
    reader = _Reader(_source(fake_loki, http, now))
    first = reader.scan()
    fake_loki.push({"app": "api", "pod": "b"}, NOW_NS - 3 * MINUTE, "boom")
    fake_loki.push({"app": "api", "pod": "a"}, NOW_NS - 3 * MINUTE + 1, "boom")
    now[0] += MINUTE

    assert (["boom"], ["boom", "boom"]) == (first, reader.scan())


def test_a_late_line_behind_more_than_a_page_of_known_lines(fake_loki: FakeLoki, http: httpx.Client) -> None:
    """The overlap holds 12,000 known lines (more than two pages); the late one still comes, alone."""
    now = [NOW_NS]
    start = NOW_NS - 10 * MINUTE
    for i in range(12_000):
        fake_loki.push({"app": "api"}, start + i * 40_000_000, f"line {i}")
    reader = _Reader(_source(fake_loki, http, now))
    first = reader.scan()
    fake_loki.push({"app": "api"}, start + 5 * MINUTE + 1, "late")
    now[0] += MINUTE
    requests_before = len(fake_loki.requests)
    second = reader.scan()

    assert [f"line {i}" for i in range(12_000)] == first
    assert ["late"] == second
    later = fake_loki.requests[requests_before:]
    assert len(later) >= 3  # the known lines were paged through, not asked for in one request
    assert all(int(r.query["limit"]) <= MAX_ENTRIES for r in fake_loki.requests)


def test_overlap_zero_reads_each_window_once(fake_loki: FakeLoki, http: httpx.Client) -> None:
    """With `overlap_seconds = 0` a late line is missed (the documented trade), and nothing repeats."""
    now = [NOW_NS]
    fake_loki.push({"app": "api"}, NOW_NS - 3 * MINUTE, "on time")
    reader = _Reader(_source(fake_loki, http, now, overlap_seconds=0))
    first = reader.scan()
    fake_loki.push({"app": "api"}, NOW_NS - 2 * MINUTE, "late")
    now[0] += MINUTE

    assert (["on time"], []) == (first, reader.scan())


def test_the_seen_hashes_are_bounded_and_never_let_a_line_repeat(
    fake_loki: FakeLoki, http: httpx.Client
) -> None:
    """With room for 100 hashes and 300 lines in the overlap: the cursor stays small, no line twice.

    A late line older than what is still known is missed (the overlap shrank); a newer one is read.
    """
    now = [NOW_NS]
    start = NOW_NS - 6 * MINUTE
    for i in range(300):
        fake_loki.push({"app": "api"}, start + i * SECOND, f"line {i}")
    reader = _Reader(_source(fake_loki, http, now, max_seen=100))
    first = reader.scan()
    fake_loki.push({"app": "api"}, start + 10 * SECOND + 1, "late, below the floor")
    fake_loki.push({"app": "api"}, start + 250 * SECOND + 1, "late, within what is known")
    now[0] += MINUTE
    second = reader.scan()
    now[0] += MINUTE
    third = reader.scan()

    assert 300 == len(first)
    assert (["late, within what is known"], []) == (second, third)
    assert len(reader.cursor["seen"]) <= 4 * 100 * 16 // 3 + 4  # base64 of 100 packed entries


def test_a_cursor_from_before_the_overlap_is_continued_without_repeats(
    fake_loki: FakeLoki, http: httpx.Client
) -> None:
    """An old `{"start_ns", "seen": [...]}` cursor goes on after its position and repeats nothing."""
    now = [NOW_NS]
    fake_loki.push({"app": "api"}, NOW_NS - 3 * MINUTE, "read by the old version")
    fake_loki.push({"app": "api"}, NOW_NS - 1 * MINUTE, "new")
    reader = _Reader(_source(fake_loki, http, now))
    reader.cursor = {"start_ns": NOW_NS - 3 * MINUTE, "seen": ["0123456789abcdef"]}

    assert ["new"] == reader.scan()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, 600), st.integers(0, 14 * 60), st.sampled_from(["a", "b"])),
        min_size=1,
        max_size=40,
        unique_by=lambda line: line[0],  # a page of one timestamp only is a separate, documented limit
    ),
    st.integers(2, 7),
)
def test_every_line_late_by_less_than_the_overlap_is_read_exactly_once(
    lines: list[tuple[int, int, str]], limit: int
) -> None:
    """Lines stamped at random, each arriving up to 14 min late, read every minute in small pages."""
    with FakeLoki() as loki, httpx.Client(timeout=5.0) as http:
        now = [NOW_NS]
        reader = _Reader(_source(loki, http, now))
        base = NOW_NS
        arrivals = sorted(
            (stamp + delay, i, base + stamp * SECOND, pod) for i, (stamp, delay, pod) in enumerate(lines)
        )
        read: list[str] = []
        pending = list(arrivals)
        for minute in range(0, 40 * 60, 60):
            now[0] = base + minute * SECOND
            while pending and pending[0][0] <= minute:
                _, i, ns, pod = pending.pop(0)
                loki.push({"app": "api", "pod": pod}, ns, f"line {i}")
            while True:
                batch = reader.source.read(reader.cursor, limit)
                reader.cursor = batch.cursor
                read.extend(_texts(batch))
                if not batch.more or not batch.lines:
                    break

    assert Counter(f"line {i}" for i in range(len(lines))) == Counter(read)


def _loki_service(url: str, tmp_path: Path) -> tuple[Settings, ServiceSettings]:
    service = ServiceSettings.model_validate(
        {
            "name": "api",
            "source": f"loki:{url}?query={QUERY}",
            "repo": str(tmp_path),
            "loki": {"overlap_seconds": "15m"},
        }
    )
    return Settings(config_path=None, data_dir=tmp_path, services=(service,)), service


def test_seen_lines_are_not_reported_again_after_a_restart(
    tmp_path: Path, engine: Engine, fake_loki: FakeLoki
) -> None:
    """Scans through the database: a late line is one event, and a restarted bot repeats nothing."""
    now_ns = time.time_ns()
    for i in range(3):
        fake_loki.push({"app": "api"}, now_ns - (5 - i) * MINUTE, "ERROR app.mcp: MCP Tool failed: 500")
    settings, service = _loki_service(fake_loki.url, tmp_path)

    first = run_scan(settings, make_session_factory(engine), service)
    fake_loki.push({"app": "api"}, now_ns - 90 * SECOND, "ERROR app.mcp: MCP Tool failed: 500")
    second = run_scan(settings, make_session_factory(engine), service)
    # The bot restarts: every connection is closed, a new session factory and a new source are made,
    # and the cursor comes back from the database.
    engine.dispose()
    sessions = make_session_factory(engine)
    after_restart = run_scan(settings, sessions, service)
    with sessions() as session:
        incidents = list_incidents(session)
        stored = session.get(SourceCursor, "api")
        assert stored is not None
        position = stored.cursor["position"]

    assert ("", 3, 1, 0) == (first.error, first.events, second.events, after_restart.events)
    assert ["error_pattern"] == [a.kind for a in first.anomalies]
    assert 1 == len(incidents)
    assert {"edge_ns", "floor_ns", "seen"} <= set(position)


def test_open_source_passes_the_services_overlap(fake_loki: FakeLoki, http: httpx.Client) -> None:
    """`[services.loki] overlap_seconds` reaches the source built for the service."""
    service = ServiceSettings.model_validate(
        {
            "name": "api",
            "source": f"loki:{fake_loki.url}?query={QUERY}",
            "repo": ".",
            "loki": {"overlap_seconds": "1h"},
        }
    )
    source = open_source(service.source, client=http, loki=service.loki)

    assert isinstance(source, LokiSource)
    assert 3600 * SECOND == source.overlap_ns
