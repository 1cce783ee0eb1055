"""A streaming log-template miner with bounded memory.

Each message is masked (`monitoring.masking`), split on whitespace, and assigned to a group:

0. fastest path: masking never looks at which digit a message holds, only where digits are, so a
   message with every digit replaced by `0` (a C-speed `bytes.translate`) is a cache key that
   skips masking for the same statement with other numbers;
1. exact fast path: a dict keyed by the masked message. A message seen before returns the group it
   got the first time (or the group that one was merged into), so repeated messages never open
   new groups;
2. otherwise the candidates are the groups with the same token count and the same first token
   (a masked first token matches any). The message joins a group when every position where both
   sides hold a constant agrees; positions already turned into `<*>` accept anything;
3. otherwise it opens a new group. When `merge_after` groups of a bucket differ from each other at
   exactly one position, that position is a variable that happens to hold words (user names,
   hosts): the groups are merged into the oldest one and the position becomes `<*>`. Fewer
   distinct values than that stay distinct statements (`startup`/`shutdown`, `password`/`none`).

One fixed configuration serves every input. Memory is bounded by `max_groups` (least recently
used groups are forgotten beyond it) and `max_cache` (the exact-match cache is cleared and refilled).
Merged groups keep answering to their old ids through `resolve`.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from monitoring.masking import WILDCARD, mask

__all__ = ["Group", "TemplateMiner"]

_ZERO_DIGITS = bytes.maketrans(b"0123456789", b"0000000000")


@dataclass(eq=False)
class Group:
    """A template group: a stable id, the template tokens and how many messages joined it."""

    id: int
    tokens: list[str]
    count: int = 0
    key: tuple[int, str] = field(default=(0, ""))

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


class TemplateMiner:
    """Assign template groups to messages one at a time. Not thread-safe; one per scan."""

    def __init__(self, *, merge_after: int = 3, max_groups: int = 20_000, max_cache: int = 200_000) -> None:
        self.merge_after = merge_after
        self.max_groups = max_groups
        self.max_cache = max_cache
        self._cache: dict[str, Group] = {}
        self._digits: dict[bytes, Group] = {}
        self._buckets: dict[tuple[int, str], list[Group]] = {}
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
        key = message.encode("utf-8", "surrogatepass").translate(_ZERO_DIGITS)
        group = self._digits.get(key)
        if group is None or group.id not in self._groups:
            group = self._lookup(mask(message))
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

    def _place(self, masked: str) -> Group:
        tokens = masked.split() or [""]
        first = tokens[0]
        key = (len(tokens), "" if WILDCARD in first else first)
        bucket = self._buckets.setdefault(key, [])
        siblings: dict[int, list[Group]] = {}
        for group in bucket:
            differ = -1
            for index, (mine, theirs) in enumerate(zip(group.tokens, tokens, strict=True)):
                if mine != theirs and not _compatible(mine, theirs):
                    if differ >= 0:
                        differ = -2
                        break
                    differ = index
            if differ == -1:
                self._join(group, tokens)
                return group
            if differ >= 0:
                siblings.setdefault(differ, []).append(group)
        group = Group(id=self._next_id, tokens=tokens, key=key)
        self._next_id += 1
        bucket.append(group)
        self._groups[group.id] = group
        for position, related in siblings.items():
            if len(related) + 1 >= self.merge_after:
                group = self._merge([*related, group], position)
                break
        if len(self._groups) > self.max_groups:
            self._evict()
        return group

    def _join(self, group: Group, tokens: list[str]) -> None:
        group.tokens = [
            mine if mine == theirs else WILDCARD for mine, theirs in zip(group.tokens, tokens, strict=True)
        ]
        self._groups.move_to_end(group.id)

    def _merge(self, related: list[Group], position: int) -> Group:
        keep = min(related, key=lambda g: g.id)
        bucket = self._buckets[keep.key]
        for other in related:
            if other is not keep:
                keep.count += other.count
                self._merged_into[other.id] = keep.id
                del self._groups[other.id]
                bucket.remove(other)
                self._join(keep, other.tokens)
        keep.tokens[position] = WILDCARD
        return keep

    def _evict(self) -> None:
        _, oldest = self._groups.popitem(last=False)
        self._buckets[oldest.key].remove(oldest)
