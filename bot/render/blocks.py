"""Block Kit messages built from views: pure functions, always with fallback text.

Blocks are built with `slack_sdk.models.blocks` classes, whose `to_dict()` validates Slack's limits
(header ≤ 150, section ≤ 3000, button text ≤ 75, value ≤ 2000). Text that came from logs or an LLM
is mrkdwn-escaped (`&`, `<`, `>` only) so it can never ping `<!channel>` or forge a link; diffs are
escaped too, fenced, and cut to fit — the full diff goes to the thread as a file
(`diff_needs_file`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.render.states import UNFOLLOWED
from bot.render.views import OptionView, ProposalView, Reply, StatusReport

__all__ = [
    "ACTION_IMPLEMENT",
    "ACTION_MERGE",
    "ACTION_REJECT",
    "DIFF_BUDGET",
    "SECTION_LIMIT",
    "Message",
    "commands_hint",
    "escape_mrkdwn",
    "fenced_diff",
    "options_cut",
    "proposal_message",
    "reply_message",
    "status_line",
    "text_message",
]

ACTION_IMPLEMENT = "implement_fix"
ACTION_REJECT = "reject_fix"
ACTION_MERGE = "merge_fix"
SECTION_LIMIT = 3000
DIFF_BUDGET = 2800  # leaves room for the fence and the "cut" note inside one section
ALTERNATIVE_DIFF_BUDGET = 900
FALLBACK_LIMIT = 3500  # Slack advises staying under ~4,000 characters of text
MAX_BLOCKS = 50

_SEVERITY_ICON = {
    "critical": ":red_circle:",
    "high": ":large_orange_circle:",
    "medium": ":large_yellow_circle:",
}


@dataclass(frozen=True)
class Message:
    """What `chat.postMessage` / `chat.update` need: fallback text and blocks as dicts."""

    text: str
    blocks: tuple[dict[str, Any], ...] = ()

    def as_kwargs(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": list(self.blocks)} if self.blocks else {"text": self.text}


def escape_mrkdwn(text: str) -> str:
    """Escape Slack's three control characters; nothing else."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def _fence(diff: str, budget: int) -> tuple[str, int]:
    """(escaped whole lines within `budget`, how many lines were cut)."""
    lines = diff.rstrip("\n").split("\n")
    kept: list[str] = []
    used = 0
    for line in lines:
        escaped = escape_mrkdwn(line)
        if len(escaped) > budget:
            escaped = escaped[: budget - 1] + "…"
        if used + len(escaped) + 1 > budget:
            break
        kept.append(escaped)
        used += len(escaped) + 1
    return "\n".join(kept), len(lines) - len(kept)


def fenced_diff(diff: str, budget: int = DIFF_BUDGET, note: str = "full diff in the thread") -> str:
    """The diff escaped and fenced, whole lines only, never longer than `budget` + the note."""
    body, cut = _fence(diff, budget)
    suffix = f"\n_… {cut} more line{'s' if cut != 1 else ''}; {note}_" if cut else ""
    return f"```\n{body}\n```{suffix}"


def options_cut(view: ProposalView) -> list[int]:
    """Numbers of the options whose diff the message shows only in part (attach those in full)."""
    return [
        option.number
        for option in view.options
        if option.diff
        and _fence(option.diff, DIFF_BUDGET if option.number == 1 else ALTERNATIVE_DIFF_BUDGET)[1]
    ]


def commands_hint(fix_id: str, bot_mention: str, *, options: int = 1) -> str:
    """The exact commands to type, for fallback text and the context line."""
    option = f" (or `{bot_mention} implement {fix_id} option 2`)" if options > 1 else ""
    return (
        f"Reply `{bot_mention} implement {fix_id}`{option} or `{bot_mention} reject {fix_id} [reason]`"
        " — in the thread the fix id may be left out."
    )


