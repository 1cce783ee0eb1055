"""Template a whole log file line by line: the engine of `agent templates` (pure apart from reading).

Each input line (no traceback folding: one row per line, as in Loghub's structured files) is split
with the header format (given, or detected from the first lines; a line that does not fit is
templated whole), its `<Content>` goes through the miner, and after the last line every row gets
the final template of its group (groups merge as evidence accumulates). EventIds are `E1`, `E2`, …
in order of first appearance.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path

from monitoring.headers import HeaderFormat, detect_header
from monitoring.templates import TemplateMiner

__all__ = ["TemplateRow", "read_lines", "template_lines"]


@dataclass(frozen=True)
class TemplateRow:
    line_id: int
    event_id: str
    template: str


def read_lines(path: Path) -> Iterator[str]:
    """The lines of a file as text, streamed: invalid UTF-8 is replaced, CRLF is accepted."""
    with path.open("rb") as handle:
        for raw in handle:
            yield raw.rstrip(b"\n").rstrip(b"\r").decode("utf-8", "replace")


def template_lines(
    lines: Iterable[str],
    *,
    log_format: str = "",
    progress: Callable[[int], None] | None = None,
) -> Iterator[TemplateRow]:
    """One `TemplateRow` per line, LineId 1-based. Lines are read once; rows come after the last."""
    stream = iter(lines)
    head = list(islice(stream, 500))
    header = HeaderFormat.compile(log_format) if log_format else detect_header(head)
    miner = TemplateMiner()
    ids = array("q")  # one group id per line: 8 bytes each, not a Python object
    for index, line in enumerate(chain(head, stream), 1):
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
