"""Block Kit builders tested as data: content, escaping, limits, buttons and fallback text."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.render.blocks import (
    ACTION_IMPLEMENT,
    ACTION_REJECT,
    SECTION_LIMIT,
    escape_mrkdwn,
    fenced_diff,
    options_cut,
    proposal_message,
    reply_message,
)
from bot.render.text import render_proposal, render_reply
from bot.render.views import IncidentView, OptionView, ProposalView, Reply, StatusReport

FIX = "fix_20261020_023300"
SMALL_DIFF = "--- a/app.py\n+++ b/app.py\n@@ -1 +1 @@\n-if a < b & c:\n+if a <= b & c:\n"


def _view(
    diff: str = SMALL_DIFF, status: str = "proposed", alternatives: int = 0, **extra: object
) -> ProposalView:
    options = [OptionView(1, "guard", diff, "low", "passed")]
    options += [
        OptionView(n, f"alternative {n}", diff, "medium", "failed") for n in range(2, alternatives + 2)
    ]
    values: dict[str, object] = {
        "fix_id": FIX,
        "service": "api",
        "status": status,
        "severity": "high",
        "summary": "MCP tool fails with <!channel> 500",
        "root_cause": "None tool",
        "risk": "low",
        "diff": diff,
        "validation_status": "passed",
        "validation_output": "",
        "options": tuple(options),
        "incident": IncidentView(
            7,
            "api",
            "error_pattern",
            "MCP Tool failed: 500",
            5,
            datetime(2026, 10, 20, 2, 30, tzinfo=UTC),
            datetime(2026, 10, 20, 2, 33, tzinfo=UTC),
        ),
    }
    values.update(extra)
    return ProposalView(**values)  # type: ignore[arg-type]


def _sections(blocks: tuple[dict[str, object], ...]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]  # type: ignore[index]


def test_proposal_message_has_header_incident_diff_and_buttons() -> None:
    """A proposed fix shows fix id, severity, incident counts, the diff and Implement/Reject buttons."""
    message = proposal_message(_view(), bot_mention="<@UBOT>")
    header = message.blocks[0]
    assert "header" == header["type"]
    assert f"Fix proposal {FIX} · HIGH" in header["text"]["text"]
    text = "\n".join(_sections(message.blocks))
    assert "*Incident #7:* MCP Tool failed: 500" in text
    assert "5× — first 2026-10-20 02:30 UTC, last 2026-10-20 02:33 UTC" in text
    assert "```\n--- a/app.py" in text
    actions = next(b for b in message.blocks if b["type"] == "actions")
    assert [ACTION_IMPLEMENT, ACTION_REJECT] == [e["action_id"] for e in actions["elements"]]
    assert f"{FIX}:1" == actions["elements"][0]["value"]
    assert "confirm" in actions["elements"][0]


def test_untrusted_text_and_diff_are_escaped() -> None:
    """`<`, `>` and `&` from logs, the LLM or the diff cannot ping or link."""
    message = proposal_message(_view())
    dumped = json.dumps(message.blocks)
    assert "<!channel>" not in dumped
    assert "&lt;!channel&gt;" in dumped
    assert "-if a &lt; b &amp; c:" in dumped
    assert "<!channel>" not in message.text


def test_fallback_text_has_the_exact_commands() -> None:
    """The notification text names the commands to type."""
    message = proposal_message(_view(), bot_mention="<@UBOT>")
    assert f"`<@UBOT> implement {FIX}`" in message.text
    assert f"`<@UBOT> reject {FIX} [reason]`" in message.text


def test_long_diff_is_cut_within_limits_and_marked_for_upload() -> None:
    """A 2,000-line diff is cut to whole lines inside the 3,000-character section limit."""
    diff = "--- a/x.py\n+++ b/x.py\n" + "".join(f"+line {i} <tag> & more text here\n" for i in range(2000))
    message = proposal_message(_view(diff, alternatives=2))
    assert all(len(section) <= SECTION_LIMIT for section in _sections(message.blocks))
    assert len(message.blocks) <= 50
    assert len(json.dumps(message.blocks)) < 12_000
    assert "more lines; full diff in the thread" in json.dumps(message.blocks)
    assert [1, 2, 3] == options_cut(_view(diff, alternatives=2))
    assert [] == options_cut(_view())


def test_fenced_diff_keeps_whole_lines() -> None:
    """Cutting never splits a line and says how many lines were left out."""
    diff = "".join(f"+{i:04d}\n" for i in range(1000))
    fenced = fenced_diff(diff, budget=60)
    body = fenced.split("```")[1].strip("\n").split("\n")
    assert [f"+{i:04d}" for i in range(10)] == body
    assert fenced.endswith("_… 990 more lines; full diff in the thread_")


def test_alternatives_get_their_own_buttons() -> None:
    """With several options each gets an Implement button carrying its number."""
    message = proposal_message(_view(alternatives=2))
    actions = next(b for b in message.blocks if b["type"] == "actions")
    assert [f"{FIX}:1", f"{FIX}:2", f"{FIX}:3", FIX] == [e["value"] for e in actions["elements"]]
    assert "Option 2" in json.dumps(message.blocks)
    assert f"implement {FIX} option 2" in message.text


def test_decided_proposal_has_no_buttons_and_says_who() -> None:
    """After approval the message shows who applies it and offers no buttons."""
    message = proposal_message(_view(status="applying", approver="UALICE"))
    assert [] == [b for b in message.blocks if b["type"] == "actions"]
    assert "approved by <@UALICE>" in json.dumps(message.blocks)


def test_escape_only_touches_three_characters() -> None:
    """Only &, < and > are escaped; everything else is left alone."""
    assert 'a &amp; b &lt;c&gt; *d* `e` "f"' == escape_mrkdwn('a & b <c> *d* `e` "f"')


def test_status_reply_says_nobody_can_implement() -> None:
    """The status message shows the fail-closed approvers problem."""
    report = StatusReport(
        False, False, "", 0, (), (), (), {}, problems=("nobody can implement fixes for api",)
    )
    message = reply_message(Reply("status", status=report))
    assert "nobody can implement: no approvers configured" in message.text
    assert "nobody can implement" in render_reply(Reply("status", status=report))


def test_text_renderer_shows_the_same_proposal() -> None:
    """The terminal form has the fix id, the whole diff and the commands to type."""
    text = render_proposal(_view(), bot_mention="@agent")
    assert f"Fix proposal {FIX} [HIGH] service=api" in text
    assert "-if a < b & c:" in text
    assert f"Reply @agent implement {FIX}" in text
    assert "@UALICE is being applied" == render_reply(Reply("<@UALICE> is being applied"))


def test_every_status_has_its_own_line() -> None:
    """No lifecycle status falls through to the generic "Status: …" line of the proposal message."""
    from bot.render.blocks import status_line
    from core.store.lifecycle import ProposalStatus

    generic = [s.value for s in ProposalStatus if status_line(_view(status=s.value)).startswith("Status:")]
    assert [] == generic


def test_reverted_proposal_names_the_revert_commit() -> None:
    """A reverted fix's message says it was reverted and by which commit, in place of the old status."""
    view = _view(status="reverted", commit_sha="34bcb2051f52aa", revert_commit_sha="9adc197c6429bb")
    text = json.dumps(proposal_message(view).as_kwargs())
    assert "Reverted" in text
    assert "9adc197c64" in text
    assert "34bcb2051f" in text
