"""A header inferred from the lines themselves, for logs of a shape no known format fits.

A header is the part of every line before the message: times, ids, hosts, levels, components. What
tells it apart from the message is that it is the same *kind* of text on nearly every line, where
messages differ from statement to statement. Three shapes are looked for, in this order, each on
at least `SHARE` of the sample:

1. fields separated by `|` (`20171223-22:15:29:606|Step_LSC|30002312|message`): the number of `|`
   nearly every line has before its message;
2. a run of *structural* tokens from the start (holding a digit, a level, a month or day name,
   punctuation alone, or a `[bracketed group]`) followed within three more tokens by one that closes
   a header (`component:`, `…]`, a lone `-`: `[10.30 16:49:06] chrome.exe *64 - message`), or
   whose own last token closes it (`2026-10-20T00:00:07Z 0 [Note] [Server] message`);
3. otherwise the structural columns from the start, where up to two columns of words may sit between
   structural ones (`134681 node-246 unix.hw state_change.unavailable 1077804742 1 message`: the
   component and state words are followed by more structural columns, so they are header too).

Nothing here is keyed to a log system: no format strings, only kinds of tokens. It is a fallback
(`monitoring.headers.detect_header` tries the known formats first); a line the inferred header
does not fit is kept whole. What it can get wrong: a log whose every message starts with the same
word and a number (`checkpoint 7 written`, and nothing else) loses that word and number to the
header under shape 3. Pure functions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["SHARE", "infer_header_pattern"]

SHARE = 0.9  # the share of sample lines a shape must fit
_MAX_TOKENS = 12  # the longest header, in tokens
_MAX_PIPES = 8
_MAX_GAP = 2  # word columns a structural header may hold between structural ones

_LEVELS = frozenset({
    "trace", "debug", "info", "information", "notice", "warn", "warning", "error", "err", "crit",
    "critical", "fatal", "severe", "alert", "emerg",
})  # fmt: skip
_NAMES = frozenset({
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    "mon", "tue", "wed", "thu", "fri", "sat", "sun",
})  # fmt: skip
_HAS_DIGIT = re.compile(r"\d")
_TOKENS = re.compile(r"\[[^\]]*\]\S*|\S+")  # a bracketed group (spaces and all) is one token
_WORD = r"(?:\[[^\]]*\]\S*|\S+)"  # one of `_TOKENS`, in a pattern


def _structural(token: str) -> bool:
    bare = token.strip("[](),:;|-")
    if not bare or token.startswith("[") or _HAS_DIGIT.search(token):
        return True
    low = bare.lower()
    # A single capital letter is logcat's priority (`D`, `W`, `E`) or an Android-style flag.
    return low in _LEVELS or low in _NAMES or (len(bare) == 1 and bare.isupper())


def _closes(word: str) -> bool:
    return word == "-" or word.endswith((":", "]"))


def infer_header_pattern(lines: Sequence[str]) -> str | None:
    """A regular expression with groups `Header` and `Content` for these lines, else None."""
    sample = [line for line in lines if line.strip()][:500]
    if len(sample) < 5:
        return None
    need = SHARE * len(sample)
    pipes = _pipes(sample, need)
    if pipes:
        return rf"^(?P<Header>(?:[^|]*\|){{{pipes}}})\s*(?P<Content>.*)$"
    rows = [_TOKENS.findall(line)[: _MAX_TOKENS + 4] for line in sample]
    strict = _structural_prefix(rows, need, gap=0)
    if strict and sum(any(map(_closes, row[strict : strict + 4])) for row in rows) >= need:
        closing = r"(?:-|\[[^\]]*\]|\S*[:\]])"
        head = rf"(?:{_WORD}\s+){{{strict}}}(?:{_WORD}\s+){{0,3}}?{closing}"
        return rf"^\s*(?P<Header>{head})\s+(?P<Content>.*)$"
    if strict and sum(len(row) > strict and _closes(row[strict - 1]) for row in rows) >= need:
        return rf"^\s*(?P<Header>(?:{_WORD}\s+){{{strict}}})(?P<Content>.*)$"  # `… [Server] message`
    tolerant = _structural_prefix(rows, need, gap=_MAX_GAP)
    if tolerant:
        return rf"^\s*(?P<Header>(?:{_WORD}\s+){{{tolerant}}})(?P<Content>.*)$"
    return None


def _pipes(sample: list[str], need: float) -> int:
    """How many `|` nearly every line has (0: not a `|`-separated log)."""
    counts = [min(line.count("|"), _MAX_PIPES) for line in sample]
    for pipes in range(_MAX_PIPES, 0, -1):
        if sum(count >= pipes for count in counts) >= need:
            return pipes
    return 0


def _structural_prefix(rows: list[list[str]], need: float, *, gap: int) -> int:
    """How many leading columns are header: structural on nearly every line, with up to `gap`
    columns of words between them (not after the last one)."""
    end = 0
    words = 0
    for column in range(_MAX_TOKENS):
        # A column the message starts in on some lines is no header column.
        if sum(len(row) > column + 1 for row in rows) < need:
            break
        if sum(_structural(row[column]) for row in rows if len(row) > column) >= need:
            end = column + 1
            words = 0
        else:
            words += 1
            if words > gap:
                break
    return end
