"""The masking rules and the streaming template miner."""

from __future__ import annotations

import random
import re
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring.masking import mask
from monitoring.templates import DISTINCT_WORDS, GAP_WORDS, MAX_CANDIDATES, TemplateMiner

# Each line runs three bounded loops at most: its bucket, the groups of other lengths with the same
# first word, and the groups a widened template covers.
_PER_LINE = 3 * MAX_CANDIDATES


def test_mask_replaces_variable_looking_parts() -> None:
    """Numbers, ids, hex, uuids, ips, paths and durations become <*>, also as key=value values."""
    cases = {
        "Took 250ms for /api/v1/users": "Took <*> for <*>",
        "user 42 logged in from 10.0.0.7:5432": "user <*> logged in from <*>",
        "request 3f2c9a1e-5b7d-4c1a-9e8f-0123456789ab failed": "request <*> failed",
        "uid=0 euid=500 tty=pts": "uid=<*> euid=<*> tty=pts",
        "at Fri Jun 17 20:55:07 2005 done": "at <*> done",
        "address 0xdeadbeef": "address <*>",
        "Received disconnect from 10.0.0.1: Bye": "Received disconnect from <*>: Bye",
    }
    assert cases == {message: mask(message) for message in cases}


def test_mask_keeps_words_quotes_and_words_with_one_digit() -> None:
    """Words stay, quoted or dotted or with a single digit inside: the miner decides about them."""
    for message in (
        "Can't find child in scoreboard",
        "Successfully started service 'sparkExecutorActorSystem' on port",
        "mapred.job.id is deprecated",
        "Failed password for root ssh2",
        "jk2_init() Found child",
    ):
        assert message == mask(message)


def test_mask_keeps_the_method_of_a_quoted_request_line() -> None:
    assert '<*> "GET <*>" <*>' == mask('10.0.0.1:5000 - "GET /items/42?x=1 HTTP/1.1" 200').replace(" -", "")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_mask_depends_only_on_where_digits_are(message: str) -> None:
    """Which digits a message holds changes its mask only in the digits the mask keeps (the miner's
    digit-key cache relies on it, and caches only masks that kept no digit)."""
    zeroed = re.sub(r"[0-9]", "0", message)
    assert re.sub(r"[0-9]", "0", mask(message)) == mask(zeroed)


def _final(miner: TemplateMiner, ids: list[int]) -> list[int]:
    resolved = [miner.resolve(i) for i in ids]
    assert all(g is not None for g in resolved)
    return [g.id for g in resolved if g is not None]


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


def test_quoted_request_lines_keep_their_method() -> None:
    """`"GET …"` and `"POST …"` access lines are two statements; each takes any path and status."""
    miner = TemplateMiner()
    ids: dict[str, list[int]] = {"GET": [], "POST": []}
    for index in range(200):
        method = "GET" if index % 3 else "POST"
        line = (
            f'10.0.{index % 7}.1:{40000 + index} - "{method} /api/items/{index} HTTP/1.1" {200 + index % 5}'
        )
        ids[method].append(miner.add(line).id)
    get, post = (set(_final(miner, ids[m])) for m in ("GET", "POST"))
    assert 1 == len(get) == len(post)
    assert get != post


def test_word_variables_merge_once_several_values_are_seen() -> None:
    """A position holding DISTINCT_WORDS different words (user names) becomes a variable."""
    miner = TemplateMiner()
    names = ("admin", "test", "oracle", "guest", "pi")
    ids = [miner.add(f"Invalid user {name} from 10.0.0.1").id for name in names[:DISTINCT_WORDS]]
    assert 1 == len(set(_final(miner, ids)))
    assert "Invalid user <*> from <*>" == miner.resolve(ids[-1]).template  # type: ignore[union-attr]


def test_word_values_of_key_value_pairs_are_learnt() -> None:
    """`user=<w>` becomes a variable once several users are seen; the key stays in the template."""
    miner = TemplateMiner()
    ids = [miner.add(f"login ok user={name} tty=NODEVssh").id for name in ("root", "guest", "test", "admin")]
    assert 1 == len(set(_final(miner, ids)))
    assert "login ok user=<*> tty=NODEVssh" == miner.resolve(ids[0]).template  # type: ignore[union-attr]


def test_fewer_distinct_words_stay_distinct_statements() -> None:
    """Two words at one position (`startup`/`shutdown`) are two statements, however often seen."""
    miner = TemplateMiner()
    ids = [miner.add(f"cupsd {word} succeeded").id for word in ["startup", "shutdown"] * 50]
    assert 2 == len(set(_final(miner, ids)))


def test_a_variable_of_several_words_is_one_group() -> None:
    """Lines of one statement whose variable spans a varying number of words share a group."""
    reasons = [
        "timed out",
        "connection reset by peer",
        "broken pipe",
        "no route to host",
        "refused",
        "host is unreachable",
        "TLS handshake failed",
        "remote end closed connection",
    ]
    miner = TemplateMiner()
    ids = [
        miner.add(f"Connection to 10.0.0.{i % 9}:5432 lost: {reasons[i % len(reasons)]}").id
        for i in range(80)
    ]
    assert len(reasons) >= GAP_WORDS
    assert 1 == len(set(_final(miner, ids)))
    assert "Connection to <*> lost: <*>" == miner.resolve(ids[-1]).template  # type: ignore[union-attr]


