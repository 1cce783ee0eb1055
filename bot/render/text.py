"""The same views rendered as plain text, for the terminal chat and the offline demo.

Slack mention syntax (`<@U123>`) becomes `@U123`; mrkdwn markers are left out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from textwrap import shorten

from bot.render.blocks import commands_hint, status_line
from bot.render.views import ProposalView, Reply, StatusReport
from core.store.models import AuditEvent

__all__ = ["plain", "render_proposal", "render_reply", "render_status", "timeline_lines"]

_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
_EMOJI = re.compile(r":[a-z0-9_+-]+: ?")


def plain(text: str) -> str:
    """Slack markup → terminal text: mentions as @U…, emoji codes and backticks dropped."""
    text = _MENTION.sub(lambda m: "@" + m.group(1), text)
    return _EMOJI.sub("", text).replace("`", "")


def render_proposal(view: ProposalView, *, bot_mention: str = "@agent") -> str:
    kind = "Fix proposal" if view.has_fix else "Incident report"
    lines = [f"== {kind} {view.fix_id} [{view.severity.upper()}] service={view.service} =="]
    if view.incident is not None:
        incident = view.incident
        seen = f"{incident.count}x"
        if incident.first_seen and incident.last_seen:
            seen += (
                f", first {incident.first_seen:%Y-%m-%d %H:%M}, last {incident.last_seen:%Y-%m-%d %H:%M} UTC"
            )
        lines.append(f"incident #{incident.id}: {incident.title} ({seen})")
    for label, value in (("summary", view.summary), ("root cause", view.root_cause), ("risk", view.risk)):
        if value:
            lines.append(f"{label}: {value}")
    if view.diff:
        lines.append("diff:")
        lines.append(view.diff.rstrip("\n"))
        lines.append(f"validation: {view.validation_status}")
    elif view.no_fix_reason:
        lines.append(f"no fix proposed: {view.no_fix_reason}")
    for option in view.options[1:]:
        lines.append(f"option {option.number}: {option.summary} (validation {option.validation_status})")
    lines.append(plain(status_line(view)))
    if view.awaiting_decision:
        lines.append(plain(commands_hint(view.fix_id, bot_mention, options=len(view.options))))
    return "\n".join(lines)


def _short(text: str, width: int = 60) -> str:
    return shorten(text, width, placeholder="…")


def render_status(report: StatusReport) -> str:
    lines = ["status:"]
    lines.append(
        "  approvers: "
        + ("configured" if report.approvers_configured else "nobody can implement: no approvers configured")
    )
    lines.append(
        "  apply breaker: "
        + (f"open — {report.breaker_reason} (`resume` closes it)" if report.breaker_open else "closed")
    )
    counts = ", ".join(f"{status} {count}" for status, count in sorted(report.counts.items())) or "none"
    lines.append(f"  proposals: {counts}")
    lines.append(f"  waiting to be posted: {report.pending_posts}")
    lines.extend(f"  source {line}" for line in report.sources)
    lines.extend(f"  post error: {line}" for line in report.post_errors)
    lines.extend(f"  slack error: {line}" for line in report.slack_errors)
    lines.extend(f"  needs attention: {problem}" for problem in report.problems)
    return plain("\n".join(lines))


def render_reply(reply: Reply, *, bot_mention: str = "@agent") -> str:
    """The terminal form of a command's reply."""
    if reply.proposal is not None:
        return render_proposal(reply.proposal, bot_mention=bot_mention)
    if reply.status is not None:
        return render_status(reply.status)
    if reply.proposals:
        rows = [
            f"{v.fix_id:<24} {v.state:<13} {v.service:<12} {v.severity:<8} {_short(v.summary)}"
            for v in reply.proposals
        ]
        return "\n".join(["open proposals:", *rows])
    return plain(reply.text)


def timeline_lines(events: Sequence[AuditEvent]) -> list[str]:
    """`agent fixes show`'s timeline: when, who, what, the status change and its evidence."""
    lines = []
    for event in events:
        before = f"{event.from_status} " if event.from_status else ""
        change = f" ({before}→ {event.to_status})" if event.to_status else ""
        evidence = json.dumps(event.detail, default=str, ensure_ascii=False) if event.detail else ""
        if len(evidence) > 200:
            evidence = evidence[:199] + "…"
        stamp = event.at.strftime("%Y-%m-%d %H:%M:%S")
        lines.append(f"{stamp}  {event.actor:<12} {event.action}{change}  {evidence}".rstrip())
    return lines
