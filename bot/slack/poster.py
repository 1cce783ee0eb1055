"""Posting proposals (an outbox: nothing is lost) and reporting progress in their threads.

A stored proposal whose `slack_ts` is empty is waiting to be posted. `ProposalPoster.post_pending`
claims each with a conditional UPDATE (`slack_ts = 'posting:<epoch>'`, so two processes never post
the same one; a claim older than five minutes is taken over), posts it, and stores the message ts.
On failure the claim is released and the error kept in `post_error` (shown by `status`); the next
round retries. When the diff is cut in the message, the full diff is uploaded into the thread.

`SlackNotifier` implements `bot.operations.Notifier` on top of it: progress lines go to one
progress message in the proposal's thread, edited in place (`bot.slack.progress`); status changes
update the proposal message in place.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from bot.operations import Origin
from bot.render.blocks import options_cut, proposal_message, text_message
from bot.render.views import ProposalView
from bot.slack.client import SlackCallError, SlackCalls
from bot.slack.progress import ProgressBoard
from core.settings import Settings, UnknownService
from core.store.lifecycle import POSTABLE, ProposalNotFound
from core.store.models import Incident
from core.store.outbox import claim_post, mark_posted, posted_at, release_post, unposted_fix_ids
from core.store.proposals import get_proposal

__all__ = ["Outbox", "ProposalPoster", "SlackNotifier"]

log = logging.getLogger(__name__)

_CLAIM_TIMEOUT_SECONDS = 300


class ProposalPoster:
    """Posts stored proposals to their channel and keeps the messages up to date."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        slack: SlackCalls,
        *,
        bot_mention: Callable[[], str] = lambda: "@fixbot",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.slack = slack
        self.bot_mention = bot_mention
        self.clock = clock
        self._lock = threading.Lock()

    def channel_for(self, service: str) -> str:
        try:
            channel = self.settings.service(service).channel
        except UnknownService:
            channel = ""
        return channel or self.settings.slack.default_channel

    def post_pending(self, limit: int = 20) -> int:
        """Post up to `limit` proposals waiting in the outbox; returns how many were posted."""
        with self.sessions() as session:
            fix_ids = unposted_fix_ids(session, POSTABLE, limit)
        return sum(1 for fix_id in fix_ids if self.post(fix_id))

    def _claim(self, fix_id: str) -> str | None:
        with self.sessions.begin() as session:
            return claim_post(session, fix_id, now=int(self.clock()), timeout_seconds=_CLAIM_TIMEOUT_SECONDS)

    def _release(self, fix_id: str, token: str, error: str) -> None:
        with self.sessions.begin() as session:
            release_post(session, fix_id, token, error)

    def post(self, fix_id: str) -> bool:
        """Post `fix_id` if it is not posted yet (and nobody else is posting it)."""
        token = self._claim(fix_id)
        if token is None:
            return False
        view = self._view(fix_id)
        channel = self.channel_for(view.service) if view else ""
        if view is None or not channel:
            self._release(
                fix_id,
                token,
                f"no channel for service {view.service if view else '?'}: set channel in its [[services]] "
                "entry or slack.default_channel",
            )
            return False
        failure: list[SlackCallError] = []
        try:
            message = proposal_message(view, bot_mention=self.bot_mention())
        except Exception as exc:
            # A rendering bug must not strand the claim: release it with the reason for `status`.
            log.exception("could not render %s", fix_id)
            self._release(fix_id, token, f"could not render the message: {type(exc).__name__}: {exc}")
            return False
        response = self.slack.call(
            "chat.postMessage",
            self.slack.client.chat_postMessage,
            on_error=failure.append,
            channel=channel,
            unfurl_links=False,
            **message.as_kwargs(),
        )
        if response is None:
            self._release(fix_id, token, failure[0].describe() if failure else "post failed")
            return False
        ts = str(response["ts"])
        posted_channel = str(response.get("channel") or channel)
        with self.sessions.begin() as session:
            mark_posted(session, fix_id, posted_channel, ts)
        self._attach_diffs(view, posted_channel, ts)
        return True

    def _attach_diffs(self, view: ProposalView, channel: str, ts: str) -> None:
        # Only what the message had to cut: a short diff is already shown whole.
        for number in options_cut(view):
            option = view.options[number - 1]
            suffix = "" if number == 1 else f"_option{number}"
            self.slack.call(
                "files.uploadV2",
                self.slack.client.files_upload_v2,
                channel=channel,
                thread_ts=ts,
                content=option.diff,
                filename=f"{view.fix_id}{suffix}.diff",
                title=f"{view.fix_id} option {number} — full diff",
                initial_comment=f"Full diff of option {number} ({len(option.diff.splitlines())} lines)",
                snippet_type="diff",
            )

    def _view(self, fix_id: str) -> ProposalView | None:
        with self.sessions() as session:
            try:
                proposal = get_proposal(session, fix_id)
            except ProposalNotFound:
                return None
            incident = session.get(Incident, proposal.incident_id) if proposal.incident_id else None
            return ProposalView.of(proposal, incident)

    def location(self, fix_id: str) -> tuple[str, str] | None:
        """(channel, ts) of the posted message, or None when it is not posted."""
        with self.sessions() as session:
            where = posted_at(session, fix_id)
        return None if where is None else (where.channel, where.ts)

    def refresh(self, fix_id: str) -> None:
        """Re-render the posted message in place (or post it if it never was)."""
        where = self.location(fix_id)
        if where is None:
            self.post(fix_id)
            return
        view = self._view(fix_id)
        if view is None:
            return
        channel, ts = where
        self.slack.call(
            "chat.update",
            self.slack.client.chat_update,
            channel=channel,
            ts=ts,
            **proposal_message(view, bot_mention=self.bot_mention()).as_kwargs(),
        )


class SlackNotifier:
    """`bot.operations.Notifier` for Slack."""

    def __init__(self, poster: ProposalPoster) -> None:
        self.poster = poster
        self.board = ProgressBoard(poster, poster.slack)

    def progress(self, fix_id: str, line: str) -> None:
        # One progress message per fix, edited in place (bot/slack/progress.py).
        if not self.board.add(fix_id, line):
            log.info("%s is not posted yet; progress line kept in the log only: %s", fix_id, line)

    def proposal_changed(self, fix_id: str) -> None:
        self.board.flush(fix_id)
        self.poster.refresh(fix_id)

    def say(self, origin: Origin | None, text: str) -> None:
        channel = origin.channel if origin is not None else self.poster.settings.slack.default_channel
        if not channel:
            log.info("no channel to say: %s", text)
            return
        kwargs = text_message(text).as_kwargs()
        if origin is not None and origin.thread_ts:
            kwargs["thread_ts"] = origin.thread_ts
        self.poster.slack.call(
            "chat.postMessage", self.poster.slack.client.chat_postMessage, channel=channel, **kwargs
        )

    def new_proposals(self) -> None:
        self.poster.post_pending()


class Outbox:
    """A background thread that posts waiting proposals every `interval` seconds."""

    def __init__(self, poster: ProposalPoster, interval: float = 30.0) -> None:
        self.poster = poster
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="slack-outbox", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poster.post_pending()
            except Exception:
                log.exception("outbox round failed; retrying in %ss", self.interval)
            self._stop.wait(self.interval)