def test_a_value_written_with_or_without_a_unit_is_one_variable() -> None:
    """`lifetime <1 sec` and `lifetime 00:01` are one statement: a variable written in one or two words."""
    miner = TemplateMiner()
    ids = [
        miner.add(f"proxy.example.org:{5000 + i} close, {100 * i} bytes sent, lifetime {life}").id
        for i, life in enumerate(["<1 sec", "00:01", "<1 sec", "02:13", "01:00:02", "<1 sec"])
    ]
    assert 1 == len(set(_final(miner, ids)))


_UNITS = st.sampled_from(["bytes", "B", "KB", "MB", "GB", "ms", "s", "sec", "us", "KiB"])


@settings(max_examples=150, deadline=None)
@given(
    st.integers(min_value=0, max_value=10**12),
    st.floats(min_value=0, max_value=1e6, allow_nan=False).map(lambda f: f"{f:.3g}"),
    _UNITS,
    _UNITS,
    st.sampled_from(["", " "]),
)
def test_a_quantity_also_shown_in_another_unit_masks_like_the_quantity_alone(
    size: int, other: str, unit: str, other_unit: str, space: str
) -> None:
    """`1190 bytes (1.16 KB) sent` masks as `0 bytes sent` does: the second form of the quantity is
    there or not depending on its size, never a different statement."""
    alone = mask(f"conn 7 close, {size} {unit} sent, lifetime 00:01")
    assert alone == mask(f"conn 7 close, {size} {unit} ({other}{space}{other_unit}) sent, lifetime 00:01")
    # A parenthesis that is not the same quantity again stays.
    assert "(uid <*>)" in mask(f"user {size} (uid {size}) logged in")
    assert "at (<*>" in mask(f"image {size} at ({other}{space}{other_unit}): checking")


def test_sizes_shown_in_two_units_or_one_are_one_statement() -> None:
    """Proxifier's close lines: sizes with and without their KB/MB form, lifetimes in two shapes."""
    miner = TemplateMiner()
    ids = [
        miner.add(f"proxy.example.org:5070 close, {sent} sent, {received} received, lifetime {life}").id
        for sent, received, life in [
            ("0 bytes", "0 bytes", "<1 sec"),
            ("451 bytes", "18846 bytes (18.4 KB)", "<1 sec"),
            ("1190 bytes (1.16 KB)", "1671 bytes (1.63 KB)", "00:02"),
            ("1165 bytes (1.13 KB)", "815 bytes", "00:01"),
            ("12789 bytes (12.4 KB)", "13833013 bytes (13.1 MB)", "01:01"),
        ]
    ]
    assert 1 == len(set(_final(miner, ids)))


def test_a_two_word_message_learns_its_word_variable() -> None:
    """`removing chargen`, `removing daytime`, …: one word agreeing and one differing is evidence
    too; two values (`session opened` / `session closed`) stay two statements."""
    miner = TemplateMiner()
    services = ["chargen", "daytime", "echo", "eklogin", "ftp", "klogin", "chargen"]
    ids = [miner.add(f"removing {service}").id for service in services]
    assert 1 == len(set(_final(miner, ids)))
    assert "removing <*>" == miner.resolve(ids[-1]).template  # type: ignore[union-attr]
    sessions = [miner.add(f"session {state}").id for state in ["opened", "closed"] * 3]
    assert 2 == len(set(_final(miner, sessions)))


def test_a_quantity_whose_unit_changes_with_its_size_is_one_variable() -> None:
    """Spark's `estimated size 93.0 B` / `estimated size 5.2 KB`: two units after a number are
    enough to make the unit part of the variable; two other words after a number are not."""
    miner = TemplateMiner()
    ids = [
        miner.add(f"Block broadcast_{n} stored as bytes in memory (estimated size {size}, free {free})").id
        for n, (size, free) in enumerate(
            [("93.0 B", "317.1 KB"), ("5.2 KB", "5.2 KB"), ("152.0 B", "1.2 MB")] * 2
        )
    ]
    assert 1 == len(set(_final(miner, ids)))
    counted = [
        miner.add(f"served {n} {what} in the last minute").id
        for n, what in enumerate(["requests", "users"] * 3)
    ]
    assert 2 == len(set(_final(miner, counted)))


