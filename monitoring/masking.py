"""Mask the variable-looking parts of a log message: `Took 12ms for /a/b` → `Took <*> for <*>`.

One fixed set of general rules, applied to every input (never tuned per log system): written-out
dates, quoted values, paths and URLs, values of `key=value` pairs, anything holding a digit
(numbers, ids, hex, uuids, ip addresses, durations, versions) and host names. Delimiters such as
`= : , ; ( ) [ ]` are kept, so `uid=0` → `uid=<*>` and `[10.0.0.1]` → `[<*>]`.

Speed matters (the scanner masks every line): each rule runs only when its trigger character is
present, and every pattern starts at a token boundary so the engine never rescans inside a word.
"""

from __future__ import annotations

import re

__all__ = ["WILDCARD", "mask"]

WILDCARD = "<*>"

# Characters that end a token for masking purposes (the token itself is replaced, not these).
_DELIM = r"\s,;=:'\"()\[\]{}<>"
_START = rf"(?<![^{_DELIM}])"

_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?\s+"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"
_DATES = re.compile(
    rf"(?<![\w])(?:{_DAY})?{_MONTH}\s+\d{{1,2}},?(?:\s+\d{{4}})?\s+\d{{1,2}}:\d{{2}}(?::\d{{2}})?(?:\s+\d{{4}})?\b"
    rf"|(?<![\w])\d{{1,2}}\s+{_MONTH}\s+\d{{4}}(?:\s+\d{{1,2}}:\d{{2}}(?::\d{{2}})?)?\b"
)
_QUOTED = re.compile(r"\"[^\"\n]{0,200}\"|(?<![\w'])'[^'\n]{0,200}'(?![\w'])")
_PATHS = re.compile(r"(?:(?<![\w./-])[a-z][a-z0-9+.-]*://|(?<![\w./-])/)[^\s,;'\"()\[\]{}<>]*")
_VALUES = re.compile(rf"(?<==)[^{_DELIM}]+")
_DIGITS = re.compile(rf"{_START}[^{_DELIM}\d]*+\d[^\s,;='\"()\[\]{{}}<>]*")
_HOSTS = re.compile(r"(?<![\w.-])(?:[\w-]+\.){2,}[A-Za-z][\w-]*(?![\w.-])")
_MONTH_OR_DAY = re.compile(r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec|Mon|Tue|Wed|Thu|Fri|Sat|Sun)")
_COLLAPSE = re.compile(r"(?:<\*>:?)+<\*>")


def mask(message: str) -> str:
    """`message` with each variable-looking part replaced by `<*>` (adjacent ones merged)."""
    if ":" in message and _MONTH_OR_DAY.search(message):
        message = _DATES.sub(WILDCARD, message)
    if '"' in message or "'" in message:
        message = _QUOTED.sub(WILDCARD, message)
    if "/" in message:
        message = _PATHS.sub(WILDCARD, message)
    if "=" in message:
        message = _VALUES.sub(WILDCARD, message)
    message = _DIGITS.sub(WILDCARD, message)
    if "." in message:
        message = _HOSTS.sub(WILDCARD, message)
    if "<*><*>" in message or "<*>:<*>" in message:
        message = _COLLAPSE.sub(WILDCARD, message)
    return message
