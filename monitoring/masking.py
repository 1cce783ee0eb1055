"""Mask the variable-looking parts of a log message: `Took 12ms for /a/b` → `Took <*> for <*>`.

One fixed set of general rules, applied to every input (never tuned per log system): written-out
dates, paths and URLs, and number-like tokens: every token holding a digit (numbers, ids, hex,
uuids, ip addresses, durations, versions) except a word whose one digit follows a letter (`ssh2`,
`eth0`, `log4j`).
Delimiters such as `= : , ; ( ) [ ]` and quotes are kept, so `uid=0` → `uid=<*>`, `[10.0.0.1]` →
`[<*>]` and `"GET /x HTTP/1.1"` → `"GET <*>"`. Adjacent variables collapse into one `<*>`.

Words are never masked here, not even quoted ones, dotted names or the word value of a `key=value`
pair (`'sparkExecutorActorSystem'`, `mapred.job.id`, `tty=NODEVssh`): whether a word is a variable
is learnt by the miner from how many distinct words a position shows (`monitoring.templates`). A
word with a single digit inside (`ssh2`, `jk2_init`, `eth0`) counts as a word for the same reason.

Speed matters (the scanner masks every line): each rule runs only when its trigger character is
present, and every pattern starts at a token boundary so the engine never rescans inside a word.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["UNIT", "WILDCARD", "mask"]

WILDCARD: Final = "<*>"

# Characters that end a token for masking purposes (the token itself is replaced, not these).
_DELIM: Final = r"\s,;=:'\"()\[\]{}<>"
_START: Final = rf"(?<![^{_DELIM}])"

_DAY: Final = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?\s+"
_MONTH: Final = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"
_DATES: Final = re.compile(
    rf"(?<![\w])(?:{_DAY})?{_MONTH}\s+\d{{1,2}},?(?:\s+\d{{4}})?\s+\d{{1,2}}:\d{{2}}(?::\d{{2}})?(?:\s+\d{{4}})?\b"
    rf"|(?<![\w])\d{{1,2}}\s+{_MONTH}\s+\d{{4}}(?:\s+\d{{1,2}}:\d{{2}}(?::\d{{2}})?)?\b"
)
_PATHS: Final = re.compile(r"(?:(?<![\w./-])[a-z][a-z0-9+.-]*://|(?<![\w./-])/)[^\s,;'\"()\[\]{}<>]*")
# A token holding a digit; a colon belongs to it only inside (`10.0.0.1:22`), not at its end (`id 7:`).
_BODY: Final = r"[^\s,;=:'\"()\[\]{}<>]"
_DIGITS: Final = re.compile(rf"{_START}[^{_DELIM}\d]*+\d(?:{_BODY}|:(?={_BODY}))*")
_WORD_WITH_DIGIT: Final = re.compile(r"\D*[A-Za-z]\d\D*")
# A word and the dot leaders that join it to its number (`dcbf.........0x0`, a register dump):
# the word tells statements apart. Other glued words (`node-3`, `blk_-42`) go with the number.
_PREFIX: Final = re.compile(r"\w+\.{2,}")
_MONTH_OR_DAY: Final = re.compile(
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec|Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
)
_COLLAPSE: Final = re.compile(r"(?:<\*>[: ]?)+<\*>")
# The units a quantity is written in (the miner reads them too: `monitoring.templates`).
UNIT: Final = r"(?:[KMGTP]i?B|bytes?|B|[mun\u00b5]?s|secs?|seconds?|mins?|minutes?|hours?|h|days?)"
# A quantity followed by the same quantity in another unit, `1190 bytes (1.16 KB)`, `12 ms (0.012s)`:
# one variable, written with or without the second form depending on its size (`0 bytes`), so the
# parenthesis goes (else every unit the size happens to be shown in makes another statement).
_ALSO_IN: Final = re.compile(rf"(<\*> {UNIT}) \(<\*>(?: ?{UNIT})?\)")


def _digits(match: re.Match[str]) -> str:
    """`<*>` for a number-like token; a word with one digit right after a letter (`ssh2`, `jk2_init`)
    stays, an id with one (`blk_1`, `node-3`) does not; a word joined to the number by dot leaders
    stays in front of it (`dcbf.........<*>`)."""
    token = match.group()
    if token.isdigit():
        return WILDCARD  # the common case (ids, counts): no letter, no dot leaders
    if _WORD_WITH_DIGIT.fullmatch(token):
        return token
    prefix = _PREFIX.match(token)
    return prefix.group() + WILDCARD if prefix else WILDCARD


def mask(message: str) -> str:
    """`message` with each variable-looking part replaced by `<*>` (adjacent ones merged)."""
    if ":" in message and _MONTH_OR_DAY.search(message):
        message = _DATES.sub(WILDCARD, message)
    if "/" in message:
        message = _PATHS.sub(WILDCARD, message)
    message = _DIGITS.sub(_digits, message)
    if "<*><*>" in message or "<*>:<*>" in message or "<*> <*>" in message:
        message = _COLLAPSE.sub(WILDCARD, message)
    if "(<*>" in message:
        message = _ALSO_IN.sub(r"\1", message)
    return message