def test_a_dotted_first_name_is_a_variable_when_nothing_else_differs() -> None:
    """`com.apple.<job>: … isn't for N seconds` is one statement whatever the job; the `mapred.X is
    deprecated. Instead, use Y` statements, whose two names differ together, stay apart."""
    miner = TemplateMiner()
    jobs = ["icloud.fmfd.heartbeat", "Safari.SafeBrowsing.Update", "CacheDelete.daily", "suggestions.harvest"]
    ids = [
        miner.add(f"com.apple.{job}: told me to run this job; but the start time isn't for {n} seconds.").id
        for n, job in enumerate(jobs * 2)
    ]
    assert 1 == len(set(_final(miner, ids)))
    assert miner.resolve(ids[-1]).template.startswith("com.apple.<*>: told me")  # type: ignore[union-attr]
    pairs = [
        ("job.id", "job.id"),
        ("task.id", "task.attempt.id"),
        ("tip.id", "task.id"),
        ("task.partition", "task.partition"),
    ]
    deprecated = [
        miner.add(f"mapred.{old} is deprecated. Instead, use mapreduce.{new}").id for old, new in pairs * 3
    ]
    assert len(pairs) == len(set(_final(miner, deprecated)))


def test_a_lone_variable_never_swallows_statements() -> None:
    """A message that is only a number next to `<number> <word>` lines stays its own group."""
    miner = TemplateMiner()
    alone = miner.add("12345").id
    ids = [miner.add(f"{n} TaskAttempt Transitioned from NEW to UNASSIGNED").id for n in range(10, 30)]
    ids += [miner.add(f"{n} jetty").id for n in range(10, 30)]
    assert alone not in _final(miner, ids)
    assert "<*>" == miner.resolve(alone).template  # type: ignore[union-attr]


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(4, 9)))


def test_ten_thousand_lines_of_three_word_variables_are_one_group() -> None:
    """The case that used to be quadratic: 10,000 lines, three word variables each, one group."""
    rng = random.Random(7)
    miner = TemplateMiner()
    ids = []
    for _ in range(10_000):
        ids.append(
            miner.add(f"feature {_word(rng)} toggled by {_word(rng)} for team {_word(rng)} in project").id
        )
        assert miner.comparisons <= _PER_LINE
    assert 1 == len(set(_final(miner, ids)))
    assert 1 == len(miner.groups)
    assert "feature <*> toggled by <*> for team <*> in project" == miner.groups[0].template


_CONSTANTS = st.lists(
    st.text(alphabet=string.ascii_lowercase, min_size=2, max_size=8), min_size=2, max_size=8, unique=True
)
_NUMBERS = st.one_of(
    st.integers(min_value=0, max_value=10**12).map(str),
    st.integers(min_value=0, max_value=2**64).map(lambda n: f"0x{n:x}"),
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t))),
    st.lists(st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=5), min_size=1, max_size=4).map(
        lambda parts: "/" + "/".join(parts)
    ),
    st.floats(min_value=0, max_value=1e6, allow_nan=False).map(lambda f: f"{f:.3f}ms"),
)


@settings(max_examples=60, deadline=None)
@given(
    constants=_CONSTANTS,
    shape=st.lists(st.sampled_from(["number", "word"]), min_size=1, max_size=4),
    slots=st.lists(st.integers(min_value=1, max_value=20), min_size=4, max_size=4),
    values=st.data(),
    # Word variables side by side are a phrase and need GAP_WORDS distinct values, others DISTINCT_WORDS.
    lines=st.integers(min_value=max(DISTINCT_WORDS, GAP_WORDS), max_value=40),
)
def test_a_message_and_its_variables_land_in_one_group(
    constants: list[str], shape: list[str], slots: list[int], values: st.DataObject, lines: int
) -> None:
    """Any statement: constant words with number-like variables (any values) and word variables
    (a new word each line) placed after its first word, fewer words than constants: one group."""
    kinds = shape[: max(1, len(constants) // 2 - 1)]
    template: list[str | None] = list(constants)
    for kind, slot in zip(kinds, slots, strict=False):
        template.insert(1 + slot % len(template), kind)
    rng = random.Random(values.draw(st.integers(0, 2**32)))
    miner = TemplateMiner()
    ids = []
    for _ in range(lines):
        words = []
        for part in template:
            if part == "number":
                words.append(values.draw(_NUMBERS))
            elif part == "word":
                words.append("v" + _word(rng))
            else:
                words.append(str(part))
        ids.append(miner.add(" ".join(words)).id)
        assert miner.comparisons <= _PER_LINE
    assert 1 == len(set(_final(miner, ids)))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet='ab <>*=:/0123456789."', max_size=30), min_size=1, max_size=200))
def test_candidates_compared_per_line_are_bounded(messages: list[str]) -> None:
    """Whatever the input, no line compares more than a fixed number of groups."""
    miner = TemplateMiner()
    for message in messages:
        miner.add(message)
        assert miner.comparisons <= _PER_LINE


def test_candidates_stay_bounded_with_thousands_of_statements_in_one_bucket() -> None:
    """5,000 different statements of equal length and first word: each line still compares at most the cap."""
    rng = random.Random(3)
    miner = TemplateMiner()
    worst = 0
    for _ in range(5_000):
        miner.add("job " + " ".join(_word(rng) for _ in range(6)))
        worst = max(worst, miner.comparisons)
    assert worst <= _PER_LINE
    assert all(len(words) <= GAP_WORDS for group in miner.groups for words in group.seen.values())


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
