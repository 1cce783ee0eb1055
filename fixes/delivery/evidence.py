"""The pull request's title and body: the evidence a reviewer needs, as GitHub Markdown. Pure.

Everything here came from logs or a model (root cause, samples, output): it is fenced or quoted so
that it renders as text, never as mentions, links that ping, or HTML.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["Evidence", "pr_body", "pr_title", "revert_body", "slack_link"]

_OUTPUT_LINES = 40
_FIELD_LIMIT = 4000
_BODY_LIMIT = 60_000  # GitHub refuses bodies over 65,536 characters


@dataclass(frozen=True)
class Evidence:
    """What the body shows; empty fields are left out."""

    fix_id: str
    service: str
    summary: str
    root_cause: str = ""
    risk: str = ""
    approver: str = ""
    incident_id: int | None = None
    incident_title: str = ""
    incident_count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    sample: str = ""
    template: str = ""
    validation_status: str = ""
    validation_output: str = ""
    regression_proof: str = ""
    slack_url: str = ""
    diff: str = ""


def slack_link(channel: str, ts: str) -> str:
    """A permalink to the proposal's Slack message (Slack resolves the workspace on open)."""
    if not channel or not ts:
        return ""
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"


def pr_title(summary: str, fix_id: str) -> str:
    line = " ".join(summary.split())[:200]
    return f"fix: {line} ({fix_id})" if line else f"fix: {fix_id}"


def _fence(text: str, language: str = "") -> str:
    text = text.strip("\n")
    longest = max((len(run) for run in _backtick_runs(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"


def _backtick_runs(text: str) -> list[str]:
    runs: list[str] = []
    current = ""
    for char in text:
        if char == "`":
            current += char
        elif current:
            runs.append(current)
            current = ""
    if current:
        runs.append(current)
    return runs


def _quote(text: str) -> str:
    """Plain text as a Markdown block quote, with @mentions and HTML neutralised."""
    cleaned = text.strip()[:_FIELD_LIMIT].replace("@", "@\u200b").replace("<", "&lt;")
    return "\n".join(f"> {line}" if line else ">" for line in cleaned.splitlines())


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "?"


def pr_body(evidence: Evidence) -> str:
    """The body: root cause, incident, validation, regression proof, risk, approval, Slack link."""
    e = evidence
    parts = [f"Automated fix **{e.fix_id}** for service `{e.service}`, approved in Slack."]
    if e.root_cause:
        parts.append("### Root cause\n" + _quote(e.root_cause))
    if e.incident_id is not None or e.incident_count:
        lines = [f"### Incident #{e.incident_id}" if e.incident_id is not None else "### Incident"]
        if e.incident_title:
            lines.append(_quote(e.incident_title))
        lines.append(f"- seen **{e.incident_count}×** between {_when(e.first_seen)} and {_when(e.last_seen)}")
        if e.template:
            lines.append("- template:\n\n" + _fence(e.template[:_FIELD_LIMIT]))
        if e.sample:
            lines.append("- sample line:\n\n" + _fence(e.sample[:_FIELD_LIMIT]))
        parts.append("\n".join(lines))
    if e.validation_status:
        text = (
            f"### Validation: {e.validation_status}\nCompile, import and the service's tests, run by the bot "
        )
        text += "on this exact commit before it was pushed."
        if e.validation_output:
            tail = "\n".join(e.validation_output.strip().splitlines()[-_OUTPUT_LINES:])
            text += (
                "\n\n<details><summary>output (last lines)</summary>\n\n" + _fence(tail) + "\n\n</details>"
            )
        parts.append(text)
    if e.regression_proof:
        parts.append(
            "### Regression test\nFails on the base, passes with the fix:\n\n" + _fence(e.regression_proof)
        )
    if e.risk:
        parts.append("### Risk\n" + _quote(e.risk))
    approval = f"### Approval\nApproved in Slack by `{e.approver or 'unknown'}`"
    approval += f" — [proposal thread]({e.slack_url})." if e.slack_url else "."
    approval += (
        "\nMerging from Slack (`merge "
        + e.fix_id
        + "`) merges only the head the bot validated; a changed branch needs a merge here."
    )
    parts.append(approval)
    body = "\n\n".join(parts)
    return body if len(body) <= _BODY_LIMIT else body[: _BODY_LIMIT - 20] + "\n\n…(cut)"


def revert_body(*, fix_id: str, commit_sha: str, approver: str, slack_url: str) -> str:
    """The body of a revert pull request."""
    link = f" — [proposal thread]({slack_url})" if slack_url else ""
    return (
        f"Reverts the merged fix **{fix_id}** (commit `{commit_sha}`).\n\n"
        f"Revert requested in Slack by `{approver}`{link}; the revert was validated by the bot before it "
        "was pushed."
    )
