"""What a pull request's checks and reviews add up to: pure functions over GitHub's JSON.

Check runs (`GET …/commits/{sha}/check-runs`) and commit statuses (`GET …/commits/{sha}/status`) are
two separate systems on GitHub (Actions and apps report the first, older CI the second); both count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["checks_verdict", "review_decision", "summarize_check_runs", "summarize_statuses"]

_PASSED = frozenset({"success", "neutral", "skipped"})
# A completed run with any other conclusion (failure, cancelled, timed_out, action_required,
# startup_failure, stale) blocks: it needs a human.


def summarize_check_runs(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """{"total", "passed", "failed": [names], "pending": [names]} for the head's check runs."""
    failed: list[str] = []
    pending: list[str] = []
    passed = 0
    for run in runs:
        name = str(run.get("name", "?"))
        if run.get("status") != "completed":
            pending.append(name)
        elif run.get("conclusion") in _PASSED:
            passed += 1
        else:
            failed.append(name)
    return {"total": len(runs), "passed": passed, "failed": sorted(failed), "pending": sorted(pending)}


def summarize_statuses(combined: Mapping[str, Any]) -> dict[str, Any]:
    """The same summary for the combined commit status (latest status per context)."""
    statuses = [s for s in combined.get("statuses", []) if isinstance(s, Mapping)]
    failed = sorted(str(s.get("context", "?")) for s in statuses if s.get("state") in {"failure", "error"})
    pending = sorted(str(s.get("context", "?")) for s in statuses if s.get("state") == "pending")
    passed = sum(1 for s in statuses if s.get("state") == "success")
    return {"total": len(statuses), "passed": passed, "failed": failed, "pending": pending}


def checks_verdict(runs: Mapping[str, Any], statuses: Mapping[str, Any]) -> str:
    """passing | failing | pending | none, over both summaries (a failure anywhere fails)."""
    total = int(runs.get("total", 0)) + int(statuses.get("total", 0))
    if total == 0:
        return "none"
    if runs.get("failed") or statuses.get("failed"):
        return "failing"
    if runs.get("pending") or statuses.get("pending"):
        return "pending"
    return "passing"


def review_decision(reviews: Sequence[Mapping[str, Any]]) -> str:
    """approved | changes_requested | none: each reviewer's latest deciding review counts.

    Comments do not decide; a dismissed review withdraws that reviewer's earlier decision.
    """
    latest: dict[str, str] = {}
    for review in reviews:  # GitHub lists them oldest first
        user = str((review.get("user") or {}).get("login", ""))
        state = str(review.get("state", ""))
        if state in {"APPROVED", "CHANGES_REQUESTED"}:
            latest[user] = state
        elif state == "DISMISSED":
            latest.pop(user, None)
    if "CHANGES_REQUESTED" in latest.values():
        return "changes_requested"
    if "APPROVED" in latest.values():
        return "approved"
    return "none"
