"""Plain-text logs as other common setups write them: the labelled incidents are still found.

The labelled uvicorn + `logging` service log is re-spelt line by line, the way gunicorn (its access
log in the combined format, its error log), `logging`'s `%(asctime)s - %(name)s - %(levelname)s -
%(message)s` and loguru's default format write the same records; the scan must find the same
incidents and nothing else."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.settings import DetectorThresholds
from monitoring.detect import DetectorState
from monitoring.events import RawLine, without_escapes
from monitoring.pipeline import analyze
from monitoring.sources.file import FileSource
from monitoring.stream import auto_header, scan_once
from tests.monitoring.service_logs import match_labels, service_log

NOW = datetime(2026, 10, 21, tzinfo=UTC)
_ACCESS = re.compile(r'^(\w+):\s+(\S+) - "(\S+) (\S+) (HTTP/1\.1)" (\d{3})(?: .*)?$')
_LOGGING = re.compile(r"^(\d{4})-(\d\d)-(\d\d) (\d\d:\d\d:\d\d),(\d{3}) (\w+) ([\w.]+): (.*)$")
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

# (level, client, method, path, protocol, status, date parts, time) -> line
Access = Callable[[str, str, str, str, str, str, tuple[str, str, str], str], str]
# (date parts, time, milliseconds, level, logger, message) -> line
Logging = Callable[[tuple[str, str, str], str, str, str, str, str], str]

_FORMATS: dict[str, tuple[Access, Logging]] = {
    "gunicorn": (
        lambda level, client, method, path, proto, status, d, t: (
            f"{client.split(':')[0]} - - [{d[2]}/{_MONTHS[int(d[1]) - 1]}/{d[0]}:{t} +0000] "
            f'"{method} {path} {proto}" {status} 512 "-" "python-httpx/0.27"'
        ),
        lambda d, t, ms, level, logger, message: f"[{'-'.join(d)} {t} +0000] [7] [{level}] {message}",
    ),
    "logging-dashes": (
        lambda level, client, method, path, proto, status, d, t: (
            f"{'-'.join(d)} {t},000 - uvicorn.access - {level} - "
            f'{client} - "{method} {path} {proto}" {status}'
        ),
        lambda d, t, ms, level, logger, message: f"{'-'.join(d)} {t},{ms} - {logger} - {level} - {message}",
    ),
    "loguru": (
        lambda level, client, method, path, proto, status, d, t: (
            f"{'-'.join(d)} {t}.000 | {level:<8} | uvicorn.protocols.http.h11_impl:send:477 - "
            f'{client} - "{method} {path} {proto}" {status}'
        ),
        lambda d, t, ms, level, logger, message: (
            f"{'-'.join(d)} {t}.{ms} | {level:<8} | {logger}:handle:42 - {message}"
        ),
    ),
}


def _respell(lines: list[str], access: Access, logging_line: Logging) -> list[str]:
    out = []
    day, clock = ("2026", "10", "20"), "00:00:00"  # uvicorn's own lines carry no time: the last one
    for line in lines:
        if match := _LOGGING.match(line):
            year, month, date, clock, ms, level, logger, message = match.groups()
            day = (year, month, date)
            out.append(logging_line(day, clock, ms, level, logger, message))
        elif match := _ACCESS.match(line):
            out.append(access(*match.groups(), day, clock))
        else:
            out.append(line)  # tracebacks, uvicorn's `ERROR:    Exception in ASGI application`
    return out


@pytest.mark.parametrize("name", sorted(_FORMATS))
def test_other_plain_formats_find_the_same_incidents(name: str) -> None:
    lines, labels = service_log("mixed", seed=1)
    respelt = _respell(lines, *_FORMATS[name])
    assert sum(a != b for a, b in zip(lines, respelt, strict=True)) > len(lines) // 2
    raw = [RawLine(text, number) for number, text in enumerate(respelt, 1)]
    header = auto_header(raw[:500])
    assert header is None  # every one of these is a shape the parser knows
    anomalies = analyze(raw, DetectorThresholds(), DetectorState(), now=NOW, header=header).anomalies
    assert ([], []) == match_labels(labels, anomalies)


_COLOURS = {"INFO": 32, "WARNING": 33, "ERROR": 31}


def _coloured(line: str) -> str:
    """A line as uvicorn and colorlog print it on a terminal: levels and request lines in colour."""
    if match := _ACCESS.match(line):
        level, client, method, path, proto, status = match.groups()
        code = _COLOURS.get(level, 0)
        return (
            f"\x1b[{code}m{level}\x1b[0m:{' ' * (9 - len(level))}{client} - "
            f'"\x1b[1m{method} {path} {proto}\x1b[0m" \x1b[{code}m{status}\x1b[0m'
        )
    if match := _LOGGING.match(line):
        year, month, date, clock, ms, level, logger, message = match.groups()
        colour = _COLOURS.get(level, 0)
        return f"{year}-{month}-{date} {clock},{ms} \x1b[{colour}m{level}\x1b[0m {logger}: {message}"
    return line


def test_a_log_printed_in_colour_finds_the_same_incidents(tmp_path: Path) -> None:
    """uvicorn colours its lines when it writes to a terminal (`docker run -t`, a TTY-attached
    process manager): read from a file, the colour codes are dropped and every incident is found
    (read with them, an ERROR line was an info line of unknown shape)."""
    lines, labels = service_log("mixed", seed=1)
    coloured = [_coloured(line) for line in lines]
    assert sum("\x1b[" in line for line in coloured) > len(lines) // 2
    log = tmp_path / "uvicorn.log"
    log.write_text("\n".join(coloured) + "\n", encoding="utf-8")
    anomalies = scan_once(FileSource(log), DetectorThresholds(), now=NOW)
    assert ([], []) == match_labels(labels, anomalies)


@given(
    st.text(max_size=60),
    st.lists(st.sampled_from(["\x1b[0m", "\x1b[1;31m", "\x1b]0;pwned\x07", "\x1b[2K", "\x1bM"])),
)
def test_escapes_go_and_text_stays(text: str, escapes: list[str]) -> None:
    """Escape sequences put anywhere in a line go, and nothing else does; no ESC survives."""
    plain = text.replace("\x1b", "")
    mixed = (
        "".join(escape + char for escape, char in zip(escapes, plain, strict=False)) + plain[len(escapes) :]
    )
    assert plain == without_escapes(mixed)
    assert "\x1b" not in without_escapes(text)


def test_an_escape_left_open_loses_no_text() -> None:
    """A title escape with no terminator (a cut or hostile line) drops `ESC ]`, not the text after."""
    assert "ERROR boom x KeyError: 'owner'" == without_escapes("ERROR boom \x1b]x KeyError: 'owner'")
