"""A streaming log-template miner with bounded work per line and bounded memory.

Each message is masked (`monitoring.masking`), split on whitespace, and assigned to a group:

0. fastest path: masking never looks at which digit a message holds, only where digits are, so a
   message with every digit replaced by `0` (a C-speed `bytes.translate`) is a cache key that
   skips masking for the same statement with other numbers (when the mask kept no digit);
1. exact fast path: a dict keyed by the masked message. A message seen before returns the group it
   got the first time (or the group that one was merged into), so repeated messages never open
   new groups;
2. otherwise the candidates are the groups of one bucket: same token count and same first token
   (a masked first token, a dotted name first, or a first token past `MAX_CHILDREN` distinct ones
   for that token count, shares the wildcard bucket, as Drain's prefix tree does). At most
   `MAX_CANDIDATES` of them, the most recently used first, are compared: the work per line is
   bounded whatever the log holds.
   The message joins a group when every position where both sides hold a constant agrees;
3. otherwise the closest candidate (fewest disagreeing positions, at least half of the positions
   agreeing) records, for each position where they disagree, the distinct words seen there (at most
   `DISTINCT_WORDS` per position; a unit after a variable, `size <*> B` / `size <*> KB`, two).
   Once every disagreeing position has shown `DISTINCT_WORDS` distinct words, those positions
   become `<*>`: they hold a variable that happens to be a word (user names, team names, hosts).
   The message joins, and the groups that the widened template now
   covers are merged into it (they keep answering to their old ids through `resolve`). Fewer
   distinct words than that stay distinct statements (`startup`/`shutdown`, `GET`/`POST`,
   `Paused`/`Resumed`/`Started`);
4. otherwise the message opens a new group.

One fixed configuration serves every input; nothing is keyed to a log system. Memory is bounded by
`max_groups` (least recently used groups are forgotten beyond it), `max_cache` (the exact-match
caches are cleared and refilled) and, per group, by its tokens plus `DISTINCT_WORDS` words per
position. No per-line data is kept.
"""

from __future__ import annotations

import math
import os
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice, pairwise
from typing import Final

from monitoring.masking import UNIT, WILDCARD, mask

__all__ = [
    "DISTINCT_WORDS",
    "GAP_WORDS",
    "MAX_CANDIDATES",
    "MAX_CHILDREN",
    "SYMBOL_WORDS",
    "Group",
    "TemplateMiner",
]

# Groups compared per line at most (the bound the property tests check). Real logs rarely hold more
# than a handful of statements with the same token count and first word; the cap only bites on
# adversarial input, where it keeps the cost linear in the lines instead of quadratic.
MAX_CANDIDATES: Final = 32
# Distinct words a position must show before it becomes a variable.
DISTINCT_WORDS: Final = 3
# Distinct words an upper-case position (`"GET`/`"POST`, `NEW`/`RUNNING`, `ERROR`) must show:
# such words name methods, states and codes, a small fixed set that tells statements apart.
SYMBOL_WORDS: Final = 10
# Distinct runs of words a stretch of a template must show before it becomes one variable spanning
# several words: stricter than for one word, since a few extra words are as often a different
# statement (`for root` / `for invalid user oracle`).
GAP_WORDS: Final = 6
# Distinct first tokens per token count before further ones share the wildcard bucket.
MAX_CHILDREN: Final = 100
# Longest run of words one variable may span.
_LONGEST_RUN: Final = 6
# Share of positions that must agree for a candidate to collect evidence from a message.
_NEAR: Final = 0.5

_SYMBOL: Final = re.compile(r"[A-Z][A-Z0-9_]+")
_PUNCT: Final = "\"'()[]{}<>:,;."
_HAS_DIGIT: Final = re.compile(r"\d")
_DOTTED: Final = re.compile(r"\w\.\w").search
_UNIT_WORD: Final = re.compile(UNIT).fullmatch
_ZERO_DIGITS: Final = bytes.maketrans(b"0123456789", b"0000000000")


def _is_unit(token: str) -> bool:
    return _UNIT_WORD(token.strip(_PUNCT)) is not None


@dataclass(eq=False)
class Group:
    """A template group: a stable id, the template tokens and how many messages joined it."""

    id: int
    tokens: list[str]
    count: int = 0
    key: tuple[int, str] = field(default=(0, ""))
    # Distinct other words seen at each position by messages that nearly matched (capped).
    seen: dict[tuple[int, int], set[str]] = field(default_factory=dict, repr=False)
    # The position of the one `<*>` that stands for a run of words (-1: none).
    wide: int = -1

    @property
    def template(self) -> str:
        return " ".join(self.tokens)


