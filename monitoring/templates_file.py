"""Template a whole log file line by line: the engine of `agent templates` (pure apart from reading).

Each input line (no traceback folding: one row per line, as in Loghub's structured files) is split
with the header format (given, or detected from the first lines; a line that does not fit is
templated whole), its `<Content>` goes through the miner, and after the last line every row gets
the final template of its group (groups merge as evidence accumulates). EventIds are `E1`, `E2`, …
in order of first appearance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from monitoring.headers import HeaderFormat, detect_header
from monitoring.templates import TemplateMiner

__all__ = ["TemplateRow", "read_lines", "template_lines"]


@dataclass(frozen=True)
class TemplateRow:
    line_id: int
    event_id: str
    template: str


def read_lines(path: Path) -> list[str]:
    """The lines of a file as text: any bytes decode (invalid UTF-8 is replaced), CRLF is accepted."""
    data = path.read_bytes()
    pieces = data.split(b"\n")
    if pieces and pieces[-1] == b"":
        pieces.pop()
    return [piece.rstrip(b"\r").decode("utf-8", "replace") for piece in pieces]


def template_lines(
    lines: list[str],
    *,
    log_format: str = "",
    progress: Callable[[int], None] | None = None,
) -> Iterator[TemplateRow]:
    """One `TemplateRow` per line, LineId 1-based."""
    header = HeaderFormat.compile(log_format) if log_format else detect_header(lines[:500])
    miner = TemplateMiner()
    ids: list[int] = []
    for index, line in enumerate(lines, 1):
        content = header.content(line) if header is not None else line.strip()
        ids.append(miner.add(content).id)
        if progress is not None and index % 50_000 == 0:
            progress(index)
    numbers: dict[int, str] = {}
    for line_id, group_id in enumerate(ids, 1):
        group = miner.resolve(group_id)
        final = group.id if group is not None else group_id
        event_id = numbers.setdefault(final, f"E{len(numbers) + 1}")
        yield TemplateRow(line_id, event_id, group.template if group is not None else "")
