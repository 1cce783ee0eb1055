"""The masking rules and the streaming template miner."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring.masking import mask
from monitoring.templates import TemplateMiner


def test_mask_replaces_variable_looking_parts() -> None:
    """Numbers, ids, hex, uuids, ips, paths, durations and quoted values become <*>."""
    cases = {
        "Took 250ms for /api/v1/users": "Took <*> for <*>",
        "user 42 logged in from 10.0.0.7:5432": "user <*> logged in from <*>",
        "request 3f2c9a1e-5b7d-4c1a-9e8f-0123456789ab failed": "request <*> failed",
        "key 'alpha' missing": "key <*> missing",
        "uid=0 euid=500 tty=pts": "uid=<*> euid=<*> tty=<*>",
        "reverse mapping for ns.example.com failed": "reverse mapping for <*> failed",
        "at Fri Jun 17 20:55:07 2005 done": "at <*> done",
        "address 0xdeadbeef": "address <*>",
    }
    assert cases == {message: mask(message) for message in cases}


def test_mask_keeps_words_and_apostrophes() -> None:
    """Constant text, including words with an apostrophe, is not masked."""
    assert "Can't find child in scoreboard" == mask("Can't find child in scoreboard")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_mask_depends_only_on_where_digits_are(message: str) -> None:
    """Changing which digits a message holds never changes its mask (the miner's cache relies on it)."""
    assert mask(message) == mask(re.sub(r"[0-9]", "0", message))


def test_same_statement_different_values_is_one_group() -> None:
    """Lines that differ only in their values share a group and a template."""
    miner = TemplateMiner()
    first = miner.add("PacketResponder 1 for block blk_38865049064139660 terminating")
    second = miner.add("PacketResponder 0 for block blk_-6952295868487656571 terminating")
    assert first.id == second.id
    assert "PacketResponder <*> for block <*> terminating" == second.template


def test_different_statements_are_different_groups() -> None:
    """Different statements, even of equal length, get different groups."""
    miner = TemplateMiner()
    groups = {
        miner.add("cupsd startup succeeded").id,
        miner.add("cupsd shutdown succeeded").id,
        miner.add("Failed password for root from 1.2.3.4 port 22 ssh2").id,
        miner.add("Accepted password for root from 1.2.3.4 port 22 ssh2").id,
    }
    assert 4 == len(groups)


def test_word_variables_merge_once_several_values_are_seen() -> None:
    """A position holding many different words (user names) becomes a variable."""
    miner = TemplateMiner()
    ids = [
        miner.add(f"Invalid user {name} from 10.0.0.1").id for name in ("admin", "test", "oracle", "guest")
    ]
    assert 1 == len({miner.resolve(i).id for i in ids})  # type: ignore[union-attr]
    assert "Invalid user <*> from <*>" == miner.resolve(ids[-1]).template  # type: ignore[union-attr]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=30), st.integers(min_value=1, max_value=5))
def test_identical_messages_never_open_new_groups(messages: list[str], repeats: int) -> None:
    """Repeating any messages never creates groups: each lands where it landed before."""
    miner = TemplateMiner()
    first = [miner.add(m).id for m in messages]
    count = len(miner.groups)
    for _ in range(repeats):
        again = [miner.add(m).id for m in messages]
        assert [miner.resolve(i).id for i in first] == [miner.resolve(i).id for i in again]  # type: ignore[union-attr]
    assert count == len(miner.groups)


def test_memory_is_bounded() -> None:
    """Beyond max_groups the least recently used groups are forgotten."""
    miner = TemplateMiner(max_groups=10)
    for index in range(100):
        miner.add(" ".join(["word"] * (index + 1)))
    assert 10 == len(miner.groups)
