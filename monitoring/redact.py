"""Mask secrets in text before anything is stored, sent to an LLM, or posted to Slack.

`redact(text)` replaces each secret with `[REDACTED]`, keeping a short, harmless label such as
`Bearer`, `password=` or the host of a URL so a reader still understands the line. The rules are
in `monitoring/secret_rules.py` (detect-secrets' provider patterns plus our own; see there).

Speed matters: the scanner redacts every log line. A rule's pattern runs only when one of its
keywords is in the line (lower-cased once), or, for the few rules without a literal keyword, when
the line holds a long token-like run; most lines run one or two patterns instead of all of them.
All matches are found on the original text, then merged and replaced in one pass, so one rule
never sees another's `[REDACTED]`.

Shape is kept: a secret that spans lines (a PEM key) becomes `[REDACTED]` followed by the same
number of line breaks, so line numbers after it do not move (code context relies on this).
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING

from monitoring.secret_rules import SHAPE, Rule, load_rules

if TYPE_CHECKING:
    from monitoring.events import LogEvent

__all__ = ["REDACTED", "redact", "redact_event"]

REDACTED = "[REDACTED]"

# Characters a secret's match is extended over, to the end of its token: a pattern that knows
# only a key's first 24 characters (a real Stripe key is longer) must not leave the rest readable.
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+/=")


class _Compiled:
    """The rules indexed for the prefilter: keyword → rules, and the rules without keywords."""

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules
        by_keyword: dict[str, list[int]] = {}
        shape: list[int] = []
        always: list[int] = []
        for index, rule in enumerate(rules):
            if rule.always:
                always.append(index)
            elif not rule.keywords:
                shape.append(index)
            for keyword in rule.keywords:
                by_keyword.setdefault(keyword, []).append(index)
        # One pass finds every keyword: a trie-shaped regex (shared prefixes factored out, so the
        # engine tests few branches per position) inside a lookahead, so overlapping keywords are
        # all seen. At a position it reports the longest keyword; the shorter ones starting there
        # are its prefixes, hence each keyword selects the rules of all its prefixes too.
        self.keywords = re.compile(f"(?=({_trie(list(by_keyword))}))")
        self.by_keyword = {
            keyword: frozenset(
                i for other, indexes in by_keyword.items() if keyword.startswith(other) for i in indexes
            )
            for keyword in by_keyword
        }
        self.shape = tuple(shape)
        self.always = tuple(always)


_Node = dict[str, "_Node"]


def _trie(words: list[str]) -> str:
    """A regex matching any of `words`, longest first, with common prefixes factored out."""
    root: _Node = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    return _trie_pattern(root)


def _trie_pattern(node: _Node) -> str:
    branches = [re.escape(char) + _trie_pattern(child) for char, child in sorted(node.items()) if char]
    if not branches:
        return ""
    pattern = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
    return f"(?:{pattern})?" if "" in node else pattern


@cache
def _compiled() -> _Compiled:
    # Built on first use: importing detect-secrets takes most of a second, which CLI commands
    # that never redact (`agent --help`) should not pay.
    return _Compiled(load_rules())


def redact(text: str) -> str:
    """`text` with every secret it recognises replaced by `[REDACTED]` (line breaks kept)."""
    compiled = _compiled()
    lowered = text.lower()
    selected = set(compiled.always)
    for keyword in set(compiled.keywords.findall(lowered)):
        selected.update(compiled.by_keyword[keyword])
    if compiled.shape and SHAPE.search(text):
        selected.update(compiled.shape)
    spans: list[tuple[int, int]] = []
    for index in selected:
        rule = compiled.rules[index]
        for match in rule.pattern.finditer(text):
            if rule.accept is not None and not rule.accept(match):
                continue
            start, end = match.span(rule.group)
            if start == end:
                continue
            while end < len(text) and text[end] in _TOKEN_CHARS:
                end += 1
            spans.append((start, end))
    if not spans:
        return text
    return _replace(text, spans)


def _replace(text: str, spans: list[tuple[int, int]]) -> str:
    spans.sort()
    out: list[str] = []
    cursor = 0
    start, end = spans[0]
    for next_start, next_end in spans[1:]:
        if next_start <= end:
            end = max(end, next_end)
            continue
        out.append(text[cursor:start])
        out.append(REDACTED + "\n" * text.count("\n", start, end))
        cursor, start, end = end, next_start, next_end
    out.append(text[cursor:start])
    out.append(REDACTED + "\n" * text.count("\n", start, end))
    out.append(text[end:])
    return "".join(out)


def redact_event(event: LogEvent) -> LogEvent:
    """The event with secrets masked in its message and traceback (in place, once; returned)."""
    if not event.redacted:
        event.message = redact(event.message)
        if event.traceback:
            event.traceback = redact(event.traceback)
        event.redacted = True
    return event