def status_line(view: ProposalView) -> str:  # noqa: PLR0911, PLR0912 - one flat branch per status
    """One line saying where the proposal stands and who moved it there."""
    status = view.status
    if status == "proposed":
        return ":hourglass_flowing_sand: Awaiting approval" if view.has_fix else ":memo: Report only"
    if status in {"approved", "applying"}:
        return f":gear: Applying option {view.chosen_option} — approved by <@{view.approver}>"
    if status == "pushed":
        waiting = UNFOLLOWED.get(view.deploy_status, "waiting for deploy")
        return f":arrow_up: Pushed `{view.commit_sha[:10]}` — approved by <@{view.approver}>; {waiting}"
    if status == "deployed":
        return f":rocket: Deployed `{view.commit_sha[:10]}` ({view.deploy_status or 'SUCCESS'}); verifying"
    if status == "verified":
        return f":white_check_mark: Verified — the incident stayed quiet after `{view.commit_sha[:10]}`"
    if status == "failed":
        reason = escape_mrkdwn(_cut(view.failure_reason, 300))
        return (
            f":x: Failed at {view.failed_step or 'apply'}: {reason} — rolled back; implement again to retry"
        )
    if status == "rejected":
        why = f": {escape_mrkdwn(_cut(view.reject_reason, 300))}" if view.reject_reason else ""
        return f":no_entry_sign: Rejected by <@{view.rejected_by}>{why}"
    if status == "deploy_failed":
        return f":warning: Deploy failed ({view.deploy_status}); `revert {view.fix_id}` undoes the push"
    if status == "unresolved":
        return ":warning: Deployed, but the incident came back"
    if status == "reverting":
        return f":rewind: Reverting `{view.commit_sha[:10]}`"
    if status == "reverted":
        return f":rewind: Reverted — `{view.revert_commit_sha[:10]}` undid `{view.commit_sha[:10]}`"
    if status == "revert_failed":
        reason = escape_mrkdwn(_cut(view.failure_reason, 300))
        return f":x: Revert failed: {reason} — `{view.commit_sha[:10]}` is still on the branch"
    if status in {"pr_open", "revert_pr_open"}:
        return pull_request_line(view)
    if status == "expired":
        return ":zzz: Expired — nobody acted on it in time"
    if status == "superseded":
        return ":twisted_rightwards_arrows: Superseded — a newer proposal replaced it"
    return f"Status: {status}"


_CHECK_ICON = {
    "passing": ":white_check_mark:",
    "failing": ":x:",
    "pending": ":hourglass:",
    "none": ":grey_question:",
}


def pull_request_line(view: ProposalView) -> str:
    """Where the fix's pull request stands: link, checks, review, mergeable, and what to do next."""
    pull = view.pull_request
    what = "Revert pull request" if view.status == "revert_pr_open" else "Pull request"
    if pull is None:
        return f":arrows_counterclockwise: {what} open — approved by <@{view.approver}>"
    link = f"<{pull.url}|#{pull.number}>" if pull.url else f"#{pull.number}"
    draft = " (draft)" if pull.draft else ""
    parts = [
        f":arrows_counterclockwise: {what} {link}{draft} — approved by <@{view.approver}>",
        f"checks {_CHECK_ICON.get(pull.checks, '')} {pull.checks}",
        f"review {pull.review.replace('_', ' ')}",
        f"mergeable: {pull.mergeable}",
    ]
    if pull.head_changed:
        parts.append(":warning: branch changed after approval — merge it in GitHub")
    elif pull.ready_to_merge:
        parts.append(f"`merge {view.fix_id}` or the Merge button merges it")
    return " · ".join(parts)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "?"


def _header(view: ProposalView) -> str:
    icon = _SEVERITY_ICON.get(view.severity, ":white_circle:")
    kind = "Fix proposal" if view.has_fix else "Incident report"
    return _cut(f"{icon} {kind} {view.fix_id} · {view.severity.upper()}", 150)


def _incident_text(view: ProposalView) -> str:
    incident = view.incident
    lines = [f"*Service:* `{escape_mrkdwn(view.service)}`"]
    if incident is not None:
        lines.append(f"*Incident #{incident.id}:* {escape_mrkdwn(_cut(incident.title, 500))}")
        lines.append(
            f"*Seen:* {incident.count}× — first {_when(incident.first_seen)}, "
            f"last {_when(incident.last_seen)}"
        )
    if view.summary:
        lines.append(f"*Summary:* {escape_mrkdwn(_cut(view.summary, 800))}")
    return "\n".join(lines)


