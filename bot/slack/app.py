"""Building the bolt `App` and everything around it (`build_slack_stack` wires the lot).

Request verification, self-event filtering and url_verification stay on (bolt's defaults). A
global middleware drops deliveries this process has already seen (answered 200 at once); the
durable claim happens on the worker before any work (see `bot.slack.dedupe`). One error handler
(`@app.error`) logs an unexpected error under a reference and tells the asker the same reference
(`bot.slack.failures`); tests/bot/slack/test_failures.py drives it with signed requests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from slack_bolt import App, BoltResponse
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError
from sqlalchemy.orm import Session, sessionmaker

from bot.metrics import BotMetrics
from bot.operations import ApplyFix, GroupMembers, MergeFix, OnPushed, Operations, RevertFix, ScanService
from bot.slack.client import SlackCalls
from bot.slack.conversation import CommandRunner
from bot.slack.dedupe import DeliveryLedger, delivery_key
from bot.slack.failures import asker_of, tell_failure
from bot.slack.listeners import register_listeners
from bot.slack.poster import Outbox, ProposalPoster, SlackNotifier
from bot.status import Breaker, ErrorLog, PipelineBreaker
from core.settings import Settings

__all__ = ["BotIdentity", "SlackGroupMembers", "SlackStack", "build_slack_app", "build_slack_stack"]

log = logging.getLogger(__name__)

HANDOFF_WORKERS = 2


class BotIdentity:
    """The bot's own user id (from `auth.test`, once), for `<@U…>` in rendered commands."""

    def __init__(self, client: WebClient) -> None:
        self._client = client
        self._user_id: str | None = None
        self._lock = threading.Lock()

    @property
    def user_id(self) -> str:
        with self._lock:
            if self._user_id is None:
                try:
                    self._user_id = str(self._client.auth_test().get("user_id") or "")
                except Exception as exc:
                    log.warning("auth.test failed; mentions render as @fixbot: %s", exc)
                    return ""
            return self._user_id

    def mention(self) -> str:
        user_id = self.user_id
        return f"<@{user_id}>" if user_id else "@fixbot"


class SlackGroupMembers:
    """`GroupMembers` via `usergroups.users.list`, cached for `ttl` seconds per group."""

    def __init__(
        self, client: WebClient, ttl: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def __call__(self, group_id: str) -> frozenset[str]:
        now = self._clock()
        with self._lock:
            cached = self._cache.get(group_id)
            if cached and now - cached[0] < self._ttl:
                return cached[1]
        response = self._client.usergroups_users_list(usergroup=group_id)
        members = frozenset(str(user) for user in response.get("users") or [])
        with self._lock:
            self._cache[group_id] = (now, members)
        return members


def build_slack_app(
    settings: Settings,
    operations: Operations,
    client: WebClient,
    *,
    runner: CommandRunner,
    metrics: BotMetrics | None = None,
    listener_executor: ThreadPoolExecutor | None = None,
) -> App:
    """A bolt `App` whose listeners call `operations`; HTTP-mode request verification is on."""
    secret = settings.secrets.slack_signing_secret

    def make(verify_token: bool) -> App:
        # Verification stays on even without a secret (Socket Mode only): an HTTP request can then
        # never verify, so the endpoint fails closed instead of trusting unsigned bodies.
        return App(
            client=client,
            signing_secret=secret.get_secret_value() if secret else "",
            token_verification_enabled=verify_token,
            listener_executor=listener_executor,
        )

    try:
        # auth.test now, so no request pays for it (the first burst would queue behind it).
        app = make(verify_token=True)
    except (BoltError, SlackClientError, OSError) as exc:
        log.warning("auth.test failed at startup (%s); bolt will retry on the first request", exc)
        app = make(verify_token=False)
    ledger = runner.ledger

    @app.middleware
    def drop_duplicates(body: dict[str, Any], context: Any, next: Callable[[], None]) -> BoltResponse | None:
        delivery = delivery_key(body)
        if delivery is not None:
            if not ledger.first_in_process(delivery[0]):
                if metrics is not None:
                    metrics.count_delivery(delivery[1], "duplicate")
                return BoltResponse(status=200, body="")
            context["delivery"] = delivery
        next()
        return None

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> None:
        # The person hears about it too, with the reference the log keeps (bot/slack/failures.py).
        tell_failure(runner.slack, asker_of(body), f"Slack {body.get('type') or 'request'}", error)

    register_listeners(app, runner)
    return app


@dataclass
class SlackStack:
    """Everything the Slack side runs; `close()` stops its threads."""

    app: App
    operations: Operations
    poster: ProposalPoster
    outbox: Outbox
    runner: CommandRunner
    errors: ErrorLog
    metrics: BotMetrics
    identity: BotIdentity
    executors: tuple[ThreadPoolExecutor, ...]  # in hand-off order: bolt listeners, hand-off, slow work

    def close(self, wait: bool = True) -> None:
        self.outbox.stop()
        for executor in self.executors:
            executor.shutdown(wait=wait)


def build_slack_stack(
    settings: Settings,
    sessions: sessionmaker[Session],
    client: WebClient,
    *,
    apply_fix: ApplyFix,
    revert_fix: RevertFix,
    scan_service: ScanService,
    on_pushed: OnPushed | None = None,
    merge_fix: MergeFix | None = None,
    registry: CollectorRegistry | None = None,
    metrics: BotMetrics | None = None,
    breaker: Breaker | None = None,
    group_members: GroupMembers | None = None,
    outbox_interval: float = 30.0,
) -> SlackStack:
    """Wire Operations, the Slack notifier, the outbox, the worker pools and the bolt App."""
    errors = ErrorLog()
    if metrics is None:
        metrics = BotMetrics(registry if registry is not None else CollectorRegistry(), sessions)
    slack = SlackCalls(client, errors, metrics)
    identity = BotIdentity(client)
    poster = ProposalPoster(settings, sessions, slack, bot_mention=identity.mention)
    notifier = SlackNotifier(poster)
    slow = ThreadPoolExecutor(settings.slack.workers, thread_name_prefix="fixbot-worker")
    handoff = ThreadPoolExecutor(HANDOFF_WORKERS, thread_name_prefix="slack-handoff")
    operations = Operations(
        settings,
        sessions,
        slow,
        apply_fix,
        revert_fix,
        scan_service,
        notifier,
        group_members=group_members if group_members is not None else SlackGroupMembers(client),
        breaker=breaker if breaker is not None else PipelineBreaker(sessions, settings),
        errors=errors,
        metrics=metrics,
        on_pushed=on_pushed,
        merge_fix=merge_fix,
    )
    runner = CommandRunner(
        operations,
        slack,
        handoff,
        DeliveryLedger(sessions),
        bot_mention=identity.mention,
        on_processed=lambda kind: metrics.count_delivery(kind, "processed"),
    )
    # bolt's listener threads only hand off; they are ours so shutdown (and tests) can drain them.
    listeners = ThreadPoolExecutor(5, thread_name_prefix="bolt-listener")
    app = build_slack_app(
        settings, operations, client, runner=runner, metrics=metrics, listener_executor=listeners
    )
    outbox = Outbox(poster, outbox_interval)
    return SlackStack(
        app, operations, poster, outbox, runner, errors, metrics, identity, (listeners, handoff, slow)
    )
