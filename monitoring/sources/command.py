"""`cmd:COMMAND`: the stdout of a command (`kubectl logs --since=10m deploy/api`, `journalctl ...`).

The command should print recent logs each time it runs. The cursor keeps hashes of the last lines
printed; the next run emits only what follows them (all of it when they are gone).
"""

from __future__ import annotations

import hashlib
import shlex
import subprocess
from typing import Any

from monitoring.events import RawLine, without_escapes
from monitoring.sources.base import Batch, SourceUnavailable

__all__ = ["CommandSource"]

_TAIL = 5


def _hash(line: str) -> str:
    return hashlib.sha1(line.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()[:16]


class CommandSource:
    """Run a command (no shell) and read its standard output."""

    def __init__(self, spec: str, *, timeout: float = 60.0) -> None:
        self.spec = spec
        self.argv = shlex.split(spec.removeprefix("cmd:"))
        if not self.argv:
            raise ValueError(f"command source {spec!r}: expected cmd:COMMAND ARGS")
        self.timeout = timeout

    def read(self, cursor: dict[str, Any], limit: int) -> Batch:
        """The command's output lines after those already read."""
        try:
            done = subprocess.run(self.argv, capture_output=True, timeout=self.timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SourceUnavailable(f"command {self.argv[0]!r} failed to run: {exc}") from exc
        if done.returncode != 0:
            tail = done.stderr.decode("utf-8", "replace").strip()[-300:]
            raise SourceUnavailable(f"command {self.argv[0]!r} exited with {done.returncode}: {tail}")
        texts = done.stdout.decode("utf-8", "replace").splitlines()
        hashes = [_hash(t) for t in texts]
        previous = list(cursor.get("tail") or [])
        start = 0
        if previous:
            size = len(previous)
            for end in range(len(hashes), size - 1, -1):
                if hashes[end - size : end] == previous:
                    start = end
                    break
        fresh = texts[start:][:limit]
        consumed = start + len(fresh)
        kept = hashes[max(consumed - _TAIL, 0) : consumed] or previous
        # Hashed as printed (the cursor's tail), parsed without terminal escapes.
        lines = [
            RawLine(without_escapes(text) if "\x1b" in text else text, number=start + index + 1)
            for index, text in enumerate(fresh)
        ]
        return Batch(lines, {"tail": kept}, more=consumed < len(texts))
