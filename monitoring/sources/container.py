"""Log files as container runtimes write them: each line of the service wrapped in the runtime's own.

- CRI (containerd, CRI-O; Kubernetes' `/var/log/containers/*.log`):
  `2026-10-20T02:30:01.123456789Z stderr F <the service's line>`, where `P` instead of `F` marks a
  piece of a longer line that the next entries continue;
- Docker's `json-file` driver (`/var/lib/docker/containers/<id>/<id>-json.log`):
  `{"log":"<the service's line>\\n","stream":"stderr","time":"2026-10-20T02:30:01.123456789Z"}`, a
  `log` without its final newline being a piece the next entries continue.

A file is read as one of these when its first line is (`container_shape`); `unwrap` then gives the
service's own lines, with the runtime's time on each (a line without a time of its own, such as
uvicorn's, is placed by it) and the file's line numbers. An entry that is not in the file's shape is
kept whole, never dropped. Pure functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime

from monitoring.events import RawLine, parse_json_object, parse_timestamp, without_escapes

__all__ = ["container_shape", "unwrap"]

# An entry's service text, its time, and whether it ends the service's line (else a piece of it).
Entry = tuple[str, datetime | None, bool]
_CRI = re.compile(r"(\d{4}-\d{2}-\d{2}T\S+) (?:stdout|stderr) ([FP])(?: (.*))?\Z", re.DOTALL)
_DOCKER_START = '{"log":'


def container_shape(first: str) -> str | None:
    """`"cri"`, `"docker"`, or None for a file whose first line is the service's own."""
    if _CRI.match(first):
        return "cri"
    if first.startswith(_DOCKER_START):
        data = parse_json_object(first)
        if data is not None and type(data.get("log")) is str and "stream" in data:
            return "docker"
    return None


def unwrap(texts: list[str], first_number: int, shape: str) -> list[RawLine]:
    """The service's lines in `texts` (entries of a `shape` file), numbered from `first_number`."""
    return list(_entries(texts, first_number, _cri if shape == "cri" else _docker))


def _cri(text: str) -> Entry | None:
    match = _CRI.match(text)
    if match is None:
        return None
    return match.group(3) or "", parse_timestamp(match.group(1)), match.group(2) == "F"


def _docker(text: str) -> Entry | None:
    data = parse_json_object(text) if text.startswith(_DOCKER_START) else None
    if data is None or type(data.get("log")) is not str:
        return None
    body: str = data["log"]
    whole = body.endswith("\n")
    return body.rstrip("\r\n") if whole else body, parse_timestamp(data.get("time")), whole


def _entries(texts: list[str], first_number: int, read: Callable[[str], Entry | None]) -> Iterator[RawLine]:
    pieces: list[str] = []
    start: tuple[int, datetime | None] = (0, None)
    for number, text in enumerate(texts, first_number):
        entry = read(text)
        if entry is None:
            if pieces:
                yield _line("".join(pieces), *start)
                pieces = []
            yield RawLine(text, number)
            continue
        body, stamp, whole = entry
        if not pieces:
            start = (number, stamp)
        pieces.append(body)
        if whole:
            yield _line("".join(pieces), *start)
            pieces = []
    if pieces:
        yield _line("".join(pieces), *start)  # a piece the next read would continue: kept, cut


def _line(text: str, number: int, stamp: datetime | None) -> RawLine:
    # The runtime escapes control characters in JSON (`\u001b`): decoded, they are back.
    return RawLine(without_escapes(text) if "\x1b" in text else text, number, stamp)
