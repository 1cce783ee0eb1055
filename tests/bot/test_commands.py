"""The command parser: typed commands from text, tolerant of Slack formatting, never raising."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.commands import (
    Help,
    Implement,
    List,
    Reject,
    Resume,
    Revert,
    Scan,
    Show,
    Snooze,
    Status,
    Unknown,
    parse_command,
    parse_duration_text,
)

FIX = "fix_20261020_023300"

fix_ids = st.builds(
    lambda d, t, seq: f"fix_{d}_{t}" + (f"_{seq}" if seq > 1 else ""),
    st.from_regex(r"\d{8}", fullmatch=True),
    st.from_regex(r"\d{6}", fullmatch=True),
    st.integers(1, 12),
)
decorations = st.sampled_from(["{}", "*{}*", "_{}_", "`{}`", "<https://acme.slack.com/x|{}>", "“{}”", "({})"])
trailing = st.sampled_from(["", ".", "!", "?", "!!", ",", ":", ";"])
mentions = st.sampled_from(["", "<@UBOT> ", "<@UBOT|fixbot> ", "  <@U0ABC>   "])
cases = st.sampled_from([str.lower, str.upper, str.title, lambda s: s])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"implement {FIX}", Implement(FIX)),
        (f"<@UBOT> IMPLEMENT *{FIX}*.", Implement(FIX)),
        (f"please approve {FIX} option 2", Implement(FIX, 2)),
        ("implement option #3", Implement(None, 3)),
        ("implement", Implement(None)),
        (f"reject {FIX} flaky test, not the cause", Reject(FIX, "flaky test, not the cause")),
        ("reject", Reject(None, "")),
        (f"show <https://x.slack.com/a|{FIX}>", Show(FIX)),
        ("list", List()),
        ("LS", List()),
        ("status?", Status()),
        (f"revert {FIX}", Revert(FIX)),
        ("scan", Scan()),
        ("scan api-gateway", Scan("api-gateway")),
        (f"snooze {FIX} 2h", Snooze(FIX, 7200.0)),
        ("snooze #12 for 1h30m", Snooze("12", 5400.0)),
        ("resume", Resume()),
        ("resume 12", Resume("12")),
        ("help", Help()),
        ("", Help()),
        ("<@UBOT>", Help()),
    ],
)
def test_known_commands(text: str, expected: object) -> None:
    """Each documented form parses to its typed command."""
    assert expected == parse_command(text)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("deploy it", "I don't know the command 'deploy'"),
        ("implement fix_2026", "'fix_2026' is not a fix id"),
        (f"implement {FIX} option", "`option` needs a number"),
        (f"implement {FIX} option two", "`option` needs a number from 1"),
        (f"implement {FIX} option \u00b2", "`option` needs a number from 1"),  # a digit `int` refuses
        (f"show {FIX} extra words", "unexpected words after the fix id"),
        ("snooze fix_20261020_023300 soon", "I need a duration"),
        ("scan a b", "`scan` takes at most one service name"),
    ],
)
def test_malformed_commands_say_what_is_wrong(text: str, problem: str) -> None:
    """Malformed input becomes Unknown with a reason, not an exception."""
    result = parse_command(text)
    assert isinstance(result, Unknown)
    assert result.problem.startswith(problem)


@given(
    mention=mentions,
    case=cases,
    fix_id=fix_ids,
    decoration=decorations,
    tail=trailing,
    space=st.sampled_from([" ", "  ", "\u00a0", " \n "]),
)
def test_implement_tolerates_slack_formatting(  # noqa: PLR0917 - hypothesis passes each strategy
    mention: str, case: object, fix_id: str, decoration: str, tail: str, space: str
) -> None:
    """Mentions, bold/italic/code, links, quotes, punctuation and any case still name the same fix."""
    assert callable(case)
    text = mention + case("implement") + space + decoration.format(case(fix_id)) + tail
    assert Implement(fix_id) == parse_command(text)


@given(st.text(max_size=200))
def test_parser_never_raises(text: str) -> None:
    """Any text at all parses to some command."""
    parse_command(text)


@given(hours=st.integers(1, 48), minutes=st.integers(0, 59))
def test_durations_add_up(hours: int, minutes: int) -> None:
    """`XhYm` and the spelled-out form give the same number of seconds."""
    expected = hours * 3600.0 + minutes * 60.0
    assert expected == parse_duration_text(f"{hours}h{minutes}m")
    assert expected == parse_duration_text(f"{hours} hours {minutes} minutes")


def test_durations_reject_nonsense() -> None:
    """Words that are not durations give None."""
    assert [None, None, None] == [parse_duration_text(t) for t in ("", "soon", "2 parsecs")]


def test_plain_at_mentions_are_ignored() -> None:
    """`@Agent implement …` typed without Slack's autocomplete (or in a terminal) still parses."""
    assert Implement(FIX) == parse_command(f"@Agent implement {FIX}")
    assert Status() == parse_command("@fix-bot: status")
