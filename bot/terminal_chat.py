"""Chat with the bot in a terminal: the same parser and Operations as Slack, rendered as text.

Interactive (`run_interactive`) or scripted (`run_script`, used by the offline demo): each line is
what a person would type in Slack (`@Agent implement fix_…` works as is). Progress of slow work is
printed as it happens; in scripted mode each line waits for the work it started to finish.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TextIO

from sqlalchemy.orm import Session, sessionmaker

from bot.commands import parse_command
from bot.operations import Operations, Origin
from bot.render.text import plain, render_proposal
from bot.render.views import ProposalView
from core.store.models import Incident
from core.store.proposals import all_proposals, status_of

__all__ = ["TerminalChat", "TerminalNotifier"]

TERMINAL = Origin(channel="terminal")


class TerminalNotifier:
    """`bot.operations.Notifier` that prints; new proposals are printed once each."""

    def __init__(self, out: TextIO, sessions: sessionmaker[Session], *, bot_mention: str = "@agent") -> None:
        self.out = out
        self.sessions = sessions
        self.bot_mention = bot_mention
        self._shown: set[str] | None = None
        self._lock = threading.Lock()

    def _print(self, text: str) -> None:
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()

    def progress(self, fix_id: str, line: str) -> None:
        self._print(f"  [{fix_id}] {plain(line)}")

    def proposal_changed(self, fix_id: str) -> None:
        with self.sessions() as session:
            status = status_of(session, fix_id)
        self._print(f"  [{fix_id}] status: {status}")

    def say(self, origin: Origin | None, text: str) -> None:
        self._print(f"  {plain(text)}")

    def mark_all_shown(self) -> None:
        """Existing proposals are not "new": call once before the chat starts."""
        with self.sessions() as session:
            self._shown = {p.fix_id for p in all_proposals(session)}

    def new_proposals(self) -> None:
        with self.sessions() as session:
            rows = all_proposals(session)
            views = []
            for proposal in rows:
                if self._shown is not None and proposal.fix_id in self._shown:
                    continue
                incident = session.get(Incident, proposal.incident_id) if proposal.incident_id else None
                views.append(ProposalView.of(proposal, incident))
        self._shown = (self._shown or set()) | {v.fix_id for v in views}
        for view in views:
            self._print(render_proposal(view, bot_mention=self.bot_mention))


class TerminalChat:
    def __init__(
        self,
        operations: Operations,
        out: TextIO,
        *,
        user: str,
        render: Callable[..., str] | None = None,
        bot_mention: str = "@agent",
    ) -> None:
        from bot.render.text import render_reply

        self.operations = operations
        self.out = out
        self.user = user
        self.render = render or render_reply
        self.bot_mention = bot_mention

    def handle_line(self, line: str) -> str:
        """Run one typed line; returns the rendered immediate reply."""
        reply = self.operations.handle(parse_command(line), self.user, TERMINAL)
        return str(self.render(reply, bot_mention=self.bot_mention))

    def run_script(self, lines: Iterable[str], *, echo: bool = True, timeout: float = 600.0) -> None:
        """Run scripted lines in order; blank lines and `#` comments are skipped."""
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if echo:
                self._write(f"> {line}")
            self._write(self.handle_line(line))
            self.operations.wait_idle(timeout)

    def run_interactive(self, stdin: TextIO, *, prompt: str = "you> ") -> None:
        """Read lines until EOF or `quit`."""
        self._write(f"Type commands as in Slack (e.g. `{self.bot_mention} list`); `quit` to leave.")
        while True:
            self.out.write(prompt)
            self.out.flush()
            line = stdin.readline()
            if not line or line.strip().lower() in {"quit", "exit"}:
                return
            if line.strip():
                self._write(self.handle_line(line))

    def _write(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()
