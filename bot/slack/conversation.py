"""What the listeners hand off: run a command off the listener thread and answer in Slack.

Listeners call `CommandRunner.submit(...)` and return; the work runs on the runner's own bounded
pool (bolt has only a handful of listener threads). Each job first claims its delivery in the
database (`DeliveryLedger.claim`), so a redelivery after a restart is skipped, then parses, calls
`Operations`, renders and replies: private replies as ephemeral messages, others in the thread.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from sqlalchemy.exc import DBAPIError

from bot.commands import Command, Implement, Merge, Reject, Revert, Show, Snooze, Unknown, parse_command
from bot.operations import Operations, Origin
from bot.render.blocks import ACTION_MERGE, reply_message, text_message
from bot.render.views import Reply
from bot.slack.client import SlackCalls
from bot.slack.dedupe import DeliveryLedger
from bot.slack.failures import Asker, tell_failure

__all__ = ["CommandRunner", "describe_failure", "is_from_bot"]

log = logging.getLogger(__name__)


def describe_failure(exc: BaseException) -> str:
    """A short, user-facing description of an unexpected error (no SQL, no parameters)."""
    if isinstance(exc, DBAPIError):
        # SQLAlchemy's text carries the statement and its parameters; the driver's does not.
        return f"the bot's database refused it ({type(exc.orig).__name__}: {str(exc.orig)[:200]})"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def is_from_bot(event: dict[str, Any]) -> bool:
    """Messages from any bot (ours or others') are never treated as commands."""
    return bool(event.get("bot_id") or event.get("bot_profile") or event.get("subtype") == "bot_message")


class CommandRunner:
    def __init__(
        self,
        operations: Operations,
        slack: SlackCalls,
        pool: Executor,
        ledger: DeliveryLedger,
        *,
        bot_mention: Callable[[], str],
        on_processed: Callable[[str], None] | None = None,
    ) -> None:
        self.operations = operations
        self.slack = slack
        self.pool = pool
        self.ledger = ledger
        self.bot_mention = bot_mention
        self.on_processed = on_processed

    def submit(
        self,
        delivery: tuple[str, str] | None,
        work: Callable[[], None],
        *,
        reply_to: tuple[str, str] | None = None,
        asker: Asker | None = None,
    ) -> None:
        """Run `work` on the pool once per delivery (claimed durably first).

        Any failure after the ack reaches the person with a reference id that is also in the log
        line with the traceback: privately to `asker` when known, else in `reply_to` (channel,
        thread ts).
        """

        def job() -> None:
            try:
                if delivery is not None and not self.ledger.claim(*delivery):
                    return
            except Exception as exc:
                # Not recorded, so not run: a Slack retry (or the person, later) may try again.
                if delivery is not None:
                    self.ledger.forget(delivery[0])
                self._report(exc, reply_to, asker, "it was not run; try again once the database is writable")
                return
            if delivery is not None and self.on_processed is not None:
                self.on_processed(delivery[1])
            try:
                work()
            except Exception as exc:
                self._report(exc, reply_to, asker, "it may have been done in part; `status` shows the state")

        self.pool.submit(job)

    def _report(
        self, exc: Exception, reply_to: tuple[str, str] | None, asker: Asker | None, consequence: str
    ) -> None:
        # The listener already returned: the log (and `status`) keep the traceback under the ref.
        ref = tell_failure(self.slack, None, "Slack command", exc)
        text = f":warning: That command failed: {describe_failure(exc)}; {consequence}. (ref `{ref}`)"
        try:
            if asker is not None:
                self.slack.call(
                    "chat.postEphemeral",
                    self.slack.client.chat_postEphemeral,
                    channel=asker.channel,
                    user=asker.user,
                    thread_ts=asker.thread_ts or None,
                    text=text,
                )
            elif reply_to is not None:
                self.say(reply_to[0], text, reply_to[1])
        except Exception:
            log.exception("could not tell the user about failure ref %s", ref)

    # ------------------------------------------------------------------ text commands

    def handle_text(
        self,
        text: str,
        *,
        user: str,
        channel: str,
        ts: str,
        thread_ts: str = "",
        direct: bool = False,
        only_known: bool = False,
    ) -> None:
        """A message addressed to the bot: a mention, a DM, or a reply in a proposal's thread.

        `only_known`: ignore text that is not a command (people talk in threads, too).
        """
        command = parse_command(text)
        if only_known and isinstance(command, Unknown):
            return
        command = self._with_thread_fix(command, channel, thread_ts)
        # In a channel the answer goes in a thread (the mention's own, if it was top level); a DM
        # stays flat unless the person wrote in a thread.
        reply_thread = thread_ts if direct else (thread_ts or ts)
        reply = self.operations.handle(command, user, Origin(channel, reply_thread, user))
        self._answer(reply, user=user, channel=channel, thread_ts=reply_thread, direct=direct)

    def _with_thread_fix(self, command: Command, channel: str, thread_ts: str) -> Command:
        with_fix = Implement | Reject | Show | Revert | Merge
        if isinstance(command, with_fix) and command.fix_id is None and thread_ts:
            fix_id = self.operations.fix_for_thread(channel, thread_ts)
            if fix_id is not None:
                return dataclasses.replace(command, fix_id=fix_id)
        if isinstance(command, Snooze) and command.target is None and thread_ts:
            fix_id = self.operations.fix_for_thread(channel, thread_ts)
            if fix_id is not None:
                return dataclasses.replace(command, target=fix_id)
        return command

    # ------------------------------------------------------------------ buttons

    def handle_button(self, action_id: str, value: str, *, user: str, channel: str, message_ts: str) -> None:
        """Implement (option N) or Reject pressed on a proposal message."""
        fix_id, _, option = value.partition(":")
        command: Command
        if action_id.startswith("implement_fix"):
            command = Implement(fix_id, int(option) if option.isdigit() else None)
        elif action_id == ACTION_MERGE:
            command = Merge(fix_id)
        else:
            command = Reject(fix_id, "")
        reply = self.operations.handle(command, user, Origin(channel, message_ts, user))
        self._answer(reply, user=user, channel=channel, thread_ts=message_ts, direct=False)

    # ------------------------------------------------------------------ replies

    def _answer(self, reply: Reply, *, user: str, channel: str, thread_ts: str, direct: bool) -> None:
        message = reply_message(reply, bot_mention=self.bot_mention())
        if reply.private and not direct:
            self.slack.call(
                "chat.postEphemeral",
                self.slack.client.chat_postEphemeral,
                channel=channel,
                user=user,
                thread_ts=thread_ts or None,
                **message.as_kwargs(),
            )
            return
        self.slack.call(
            "chat.postMessage",
            self.slack.client.chat_postMessage,
            channel=channel,
            thread_ts=thread_ts or None,
            unfurl_links=False,
            **message.as_kwargs(),
        )

    def say(self, channel: str, text: str, thread_ts: str = "") -> None:
        self.slack.call(
            "chat.postMessage",
            self.slack.client.chat_postMessage,
            channel=channel,
            thread_ts=thread_ts or None,
            **text_message(text).as_kwargs(),
        )