def _validation_text(status: str, output: str) -> str:
    icon = {"passed": ":white_check_mark:", "failed": ":x:", "skipped": ":fast_forward:"}.get(
        status, ":grey_question:"
    )
    text = f"*Validation:* {icon} {status.replace('_', ' ')}"
    if output and status != "passed":
        text += "\n```\n" + escape_mrkdwn(_cut(output.strip()[-600:], 600)) + "\n```"
    return text


def _proof_text(view: ProposalView) -> str:
    if not view.proof:
        return ""
    mark = ":test_tube:" if view.proof.startswith("proven:") else ":warning:"
    text = f"\n{mark} {escape_mrkdwn(_cut(view.proof, 500))}"
    if view.proof.startswith("not proven") and view.test_suggestion:
        text += f"\n_Suggested test:_ {escape_mrkdwn(_cut(view.test_suggestion, 500))}"
    return text


def _alternative_text(option: OptionView) -> str:
    head = f"*Option {option.number}:* {escape_mrkdwn(_cut(option.summary, 300)) or '(no summary)'}"
    tail = f" — validation {option.validation_status.replace('_', ' ')}"
    risk = f"\n_Risk:_ {escape_mrkdwn(_cut(option.risk, 300))}" if option.risk else ""
    diff = "\n" + fenced_diff(option.diff, ALTERNATIVE_DIFF_BUDGET)
    return _cut(head + tail + risk + (diff if option.diff else ""), SECTION_LIMIT)


def _buttons(view: ProposalView) -> ActionsBlock:
    elements: list[ButtonElement] = []
    for option in view.options:
        label = "Implement" if option.number == 1 else f"Implement option {option.number}"
        elements.append(
            ButtonElement(
                text=label,
                action_id=ACTION_IMPLEMENT if option.number == 1 else f"{ACTION_IMPLEMENT}_{option.number}",
                value=f"{view.fix_id}:{option.number}",
                style="primary" if option.number == 1 else None,
                confirm=ConfirmObject(
                    title="Apply this fix?",
                    text=MarkdownTextObject(
                        text=(
                            f"This applies option {option.number} of {view.fix_id} to "
                            f"`{escape_mrkdwn(view.service)}`, validates it, commits and pushes it."
                        )
                    ),
                    confirm="Implement",
                    deny="Cancel",
                ),
            )
        )
    elements.append(ButtonElement(text="Reject", action_id=ACTION_REJECT, value=view.fix_id, style="danger"))
    return ActionsBlock(block_id=f"actions:{view.fix_id}", elements=elements)


def _merge_button(view: ProposalView) -> ActionsBlock:
    number = view.pull_request.number if view.pull_request is not None else 0
    button = ButtonElement(
        text="Merge",
        action_id=ACTION_MERGE,
        value=view.fix_id,
        style="primary",
        confirm=ConfirmObject(
            title="Merge this pull request?",
            text=MarkdownTextObject(
                text=f"This merges pull request #{number} of {view.fix_id} at the head the bot validated."
            ),
            confirm="Merge",
            deny="Cancel",
        ),
    )
    return ActionsBlock(block_id=f"merge:{view.fix_id}", elements=[button])


def proposal_message(view: ProposalView, *, bot_mention: str = "@fixbot") -> Message:
    """The proposal as posted in the channel and updated in place as its status changes."""
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=_header(view), emoji=True)),
        SectionBlock(text=MarkdownTextObject(text=_cut(_incident_text(view), SECTION_LIMIT))),
    ]
    if view.root_cause:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=_cut(f"*Root cause:* {escape_mrkdwn(view.root_cause)}", SECTION_LIMIT)
                )
            )
        )
    if view.risk:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(text=_cut(f"*Risk:* {escape_mrkdwn(view.risk)}", SECTION_LIMIT))
            )
        )
    if view.diff:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(text=_cut("*Diff:*\n" + fenced_diff(view.diff), SECTION_LIMIT))
            )
        )
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=_cut(
                        _validation_text(view.validation_status, view.validation_output) + _proof_text(view),
                        SECTION_LIMIT,
                    )
                )
            )
        )
    elif view.no_fix_reason:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=_cut(f"*No fix proposed:* {escape_mrkdwn(view.no_fix_reason)}", SECTION_LIMIT)
                )
            )
        )
    alternatives = [option for option in view.options if option.number > 1]
    if alternatives:
        blocks.append(DividerBlock())
        blocks.extend(SectionBlock(text=MarkdownTextObject(text=_alternative_text(o))) for o in alternatives)
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=_cut(status_line(view), 2000))]))
    if (
        view.status in {"pr_open", "revert_pr_open"}
        and view.pull_request
        and view.pull_request.ready_to_merge
    ):
        blocks.append(_merge_button(view))
    if view.awaiting_decision:
        blocks.append(_buttons(view))
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text=_cut(commands_hint(view.fix_id, bot_mention, options=len(view.options)), 2000)
                    )
                ]
            )
        )
    return Message(text=_fallback(view, bot_mention), blocks=_validated(blocks))


