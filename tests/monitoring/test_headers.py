"""Loghub-style header formats and header detection."""

from __future__ import annotations

import pytest

from monitoring.headers import HeaderFormat, HeaderFormatError, detect_header


def test_header_format_splits_fields() -> None:
    """The format's fields, and Content, come out of a matching line."""
    header = HeaderFormat.compile("<Date> <Time> <Level> <Component>: <Content>")
    fields = header.split("2026-10-20 02:30:01 ERROR app.mcp: MCP Tool failed: 500")
    assert {
        "Date": "2026-10-20",
        "Time": "02:30:01",
        "Level": "ERROR",
        "Component": "app.mcp",
        "Content": "MCP Tool failed: 500",
    } == fields


def test_line_of_another_shape_is_kept_whole() -> None:
    """A line that does not fit the format keeps all its text as the message."""
    header = HeaderFormat.compile(r"\[<Time>\] \[<Level>\] <Content>")
    assert "no header here" == header.content("no header here")


def test_format_without_content_is_refused() -> None:
    """A format without <Content> raises an error naming the format and an example."""
    with pytest.raises(HeaderFormatError, match="no <Content> field"):
        HeaderFormat.compile("<Date> <Time>")


def test_detect_header_picks_the_shape_that_fits() -> None:
    """Syslog-style lines are detected as such; free text detects nothing."""
    lines = [f"Jun 14 15:16:0{i} combo sshd(pam_unix)[1993{i}]: check pass; user unknown" for i in range(9)]
    detected = detect_header(lines)
    assert detected is not None
    assert "check pass; user unknown" == detected.content(lines[0])
    assert None is detect_header(["just some words", "and more words"])


def test_detect_header_reads_log4j_and_logcat_lines() -> None:
    """A JVM service's log4j lines (thread in brackets) and Android's logcat `threadtime` lines:
    the message alone is the content, not the thread or the pid/tid columns."""
    log4j = [
        f"2015-10-18 18:01:4{n},978 INFO [main] org.apache.hadoop.mapreduce.MRAppMaster: Created job {n}"
        for n in range(6)
    ]
    header = detect_header(log4j)
    assert header is not None
    assert "Created job 3" == header.content(log4j[3])
    logcat = [f"03-17 16:13:3{n}.811  1702  239{n} D WindowManager: freezing display {n}" for n in range(6)]
    header = detect_header(logcat)
    assert header is not None
    assert "freezing display 2" == header.content(logcat[2])
