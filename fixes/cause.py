"""The one line of a failure's output that says why: what "No fix proposed" shows.

Validation output and tracebacks begin with noise (session headers, "Traceback (most recent call
last):", frames); the cause is usually a pytest `E   …` line, or the last `SomeError: text` line.
Pure; the full output stays where it was (the validation result, the log).
"""

from __future__ import annotations

import re

__all__ = ["cause_line"]

_PYTEST_E = re.compile(r"^E\s+(?P<text>\S.*)$")
_EXCEPTION = re.compile(r"^(?:[\w.]+\.)?[A-Z]\w*(?:Error|Exception|Failure|Exit|Interrupt)\b(?::.*)?$")
_SUMMARY = re.compile(r"^(?:FAILED|ERROR) \S+")
_LIMIT = 300


def cause_line(output: str) -> str:
    """The most telling line of `output` (cut to 300 characters); "" for empty output."""
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    if not lines:
        return ""
    chosen = next((m.group("text") for line in lines if (m := _PYTEST_E.match(line))), "")
    if not chosen:
        chosen = next((line.strip() for line in reversed(lines) if _EXCEPTION.match(line.strip())), "")
    if not chosen:
        chosen = next((line.strip() for line in lines if _SUMMARY.match(line.strip())), "")
    if not chosen:
        chosen = next(
            (line.strip() for line in lines if not line.startswith(("Traceback", "  File ", "    "))),
            lines[0].strip(),
        )
    return chosen if len(chosen) <= _LIMIT else chosen[: _LIMIT - 1] + "…"
