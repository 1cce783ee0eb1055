"""Loghub-style header formats: `<Date> <Time> <Level> <Component>: <Content>` → a line splitter.

A header format names the fields of a plain log line's prefix; `<Content>` is the message. The
format's literal text is matched exactly except that runs of spaces match any run of whitespace,
and regular-expression syntax already present in the format (`\\[`, `(...)?`) is kept, as in the
Loghub benchmark settings. Without a format, `detect_header` picks the best of a few common shapes,
or infers one from the lines (`monitoring.header_inference`).

Errors: `HeaderFormatError` (a `ValueError`) for a format without `<Content>`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from monitoring.header_inference import infer_header_pattern

__all__ = ["COMMON_HEADERS", "INFERRED", "HeaderFormat", "HeaderFormatError", "detect_header"]

_FIELD: Final = re.compile(r"<([A-Za-z_][A-Za-z0-9_]*)>")
# The text of a header `detect_header` inferred (`monitoring.header_inference`): no named fields.
INFERRED: Final = "<Header> <Content>"


class HeaderFormatError(ValueError):
    """A header format that cannot split lines (no `<Content>` field, or a malformed pattern)."""


@dataclass(frozen=True)
class HeaderFormat:
    """A compiled header format. `split(line)` returns the fields, or None when the line differs."""

    text: str
    regex: re.Pattern[str]
    fields: tuple[str, ...]

    @classmethod
    def compile(cls, text: str) -> HeaderFormat:
        """Compile a Loghub-style format; the message field must be called `<Content>`."""
        parts = _FIELD.split(text)
        fields = tuple(parts[1::2])
        if "Content" not in fields:
            raise HeaderFormatError(
                f"log format {text!r} has no <Content> field; example: "
                "'<Date> <Time> <Level> <Component>: <Content>'"
            )
        pattern = ""
        for index, part in enumerate(parts):
            if index % 2 == 0:
                # Literal text: whitespace runs are flexible; everything else is kept as written
                # (Loghub formats already escape brackets as `\[`).
                pattern += re.sub(r" +", r"\\s+", part)
            elif part == "Content":
                pattern += "(?P<Content>.*?)"
            else:
                pattern += f"(?P<{part}>.*?)"
        try:
            regex = re.compile("^" + pattern + r"\s*$", re.DOTALL)
        except re.error as exc:
            raise HeaderFormatError(f"log format {text!r} is not a valid pattern: {exc}") from exc
        return cls(text=text, regex=regex, fields=fields)

    def split(self, line: str) -> dict[str, str] | None:
        """The header fields and `Content` of `line`, or None when the line does not fit."""
        match = self.regex.match(line)
        return match.groupdict() if match else None

    def content(self, line: str) -> str:
        """The message part of `line`; a line that does not fit is kept whole (never dropped)."""
        match = self.regex.match(line)
        return match.group("Content") if match else line.strip()


# Shapes seen across services and system logs. Detection picks the one that splits most lines;
# ties go to the earlier (more specific) entry.
COMMON_HEADERS: Final[tuple[str, ...]] = (
    # Python logging / structlog console: 2026-10-20 02:30:01,123 ERROR app.mcp: message
    r"<Date> <Time> <Level> <Component>: <Content>",
    r"<Date> <Time> - <Level> - <Component> - <Content>",
    r"<Date> <Time> <Pid> <Level> <Component>: <Content>",
    r"<Date> <Time> - <Level>  \[<Component>\] - <Content>",
    r"<Date> <Time> \[<Level>\] <Component>: <Content>",
    # log4j's `%d %p [%t] %c: %m` (Hadoop, Spark and most JVM services): the thread in brackets
    r"<Date> <Time> <Level> \[<Thread>\] <Component>: <Content>",
    # Android logcat's `threadtime` format: 03-17 16:13:38.811  1702  2395 D WindowManager: message
    r"<Date> <Time> <Pid> <Tid> <Level> <Component>: <Content>",
    r"<Date> <Time> <Level> <Content>",
    r"\[<Time>\] \[<Level>\] <Content>",
    r"<Month> <Day> <Time> <Host> <Component>\[<Pid>\]: <Content>",
    r"<Month> <Day> <Time> <Host> <Component>: <Content>",
    r"<Level>:<Component>:<Content>",
)

_TOKEN_FIELDS: Final = {
    "Date": r"\d{2,4}[-/.]\d{1,2}[-/.]\d{1,4}|\d{6,8}|\d{2}-\d{2}",  # …, or logcat's month-day
    "Time": r"\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?|\d{6}|"
    r"[A-Z][a-z]{2} [A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2} \d{4}",
    "Month": r"[A-Z][a-z]{2}",
    "Day": r"\d{1,2}",
    "Level": r"[A-Za-z]{3,9}|[VDIWEFA]",  # a word, or logcat's priority letter
    "Pid": r"\d+",
    "Tid": r"\d+",
    "Thread": r"[^\]]+",
    "Host": r"[\w.-]+",
    "Component": r"\S+?",
}


def _strict(text: str) -> re.Pattern[str]:
    """A detection pattern: each known field constrained to its usual shape."""
    parts = _FIELD.split(text)
    pattern = ""
    for index, part in enumerate(parts):
        if index % 2 == 0:
            pattern += re.sub(r" +", r"\\s+", part)
        elif part == "Content":
            pattern += "(?P<Content>.*?)"
        else:
            pattern += f"(?P<{part}>{_TOKEN_FIELDS.get(part, r'.+?')})"
    return re.compile("^" + pattern + r"\s*$", re.DOTALL)


def detect_header(lines: Iterable[str], candidates: Sequence[str] = COMMON_HEADERS) -> HeaderFormat | None:
    """The candidate format that splits the most of `lines` (at least half), else None."""
    sample = [line for line in lines if line.strip()][:500]
    if not sample:
        return None
    best: tuple[int, int, str] | None = None
    for rank, text in enumerate(candidates):
        strict = _strict(text)
        hits = sum(1 for line in sample if strict.match(line))
        if hits * 2 >= len(sample) and (best is None or (hits, -rank) > (best[0], best[1])):
            best = (hits, -rank, text)
    if best is None:
        # No known shape: a header inferred from the kinds of tokens lines start with, if any.
        pattern = infer_header_pattern(sample)
        if pattern is None:
            return None
        return HeaderFormat(text=INFERRED, regex=re.compile(pattern, re.DOTALL), fields=("Header", "Content"))
    # Keep the strict pattern: it is what matched, and it will not swallow message text.
    return HeaderFormat(text=best[2], regex=_strict(best[2]), fields=tuple(_FIELD.findall(best[2])))
