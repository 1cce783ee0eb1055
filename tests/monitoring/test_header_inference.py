"""Headers inferred from the lines themselves, for logs no known format fits."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from core.settings import DetectorThresholds
from monitoring.detect import DetectorState
from monitoring.events import RawLine, parse_lines
from monitoring.header_inference import infer_header_pattern
from monitoring.headers import INFERRED, detect_header
from monitoring.pipeline import analyze
from monitoring.templates import TemplateMiner

MESSAGES = [
    "connection closed by peer",
    "Background saving started by pid 77",
    "checkpoint starting: time",
    "Successfully synced pod",
    "Accepted 10.0.0.3:51234",
    "SQM: Failed to start upload with file pattern",
    "boot (command 1902)",
]


def _lines(render: object, count: int = 60, seed: int = 5) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    messages = [rng.choice(MESSAGES) for _ in range(count)]
    return [render(rng, message) for message in messages], messages  # type: ignore[operator]


SHAPES = {
    # fields separated by `|`
    "pipes": lambda rng, m: f"20171223-22:15:{rng.randrange(60):02d}:606|Step_LSC|{rng.randrange(10**8)}|{m}",
    # a structural run, then a word and a lone `-` closing the header
    "closer": lambda rng, m: (
        f"[10.30 16:49:{rng.randrange(60):02d}] chrome.exe{rng.choice(['', ' *64'])} - {m}"
    ),
    # structural columns with two columns of words between them
    "tolerant": lambda rng, m: (
        f"{rng.randrange(10**6)} node-{rng.randrange(300)} unix.hw state_change.unavailable "
        f"{rng.randrange(10**9)} 1 {m}"
    ),
    # Kubernetes' klog
    "klog": lambda rng, m: (
        f"I1020 00:{rng.randrange(60):02d}:07.123456       1 controller.go:{rng.randrange(900)}] {m}"
    ),
    # MySQL 8's error log, bracketed fields after the time
    "mysql": lambda rng, m: (
        f"2026-10-20T00:00:{rng.randrange(60):02d}.123456Z 0 [Note] [MY-010311] [Server] {m}"
    ),
}


def test_the_message_of_each_shape_is_found() -> None:
    """Every shape: a header is inferred, and each line's content is exactly its message."""
    for name, render in SHAPES.items():
        lines, messages = _lines(render)
        header = detect_header(lines)
        assert header is not None, name
        assert INFERRED == header.text, name
        assert messages == [header.content(line) for line in lines], name


def test_lines_of_plain_messages_get_no_header() -> None:
    """Messages without a header (`print` output, a bare stream) are read whole."""
    lines, _ = _lines(lambda rng, m: m)
    assert detect_header(lines) is None


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def test_an_inferred_header_gives_time_and_level_to_a_scan() -> None:
    """A MySQL-style log: the time and level sit in the inferred header, and an error burst in it
    is an incident with the header's times."""
    start = datetime(2026, 10, 20, tzinfo=UTC)
    lines = [
        f"{_iso(start + timedelta(seconds=10 * n))} 0 [Note] [MY-010311] [Server] checkpoint {n} written"
        for n in range(500)
    ]
    failed = start + timedelta(seconds=5000)
    lines += [
        f"{_iso(failed + timedelta(seconds=n))} 0 [ERROR] [MY-012592] [InnoDB] Operating system error 28"
        for n in range(5)
    ]
    raw = [RawLine(text, number) for number, text in enumerate(lines, 1)]
    header = detect_header(lines)
    assert header is not None
    [first] = list(parse_lines(raw[:1], header))
    assert (start, "checkpoint 0 written", "info") == (first.timestamp, first.message, first.level)
    anomalies = analyze(
        raw, DetectorThresholds(), DetectorState(), now=start + timedelta(days=1), header=header
    )
    [incident] = anomalies.anomalies
    assert ("error_pattern", 5, failed) == (incident.kind, incident.count, incident.first_seen)
    assert "Operating system error" in incident.template


def test_grouping_with_an_inferred_header_is_grouping_of_the_messages() -> None:
    """With the header cut, the miner groups raw lines as it groups their messages (read whole,
    `chrome.exe *64 -` and the timestamps split statements)."""
    for name, render in SHAPES.items():
        lines, messages = _lines(render, count=300)
        header = detect_header(lines)
        assert header is not None
        by_line, by_message = TemplateMiner(), TemplateMiner()
        pairs = [
            (by_line.add(header.content(line)).id, by_message.add(m).id)
            for line, m in zip(lines, messages, strict=True)
        ]
        final = {(by_line.resolve(a).id, by_message.resolve(b).id) for a, b in pairs}  # type: ignore[union-attr]
        assert len({a for a, _ in final}) == len({b for _, b in final}) == len(final), name


_TEXT = st.text(alphabet="[] :-|a1.\t*xyz", max_size=80)


@settings(max_examples=200, deadline=None)
@given(st.lists(_TEXT, min_size=5, max_size=30), _TEXT)
def test_an_inferred_header_only_ever_cuts_a_line(sample: list[str], line: str) -> None:
    """Whatever the lines: a pattern or None, never an error; and a line it fits is its header and
    its content, nothing added or lost but the whitespace between them."""
    pattern = infer_header_pattern(sample)
    if pattern is None:
        return
    match = re.compile(pattern, re.DOTALL).match(line)
    if match is not None:
        assert line.strip() == f"{match.group('Header')} {match.group('Content')}".strip() or (
            re.sub(r"\s+", "", line) == re.sub(r"\s+", "", match.group("Header") + match.group("Content"))
        )