def _fallback(view: ProposalView, bot_mention: str) -> str:
    kind = "Fix proposal" if view.has_fix else "Incident report"
    summary = escape_mrkdwn(_cut(view.summary, 300))
    parts = [f"{kind} {view.fix_id} ({view.severity}) for {view.service}: {summary}"]
    parts.append(status_line(view))
    if view.awaiting_decision:
        parts.append(commands_hint(view.fix_id, bot_mention, options=len(view.options)))
    return _cut("\n".join(parts), FALLBACK_LIMIT)


def _validated(blocks: Sequence[Block]) -> tuple[dict[str, Any], ...]:
    # to_dict() runs slack_sdk's JsonValidator: an over-limit block fails here, not at Slack.
    return tuple(block.to_dict() for block in blocks[:MAX_BLOCKS])


def text_message(text: str) -> Message:
    """A plain reply: one section (cut to the limit) and the same text as fallback."""
    return Message(
        text=_cut(text, FALLBACK_LIMIT),
        blocks=_validated([SectionBlock(text=MarkdownTextObject(text=_cut(text, SECTION_LIMIT)))]),
    )


def _list_text(views: Sequence[ProposalView]) -> str:
    if not views:
        return "No open proposals."
    lines = ["*Open proposals:*"]
    for view in views[:30]:
        lines.append(
            f"• `{view.fix_id}` {view.state} · {escape_mrkdwn(view.service)} · {view.severity} — "
            f"{escape_mrkdwn(_cut(view.summary, 120))}"
        )
    return "\n".join(lines)


def _status_text(report: StatusReport) -> str:
    lines = ["*Status*"]
    lines.append(
        "• Approvers: "
        + (
            "configured"
            if report.approvers_configured
            else ":warning: nobody can implement: no approvers configured"
        )
    )
    lines.append(
        "• Apply breaker: "
        + (
            f":octagonal_sign: open — {escape_mrkdwn(report.breaker_reason)} (`resume` closes it)"
            if report.breaker_open
            else "closed"
        )
    )
    counts = ", ".join(f"{status} {count}" for status, count in sorted(report.counts.items())) or "none"
    lines.append(f"• Proposals: {counts}")
    lines.append(f"• Waiting to be posted: {report.pending_posts}")
    lines.append(f"• Busy workers: {report.workers_busy}")
    lines.extend(f"• Source {escape_mrkdwn(line)}" for line in report.sources)
    lines.extend(f"• Validation {escape_mrkdwn(line)}" for line in report.validation)
    lines.extend(f"• Post error: {escape_mrkdwn(line)}" for line in report.post_errors[:5])
    lines.extend(f"• Slack API error: {escape_mrkdwn(line)}" for line in report.slack_errors[:5])
    if report.problems:
        lines.append("*Needs attention:*")
        lines.extend(f"• {escape_mrkdwn(problem)}" for problem in report.problems)
    return "\n".join(lines)


def reply_message(reply: Reply, *, bot_mention: str = "@fixbot") -> Message:
    """The Slack message for a command's immediate reply."""
    if reply.proposal is not None:
        return proposal_message(reply.proposal, bot_mention=bot_mention)
    if reply.status is not None:
        return text_message(_status_text(reply.status))
    if reply.proposals:
        return text_message(_list_text(reply.proposals))
    return text_message(reply.text)
