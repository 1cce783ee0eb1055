"""One progress message per fix, updated in place, instead of a thread reply per step.

An implement used to post ~17 replies into the proposal's thread (fetching, applying, validating,
pushing, every deploy status…). Now the first line starts one reply in the thread and each next
line re-renders that same message with `chat.update`, so the thread shows one checklist that
grows. Long or multi-line lines (test output, a failure's details) are cut to their first line
in the checklist; their full text is kept and posted as a single "details" reply when the fix's
state changes (the end of the apply or of the deploy watch) — as a file when it is too long for
a message.

State lives in memory: after a restart the next line starts a new progress message.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol

from bot.render.blocks import text_message
from bot.slack.client import SlackCalls

__all__ = ["ProgressBoard", "checklist_text", "summary_of"]

# Slack's limit for `text` is 40k; a checklist longer than this keeps its last lines.
_MESSAGE_CHARS = 3500
_LINE_CHARS = 240
# Details up to this size are posted as a message; longer ones go up as a file.
_DETAILS_INLINE_CHARS = 3000


class _Where(Protocol):
    def location(self, fix_id: str) -> tuple[str, str] | None: ...


@dataclass
class _Progress:
    channel: str
    thread_ts: str
    ts: str = ""
    lines: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)


def summary_of(line: str) -> tuple[str, str]:
    """(the checklist's one-line form of `line`, the full text when it had more, else "")."""
    first = line.strip().splitlines()[0] if line.strip() else ""
    short = first if len(first) <= _LINE_CHARS else first[: _LINE_CHARS - 1] + "…"
    more = line.strip() if (short != line.strip()) else ""
    return short, more


def checklist_text(lines: list[str]) -> str:
    """The progress message: the lines in order, the oldest dropped when it gets too long."""
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        size += len(line) + 1
        if size > _MESSAGE_CHARS:
            kept.append(f"… {len(lines) - len(kept)} earlier step(s)")
            break
        kept.append(line)
    return "\n".join(reversed(kept))


class ProgressBoard:
    """Keeps each fix's progress message and its details; thread-safe."""

    def __init__(self, where: _Where, slack: SlackCalls) -> None:
        self.where = where
        self.slack = slack
        self._boards: dict[str, _Progress] = {}
        self._lock = threading.Lock()

    def add(self, fix_id: str, line: str) -> bool:
        """Show `line` in the fix's progress message; False when the proposal is not posted."""
        short, more = summary_of(line)
        with self._lock:
            board = self._board(fix_id)
            if board is None:
                return False
            board.lines.append(short)
            if more:
                board.details.append(more)
            self._show(board)
            return True

    def flush(self, fix_id: str) -> None:
        """Post the details kept since the last flush as one reply (or a file) in the thread."""
        with self._lock:
            board = self._boards.get(fix_id)
            if board is None or not board.details:
                return
            details, board.details = "\n\n".join(board.details), []
        if len(details) <= _DETAILS_INLINE_CHARS:
            self.slack.call(
                "chat.postMessage",
                self.slack.client.chat_postMessage,
                channel=board.channel,
                thread_ts=board.thread_ts,
                **text_message(f"Details:\n```\n{details}\n```").as_kwargs(),
            )
            return
        self.slack.call(
            "files.uploadV2",
            self.slack.client.files_upload_v2,
            channel=board.channel,
            thread_ts=board.thread_ts,
            content=details,
            filename=f"{fix_id}-details.txt",
            title=f"{fix_id} — details",
            initial_comment=f"Details ({len(details.splitlines())} lines)",
        )

    def _board(self, fix_id: str) -> _Progress | None:
        board = self._boards.get(fix_id)
        if board is not None:
            return board
        where = self.where.location(fix_id)
        if where is None:
            return None
        board = _Progress(channel=where[0], thread_ts=where[1])
        self._boards[fix_id] = board
        return board

    def _show(self, board: _Progress) -> None:
        message = text_message(checklist_text(board.lines)).as_kwargs()
        if board.ts:
            updated = self.slack.call(
                "chat.update", self.slack.client.chat_update, channel=board.channel, ts=board.ts, **message
            )
            if updated is not None:
                return
            # The message is gone (deleted, or Slack refused the edit): start a new one.
        posted = self.slack.call(
            "chat.postMessage",
            self.slack.client.chat_postMessage,
            channel=board.channel,
            thread_ts=board.thread_ts,
            **message,
        )
        board.ts = str(posted["ts"]) if posted is not None else ""
