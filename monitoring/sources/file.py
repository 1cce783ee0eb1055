"""`file:PATH`: read only what is new since the cursor; survive rotation and truncation.

Cursor: `{"inode", "offset", "line", "head"}` — the byte offset of the first unread byte and the number
of complete lines before it (so line numbers stay 1-based within the file). A last line without
its newline is not consumed until it is complete. When the file at PATH is a different file
(rotated: new inode) the rest of the old one is read first if it sits next to it as `PATH.1` or
`PATH.0`, then the new file from its start; when the file shrank or its first bytes changed
(truncated and rewritten), it is read from 0.
"""

from __future__ import annotations

import hashlib
from functools import partial
from itertools import count, repeat
from pathlib import Path
from typing import Any, Final

from monitoring.events import RawLine, without_escapes
from monitoring.sources.base import Batch, SourceUnavailable
from monitoring.sources.container import container_shape, unwrap

__all__ = ["FileSource"]

_CHUNK: Final = 8 * 1024 * 1024
_new_line: Final = partial(tuple.__new__, RawLine)


def _lines(chunk: memoryview, limit: int) -> tuple[list[str], int]:
    """The first `limit` lines of `chunk` (decoded, one CR before each LF and NULs dropped) and how
    many bytes they took. A piece after the last LF is a line only if it is within the limit."""
    if not chunk:
        return [], 0
    # One decode for the whole chunk (a newline never sits inside a UTF-8 sequence), one split.
    text = str(chunk, "utf-8", "replace")
    if text.isascii():
        texts = text.split("\n", limit)
        if len(texts) > limit:
            # Cut after the limit-th LF; what follows waits (one byte per character: its length).
            return _cleaned(texts[:-1], text), len(chunk) - len(texts[-1])
        consumed = len(chunk)
    else:
        pieces = chunk.tobytes().split(b"\n", limit)
        consumed = len(chunk) - len(pieces[-1]) if len(pieces) > limit else len(chunk)
        if consumed < len(chunk):
            text = str(chunk[:consumed], "utf-8", "replace")
        texts = text.split("\n")
    if consumed and chunk[consumed - 1] == 0x0A:
        texts.pop()  # the empty piece after the last LF read
    return _cleaned(texts, text), consumed


def _cleaned(texts: list[str], text: str) -> list[str]:
    if "\x00" in text:
        texts = [line.replace("\x00", "") for line in texts]
    if "\r" in text:
        texts = [line[:-1] if line[-1:] == "\r" else line for line in texts]
    if "\x1b" in text:
        texts = [without_escapes(line) if "\x1b" in line else line for line in texts]
    return texts


class FileSource:
    """A local log file, read incrementally."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.spec = f"file:{self.path}"
        # Every read goes into this one buffer: a new 8 MB object per read (and its copy) was mapped
        # and unmapped each time, and those page faults were a tenth of a scan's CPU time.
        self._buffer = bytearray()

    def read(self, cursor: dict[str, Any], limit: int) -> Batch:
        """Complete lines after `cursor`, at most about `limit` (and 8 MB) per call."""
        try:
            stat = self.path.stat()
        except FileNotFoundError as exc:
            raise SourceUnavailable(
                f"log file {self.path} does not exist; check the service's source in the config"
            ) from exc
        except OSError as exc:
            raise SourceUnavailable(f"cannot read log file {self.path}: {exc}") from exc
        inode = stat.st_ino
        offset = int(cursor.get("offset", 0))
        line = int(cursor.get("line", 0))
        notes: list[str] = []
        lines: list[RawLine] = []
        old_inode = cursor.get("inode")
        if old_inode is not None and old_inode != inode:
            rotated = self._rotated(int(old_inode))
            if rotated is not None:
                tail, _, _, _ = self._read_from(rotated, offset, line, limit, final=True)
                lines.extend(tail)
                notes.append(f"{self.path} was rotated; read the rest of {rotated.name}")
            else:
                notes.append(f"{self.path} was replaced; reading the new file from its start")
            offset, line = 0, 0
        elif stat.st_size < offset or (offset and cursor.get("head") != self._head(self.path, offset)):
            # Shrunk, or rewritten in place (same size, different first bytes): start again.
            notes.append(f"{self.path} was truncated; reading it again from its start")
            offset, line = 0, 0
        read, offset, line, more = self._read_from(self.path, offset, line, max(limit - len(lines), 1))
        lines.extend(read)
        cursor = {"inode": inode, "offset": offset, "line": line, "head": self._head(self.path, offset)}
        return Batch(lines, cursor, more=more, notes=notes)

    @staticmethod
    def _head(path: Path, offset: int) -> str:
        """A digest of the file's first bytes (up to 256, within what was read)."""
        try:
            with path.open("rb") as handle:
                data = handle.read(min(offset, 256))
        except OSError:
            return ""
        return hashlib.sha1(data, usedforsecurity=False).hexdigest()[:16]

    def _rotated(self, inode: int) -> Path | None:
        for name in (f"{self.path.name}.1", f"{self.path.name}.0"):
            candidate = self.path.with_name(name)
            try:
                if candidate.stat().st_ino == inode:
                    return candidate
            except OSError:
                continue
        return None

    def _read_from(
        self, path: Path, offset: int, line: int, limit: int, *, final: bool = False
    ) -> tuple[list[RawLine], int, int, bool]:
        if len(self._buffer) != _CHUNK:
            self._buffer = bytearray(_CHUNK)
        buffer = self._buffer
        try:
            with path.open("rb") as handle:
                handle.seek(offset)
                size = handle.readinto(buffer)
        except OSError as exc:
            raise SourceUnavailable(f"cannot read log file {path}: {exc}") from exc
        end = size if final else buffer.rfind(b"\n", 0, size) + 1
        if end == 0 and size == _CHUNK:
            end = size  # one line longer than a chunk: take it cut rather than wait forever
        texts, consumed = _lines(memoryview(buffer)[:end], limit)
        more = consumed < end or size == _CHUNK
        shape = container_shape(texts[0]) if texts else None
        if shape is not None:
            # A container runtime's file (CRI, Docker json-file): the service's lines inside it.
            return unwrap(texts, line + 1, shape), offset + consumed, line + len(texts), more
        # tuple.__new__ straight from C: RawLine's own __new__ is Python, a third of this step.
        out = list(map(_new_line, zip(texts, count(line + 1), repeat(None), repeat(""))))
        return out, offset + consumed, line + len(out), more