def _compatible(mine: str, theirs: str) -> bool:
    """Whether two different tokens may be the same token: one is or holds a wildcard that fits."""
    if WILDCARD in (mine, theirs):
        return True
    if WILDCARD in mine:
        return _fits(mine, theirs)
    if WILDCARD in theirs:
        return _fits(theirs, mine)
    return False


def _fits(pattern: str, token: str) -> bool:
    head, _, tail = pattern.partition(WILDCARD)
    # Only the simple shape `head<*>tail` (one wildcard) is matched; others count as different.
    return (
        WILDCARD not in tail
        and token.startswith(head)
        and token.endswith(tail)
        and (len(token) >= len(head) + len(tail))
    )


def _affixed(words: list[str]) -> str:
    """`<*>` with the punctuation that all `words` share at their ends (`user=<*>`, `<*>]`, `'<*>'`)."""
    # Character by character is what is wanted here: these are words, not paths.
    head = os.path.commonprefix(words)  # noqa: RUF071
    tail = os.path.commonprefix([w[::-1] for w in words])[::-1]  # noqa: RUF071
    cut = max((i + 1 for i, c in enumerate(head) if not c.isalnum()), default=0)
    keep = min((i for i, c in enumerate(tail) if not c.isalnum()), default=len(tail))
    head, tail = head[:cut], tail[keep:]
    if WILDCARD in head or WILDCARD in tail or len(head) + len(tail) >= min(map(len, words)):
        return WILDCARD
    return f"{head}{WILDCARD}{tail}"


def _collapse_run(group: Group) -> None:
    """Word variables side by side are one variable of several words (`[instance: ab cd]`)."""
    for index in range(len(group.tokens) - 1):
        if group.tokens[index] == group.tokens[index + 1] == WILDCARD:
            end = index + 1
            while end < len(group.tokens) and group.tokens[end] == WILDCARD:
                end += 1
            group.tokens[index:end] = [WILDCARD]
            group.wide = index
            return


def _differences(template: list[str], tokens: list[str], limit: int) -> tuple[list[int], int] | None:
    """Positions where both hold different constants, and how many constants agree.

    None as soon as more than `limit` positions differ.
    """
    differ: list[int] = []
    agree = 0
    for index, (mine, theirs) in enumerate(zip(template, tokens, strict=True)):
        if mine == theirs:
            if WILDCARD not in mine:
                agree += 1
        elif not _compatible(mine, theirs):
            differ.append(index)
            if len(differ) > limit:
                return None
    return differ, agree


def _fit_pattern(tokens: list[str]) -> Callable[[str], object]:
    """`fullmatch` of the space-joined messages that fit `tokens` unchanged, as `_join` sees it: a
    constant is itself, `<*>` any word, `head<*>tail` a word with those ends. Other tokens (two
    wildcards in one) match nothing here, which leaves such messages to the word-by-word path."""
    parts = []
    for token in tokens:
        if WILDCARD not in token:
            parts.append(re.escape(token))
        elif token == WILDCARD:
            parts.append(r"\S+")
        elif token.count(WILDCARD) == 1:
            head, _, tail = token.partition(WILDCARD)
            parts.append(rf"{re.escape(head)}\S*{re.escape(tail)}")
        else:
            parts.append("(?!)")
    return re.compile(" ".join(parts)).fullmatch


def _same(mine: str, theirs: str) -> bool:
    return mine == theirs or _compatible(mine, theirs)


def _covers(template: list[str], wide: int, tokens: list[str]) -> bool:
    """Whether `tokens` fit `template`, whose `<*>` at `wide` (if >= 0) stands for any number of tokens."""
    if len(template) == len(tokens):
        return all(map(_same, template, tokens))
    if wide < 0 or len(tokens) < len(template) - 1:
        return False
    tail = len(template) - wide - 1
    return all(map(_same, template[:wide], tokens[:wide])) and all(
        map(_same, template[wide + 1 :], tokens[len(tokens) - tail :])
    )


def _ends(template: list[str], tokens: list[str], same: Callable[[str, str], bool]) -> tuple[int, int]:
    """How many tokens agree at the start, and then at the end (never overlapping the start)."""
    most = min(len(template), len(tokens))
    prefix = 0
    while prefix < most and same(template[prefix], tokens[prefix]):
        prefix += 1
    suffix = 0
    while suffix < most - prefix and same(template[-1 - suffix], tokens[-1 - suffix]):
        suffix += 1
    return prefix, suffix


