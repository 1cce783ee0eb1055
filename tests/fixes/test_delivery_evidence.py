"""The pull request's body and the check/review summaries: pure functions over literal data."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from fixes.delivery.evidence import Evidence, pr_body, pr_title, slack_link
from fixes.delivery.pr_state import checks_verdict, review_decision, summarize_check_runs, summarize_statuses

FIX = "fix_20261020_023300"


def test_the_body_carries_root_cause_incident_validation_proof_risk_and_approval() -> None:
    """Every piece of evidence a reviewer needs is in the body, with the Slack link."""
    body = pr_body(
        Evidence(
            fix_id=FIX,
            service="api",
            summary="guard None tool",
            root_cause="tool is None when the registry is cold",
            risk="low",
            approver="U0ALICE",
            incident_id=7,
            incident_title="MCP Tool failed: 500",
            incident_count=5,
            first_seen=datetime(2026, 10, 20, 2, 30, tzinfo=UTC),
            last_seen=datetime(2026, 10, 20, 2, 33, tzinfo=UTC),
            sample="ERROR MCP Tool failed: 500",
            template="MCP Tool failed: <NUM>",
            validation_status="passed",
            validation_output="3 passed in 0.1s",
            regression_proof="tests/test_tool.py::test_cold FAILED on base, PASSED with fix",
            slack_url=slack_link("C0OPS", "1761900000.000100"),
        )
    )
    for expected in (
        "tool is None when the registry is cold",
        "### Incident #7",
        "**5×** between 2026-10-20 02:30 UTC and 2026-10-20 02:33 UTC",
        "MCP Tool failed: <NUM>",
        "ERROR MCP Tool failed: 500",
        "### Validation: passed",
        "3 passed in 0.1s",
        "### Regression test",
        "### Risk",
        "`U0ALICE`",
        "https://slack.com/archives/C0OPS/p1761900000000100",
    ):
        assert expected in body
    assert f"fix: guard None tool ({FIX})" == pr_title("guard  None\ntool", FIX)


def test_hostile_text_cannot_mention_people_or_inject_html() -> None:
    """@team and <script> from a model or a log are neutralised in quoted text."""
    body = pr_body(Evidence(fix_id=FIX, service="api", summary="x", root_cause="ping @acme/oncall <script>"))
    assert "@acme" not in body
    assert "<script>" not in body


@given(st.text(alphabet="`a\n", max_size=60))
def test_a_fence_is_never_closed_by_the_text_inside(text: str) -> None:
    """The output fence is longer than any backtick run in the output, so it stays one code block."""
    body = pr_body(
        Evidence(fix_id=FIX, service="api", summary="x", validation_status="passed", validation_output=text)
    )
    section = body.split("<summary>output (last lines)</summary>\n\n", 1)
    if len(section) == 2:
        fence = section[1].split("\n", 1)[0]
        assert set(fence) == {"`"}
        inner = section[1][len(fence) + 1 :].rsplit("\n" + fence, 1)[0]
        assert fence not in inner


def test_checks_combine_check_runs_and_statuses() -> None:
    """A failure anywhere fails; anything unfinished is pending; nothing reported is none."""
    green = summarize_check_runs([{"name": "ci", "status": "completed", "conclusion": "success"}])
    running = summarize_check_runs([{"name": "ci", "status": "in_progress", "conclusion": None}])
    red = summarize_statuses({"statuses": [{"context": "lint", "state": "failure"}]})
    none = summarize_statuses({"statuses": []})
    assert "passing" == checks_verdict(green, none)
    assert "pending" == checks_verdict(running, none)
    assert "failing" == checks_verdict(green, red)
    assert "none" == checks_verdict(summarize_check_runs([]), none)


def test_each_reviewers_latest_decision_counts() -> None:
    """Changes requested then approved by the same person is approved; a dismissal withdraws."""

    def review(user: str, state: str) -> dict[str, object]:
        return {"user": {"login": user}, "state": state}

    assert "approved" == review_decision([review("a", "CHANGES_REQUESTED"), review("a", "APPROVED")])
    assert "changes_requested" == review_decision([review("a", "APPROVED"), review("b", "CHANGES_REQUESTED")])
    assert "none" == review_decision(
        [review("a", "APPROVED"), review("a", "DISMISSED"), review("b", "COMMENTED")]
    )
