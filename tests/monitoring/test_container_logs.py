"""Log files written by container runtimes (CRI, Docker json-file): the service's lines inside."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.settings import DetectorThresholds
from monitoring.sources.file import FileSource
from monitoring.stream import scan_once
from tests.monitoring.service_logs import START, match_labels, service_log

NOW = datetime(2026, 10, 21, tzinfo=UTC)
_PLAIN_TIME = re.compile(r"^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d),(\d{3}) ")


def _times(lines: list[str]) -> list[str]:
    """The time a runtime would stamp on each line: its own, else the line before's (RFC 3339, ns)."""
    stamps = []
    last = START.strftime("%Y-%m-%dT%H:%M:%S.000000000Z")
    for line in lines:
        if match := _PLAIN_TIME.match(line):
            last = f"{match.group(1)}T{match.group(2)}.{match.group(3)}000000Z"
        elif line.startswith("{") and line.endswith("}"):
            last = json.loads(line)["timestamp"].replace("Z", "000Z")
        stamps.append(last)
    return stamps


def _cri(lines: list[str]) -> list[str]:
    return [f"{stamp} stderr F {line}" for stamp, line in zip(_times(lines), lines, strict=True)]


def _docker(lines: list[str]) -> list[str]:
    return [
        json.dumps({"log": line + "\n", "stream": "stderr", "time": stamp}, separators=(",", ":"))
        for stamp, line in zip(_times(lines), lines, strict=True)
    ]


@pytest.mark.parametrize(
    ("fmt", "wrap"), [("mixed", _cri), ("mixed", _docker), ("json", _docker), ("plain", _cri)]
)
def test_a_containers_log_file_finds_the_services_incidents(tmp_path: Path, fmt: str, wrap: object) -> None:
    """The labelled service log as the runtime stores it: every incident found, nothing else (read
    as it is, the wrapper hid every level, request and traceback)."""
    lines, labels = service_log(fmt, seed=2)
    log = tmp_path / "container.log"
    log.write_text("\n".join(wrap(lines)) + "\n", encoding="utf-8")  # type: ignore[operator]
    anomalies = scan_once(FileSource(log), DetectorThresholds(), now=NOW)
    assert ([], []) == match_labels(labels, anomalies)


def test_pieces_of_a_long_line_are_one_line_with_the_files_numbers(tmp_path: Path) -> None:
    """CRI `P` pieces and Docker entries without their newline continue into the next entry; an
    entry in another shape is kept whole; line numbers and the cursor count the file's lines."""
    cri = [
        "2026-10-20T02:30:01.123456789Z stderr P 2026-10-20 02:30:01,123 ERROR app.api: a very ",
        "2026-10-20T02:30:01.123456790Z stderr P long ",
        "2026-10-20T02:30:01.123456791Z stderr F line",
        "not a CRI entry",
        '2026-10-20T02:30:02.000000000Z stdout F INFO:     10.0.0.7:5123 - "GET /x HTTP/1.1" 200 OK',
    ]
    path = tmp_path / "cri.log"
    path.write_text("\n".join(cri) + "\n", encoding="utf-8")
    batch = FileSource(path).read({}, 100)
    assert [
        ("2026-10-20 02:30:01,123 ERROR app.api: a very long line", 1),
        ("not a CRI entry", 4),
        ('INFO:     10.0.0.7:5123 - "GET /x HTTP/1.1" 200 OK', 5),
    ] == [(raw.text, raw.number) for raw in batch.lines]
    assert datetime(2026, 10, 20, 2, 30, 2, tzinfo=UTC) == batch.lines[-1].timestamp
    assert 5 == batch.cursor["line"]
    docker = [
        json.dumps({"log": "2026-10-20 02:30:01,123 ERROR app.api: half ", "stream": "stderr", "time": "x"}),
        json.dumps({"log": "and the rest\n", "stream": "stderr", "time": "2026-10-20T02:30:01Z"}),
        json.dumps(
            {"log": "\u001b[31mERROR\u001b[0m:    Exception in ASGI application\n", "stream": "stderr"}
        ),
    ]
    path = tmp_path / "docker.log"
    path.write_text("\n".join(docker) + "\n", encoding="utf-8")
    texts = [raw.text for raw in FileSource(path).read({}, 100).lines]
    assert [
        "2026-10-20 02:30:01,123 ERROR app.api: half and the rest",
        "ERROR:    Exception in ASGI application",
    ] == texts