def _holds(template: str, token: str) -> bool:
    """Whether a template token stands for a message token (a `<*>` in the message only for itself)."""
    return template == token or (WILDCARD not in token and _compatible(template, token))


def _unit(template: list[str], tokens: list[str]) -> tuple[int, int] | None:
    """The span of `template` that is one variable written in one or two words, else None.

    `lifetime 00:01` and `lifetime <1 sec`, `took 12ms` and `took 12 ms`: the lengths differ by
    one, where they differ one side holds a bare `<*>` and the other two words, one of them a
    variable, and at least two constant words agree around it.
    """
    if abs(len(template) - len(tokens)) != 1:
        return None
    prefix, suffix = _ends(template, tokens, _holds)
    for start, tail in ((prefix, suffix), (prefix - 1, suffix), (prefix, suffix - 1)):
        if start < 0 or tail < 0:
            continue
        ours, theirs = template[start : len(template) - tail], tokens[start : len(tokens) - tail]
        kept = (*template[:start], *template[len(template) - tail :])
        if sum(WILDCARD not in word for word in kept) < 2:
            continue
        for bare, other in ((ours, theirs), (theirs, ours)):
            if bare == [WILDCARD] and len(other) == 2 and any(WILDCARD in word for word in other):
                return start, len(template) - tail
    return None


def _gap(template: list[str], tokens: list[str]) -> tuple[int, int, str] | None:
    """Where a message of another length differs from `template` in one run of words.

    (start, end, words): `template[start:end]` stands where the message has `words`; None unless
    the agreeing prefix and suffix hold at least two constants and both runs are 1 to 6 words long.
    """
    prefix, suffix = _ends(template, tokens, _same)
    agree = sum(WILDCARD not in t for t in (*template[:prefix], *template[len(template) - suffix :]))
    ours = len(template) - prefix - suffix
    theirs = len(tokens) - prefix - suffix
    if agree < 2 or min(ours, theirs) < 1 or max(ours, theirs) > _LONGEST_RUN:
        return None
    return prefix, len(template) - suffix, " ".join(tokens[prefix : len(tokens) - suffix])


class TemplateMiner:
    """Assign template groups to messages one at a time. Not thread-safe; one per scan."""

    def __init__(self, *, max_groups: int = 20_000, max_cache: int = 50_000) -> None:
        self.max_groups = max_groups
        self.max_cache = max_cache
        # Groups compared for the last message (instrumentation: tests check it stays bounded).
        self.comparisons = 0
        self._cache: dict[str, Group] = {}
        self._matchers: dict[str, Callable[[str], object]] = {}  # template text -> its fullmatch
        self._digits: dict[bytes, Group] = {}
        self._buckets: dict[tuple[int, str], OrderedDict[int, Group]] = {}
        self._children: dict[int, set[str]] = {}
        self._by_first: dict[str, OrderedDict[int, Group]] = {}
        self._groups: OrderedDict[int, Group] = OrderedDict()
        self._merged_into: dict[int, int] = {}
        self._next_id = 1

    @property
    def groups(self) -> list[Group]:
        """All live groups, oldest first."""
        return sorted(self._groups.values(), key=lambda g: g.id)

    def resolve(self, group_id: int) -> Group | None:
        """The live group that `group_id` is now part of (None once it has been forgotten)."""
        while group_id in self._merged_into:
            group_id = self._merged_into[group_id]
        return self._groups.get(group_id)

    def add(self, message: str) -> Group:
        """The group of `message` (created if needed); its count includes this message."""
        self.comparisons = 0
        key = message.encode("utf-8", "surrogatepass").translate(_ZERO_DIGITS)
        group = self._digits.get(key)
        if group is None or group.id not in self._groups:
            masked = mask(message)
            group = self._lookup(masked)
            # Only a mask that kept no digit is the same for every message with this key (a word
            # with one digit inside, `eth0`, stays as it is and `eth1` may be another statement).
            if not _HAS_DIGIT.search(masked):
                if len(self._digits) >= self.max_cache:
                    self._digits.clear()
                self._digits[key] = group
        group.count += 1
        return group

    def _lookup(self, masked: str) -> Group:
        group = self._cache.get(masked)
        if group is None or group.id not in self._groups:
            group = (self.resolve(group.id) if group is not None else None) or self._place(masked)
            if len(self._cache) >= self.max_cache:
                self._cache.clear()
            self._cache[masked] = group
        return group

    def _bucket_key(self, tokens: list[str]) -> tuple[int, str]:
        first = tokens[0]
        if WILDCARD in first or _DOTTED(first):
            # A dotted name first (`com.apple.icloud.heartbeat: …`) is as often a variable (the job,
            # the class, the host a statement is about) as a masked token: it is compared with the
            # other statements of its length, and becomes `<*>` on the evidence any position needs.
            return (len(tokens), "")
        children = self._children.setdefault(len(tokens), set())
        if first not in children:
            if len(children) >= MAX_CHILDREN:
                return (len(tokens), "")
            children.add(first)
        return (len(tokens), first)

    def _place(self, masked: str) -> Group:
        tokens = masked.split() or [""]
        key = self._bucket_key(tokens)
        found = self._same_length(tokens, key)
        if isinstance(found, Group):
            return found
        if found:
            # Every near candidate learns the words (`Deployed <w> to production` learns its
            # names even though `Deployed <*> to staging` is closer); the closest that is ready widens.
            ready = []
            for group, differ in found:
                spans = [(p, p + 1) for p in differ]
                if self._learn(group, spans, [tokens[p] for p in differ]):
                    ready.append((len(differ), group.id, group, spans))
            if ready:
                _, _, group, spans = min(ready, key=lambda r: r[:2])
                return self._widen(group, spans, tokens)
        return self._other_lengths(tokens, key[1]) or self._open(tokens, key)

    def _same_length(self, tokens: list[str], key: tuple[int, str]) -> Group | list[tuple[Group, list[int]]]:
        """The group `tokens` fit, else the near groups and where they differ."""
        # A candidate collects evidence only when at least half of the positions agree.
        limit = len(tokens) - math.ceil(len(tokens) * _NEAR)
        near = []
        line = " ".join(tokens)
        dotted = key[1] == "" and _DOTTED(tokens[0]) is not None
        for group in islice(reversed(self._buckets.get(key, {}).values()), MAX_CANDIDATES):
            self.comparisons += 1
            if self._matcher(group)(line):
                # The message fits the template as it is (the common case once a statement's
                # variables are known): one regex instead of comparing and re-joining word by word.
                self._touch(group)
                return group
            found = _differences(group.tokens, tokens, limit)
            if found is None:
                continue
            differ, agree = found
            if not differ:
                self._join(group, tokens)
                return group
            # Evidence counts only from a message that shares more constant words than it differs
            # in: `[instance: <*>] Claim successful` says nothing about `... Creating image`; or
            # one of each (`removing chargen` / `removing daytime`: a short statement's variable).
            # A dotted first word that differs is evidence of a variable only when nothing else
            # differs: `mapred.tip.id is deprecated. Instead, use mapreduce.task.id` and its
            # siblings are statements whose two names go together.
            if (len(differ) < agree or len(differ) == 1 == agree) and not (
                dotted and differ[0] == 0 and len(differ) > 1
            ):
                near.append((group, differ))
        return near

    def _other_lengths(self, tokens: list[str], first: str) -> Group | None:
        """The group of another length that `tokens` fit, or that widens to fit them, else None.

        Lines of one statement whose variable spans several words (`lost: timed out`,
        `lost: connection reset by peer`) differ in length; candidates share the first word.
        """
        ready: list[tuple[Group, int, int]] = []
        for group in islice(reversed(self._by_first.get(first, {}).values()), MAX_CANDIDATES):
            if len(group.tokens) == len(tokens):
                continue
            self.comparisons += 1
            if _covers(group.tokens, group.wide, tokens):
                self._groups.move_to_end(group.id)
                return group
            unit = _unit(group.tokens, tokens)
            if unit is not None:
                return self._widen(group, [unit], None)
            gap = _gap(group.tokens, tokens)
            if gap is not None and self._learn_run(group, *gap):
                ready.append((group, gap[0], gap[1]))
        if ready:
            group, start, end = min(ready, key=lambda r: r[0].id)
            return self._widen(group, [(start, end)], None)
        return None

    def _open(self, tokens: list[str], key: tuple[int, str]) -> Group:
        group = Group(id=self._next_id, tokens=tokens, key=key)
        self._next_id += 1
        self._buckets.setdefault(key, OrderedDict())[group.id] = group
        self._by_first.setdefault(key[1], OrderedDict())[group.id] = group
        self._groups[group.id] = group
        if len(self._groups) > self.max_groups:
            self._evict()
        return group

    @staticmethod
    def _learn(group: Group, spans: list[tuple[int, int]], words: list[str]) -> bool:
        """Record the message's words where it differs; whether all those spans are variables now."""
        ready = True
        # Neighbouring words that differ together are a phrase (`No child processes` / `Bad file
        # descriptor`): different phrases are as often different statements, so they need the
        # evidence a run of words needs.
        phrase = any(a[1] == b[0] for a, b in pairwise(spans))
        for span, word in zip(spans, words, strict=True):
            seen = group.seen.setdefault(span, set())
            own = group.tokens[span[0]]
            if span[0] > 0 and WILDCARD in group.tokens[span[0] - 1] and _is_unit(own) and _is_unit(word):
                # The unit of a quantity (`size <*> B` / `size <*> KB`): it changes with the
                # value's size, so two units are enough to tell it is part of the variable.
                needed = 2
            elif _SYMBOL.fullmatch(word.strip(_PUNCT)) or _SYMBOL.fullmatch(own.strip(_PUNCT)):
                needed = SYMBOL_WORDS
            else:
                needed = GAP_WORDS if phrase else DISTINCT_WORDS
            if len(seen) < needed:
                seen.add(word)
            # The group's own word counts as one of the distinct values.
            if len(seen) + 1 < needed:
                ready = False
        return ready

    @staticmethod
    def _learn_run(group: Group, start: int, end: int, run: str) -> bool:
        """Record a run of words standing where the template has `start:end`; whether it is a variable.

        A run that starts or ends with the same word as one seen before (or as the template's own)
        is not new evidence: `failed: timed out` and `failed: refused` beside `passed` are two
        statements whose second one has a variable, not one statement.
        """
        seen = group.seen.setdefault((start, end), set())
        words = run.split()
        own = group.tokens[start:end]
        if len(seen) < GAP_WORDS and not any(
            words[0] == other[0] or words[-1] == other[-1] for other in (own, *(o.split() for o in seen))
        ):
            seen.add(run)
        return len(seen) + 1 >= GAP_WORDS

    def _widen(self, group: Group, spans: list[tuple[int, int]], tokens: list[str] | None) -> Group:
        """Turn `spans` of the group's template into `<*>`, join `tokens`, merge the groups now covered."""
        for start, end in sorted(spans, reverse=True):
            words = [" ".join(group.tokens[start:end]), *group.seen.get((start, end), ())]
            if tokens is not None:
                words.append(tokens[start])
            group.tokens[start:end] = [_affixed(words)]
            if end - start != 1 or tokens is None:
                group.wide = start
        group.seen.clear()
        if tokens is not None:
            self._join(group, tokens)
        if group.wide < 0:
            _collapse_run(group)
        key = self._bucket_key(group.tokens)
        if key != group.key:
            del self._buckets[group.key][group.id]
            del self._by_first[group.key[1]][group.id]
            group.key = key
            self._buckets.setdefault(key, OrderedDict())[group.id] = group
            self._by_first.setdefault(key[1], OrderedDict())[group.id] = group
        # Groups opened earlier for the same statement (one per word seen) now fit the template.
        covered = []
        for other in islice(reversed(self._by_first[key[1]].values()), MAX_CANDIDATES):
            self.comparisons += 1
            if other is not group and _covers(group.tokens, group.wide, other.tokens):
                covered.append(other)
        for other in covered:
            group.count += other.count
            self._merged_into[other.id] = group.id
            self._forget(other)
            if len(other.tokens) == len(group.tokens):
                self._join(group, other.tokens)
        return group

    def _matcher(self, group: Group) -> Callable[[str], object]:
        template = group.template
        matcher = self._matchers.get(template)
        if matcher is None:
            if len(self._matchers) >= self.max_cache:
                self._matchers.clear()
            matcher = self._matchers[template] = _fit_pattern(group.tokens)
        return matcher

    def _join(self, group: Group, tokens: list[str]) -> None:
        group.tokens = [
            mine if mine == theirs or (WILDCARD in mine and _fits(mine, theirs)) else WILDCARD
            for mine, theirs in zip(group.tokens, tokens, strict=True)
        ]
        self._touch(group)

    def _touch(self, group: Group) -> None:
        self._groups.move_to_end(group.id)
        self._buckets[group.key].move_to_end(group.id)
        self._by_first[group.key[1]].move_to_end(group.id)

    def _forget(self, group: Group) -> None:
        del self._groups[group.id]
        del self._buckets[group.key][group.id]
        del self._by_first[group.key[1]][group.id]

    def _evict(self) -> None:
        self._forget(next(iter(self._groups.values())))
