"""Wiring for `agent run`: migrate under a lock, start the parts, serve HTTP, stop cleanly.

One process does it all (Railway runs only the Procfile's `web` line):

```
startup   migrations under a database lock → reconcile applies a killed process left behind
          → resume deploy watches of fixes that were pushed but not followed to the end
parts     Operations (commands) with the jobs of bot/jobs.py injected; Slack (HTTP or Socket Mode)
          when SLACK_BOT_TOKEN is set, else the terminal stands in for Slack; the scheduler
          (one scan job per service under a database lease, verification, expiry)
serve     uvicorn on $PORT: /health, /metrics, /slack/events, /alertmanager (when configured)
shutdown  SIGTERM → stop taking work, let running applies finish, give the scan lease back
```
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TextIO

import httpx
import uvicorn
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import CollectorRegistry
from slack_sdk import WebClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from bot.jobs import (
    JobContext,
    apply_fix,
    expire_stale_proposals,
    follow_deploy,
    follow_pull_requests,
    merge_fix,
    revert_fix,
    scan_and_propose,
    verify_due_fixes,
)
from bot.log_lines import LOG_FORMAT, MarkedFormatter, route_uncaught_to_logging
from bot.metrics import BotMetrics
from bot.operations import ApplyFix, MergeFix, Notifier, OnPushed, Operations, RevertFix, ScanService
from bot.scheduler import guarded_scan, register_scan_jobs, release_scan_lease
from bot.status import PipelineBreaker, breaker_health, validation_health
from bot.web import HealthCheck, create_web_app
from core.settings import Settings
from core.store.db import check_database, make_engine, make_session_factory, upgrade_database
from core.store.lifecycle import LifecycleError
from core.store.models import Incident
from core.store.proposals import pushed_without_deploy_status
from fixes.apply import ApplyReport, reconcile_unfinished
from monitoring.events import BOT_LOG_MARKER

__all__ = ["Runtime", "build_runtime", "configure_logging", "serve"]

log = logging.getLogger(__name__)

_HOUSEKEEPING_SECONDS = 30.0

Progress = Callable[[str], None]


def configure_logging(*, json_lines: bool = False) -> None:
    """Log to stdout: Railway marks every stderr line as an error.

    Every line carries `BOT_LOG_MARKER` ("[fixbot]") — continuation lines of tracebacks and
    multi-line messages too (`bot/log_lines.py`) — so that the scanner skips the bot's own lines
    even when the bot's logs are mixed into a monitored service's logs. `json_lines` (setting
    `log_json`): one JSON object per record (bot/log_json.py), the marker in its message.
    """
    handler = logging.StreamHandler(sys.stdout)
    if json_lines:
        from bot.log_json import JsonFormatter

        handler.setFormatter(JsonFormatter(BOT_LOG_MARKER))
    else:
        handler.setFormatter(MarkedFormatter(LOG_FORMAT))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    route_uncaught_to_logging()


@dataclass
class DeployWatches:
    """Follows the deploys of pushed fixes on a small pool: one watch per fix at a time."""

    jobs: JobContext
    pool: ThreadPoolExecutor
    enabled: bool = True  # False: leave it to the running bot (the CLI)
    _watching: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def follow(self, fix_id: str, notifier: Notifier) -> None:
        """Watch the deploy of a pushed fix, reporting in its thread through `notifier`."""
        if not self.enabled:
            notifier.progress(fix_id, "pushed; the running bot (`agent run`) follows the deploy")
            return
        with self._lock:
            if fix_id in self._watching:
                return
            self._watching.add(fix_id)

        def watch() -> None:
            try:
                follow_deploy(self.jobs, fix_id, partial(notifier.progress, fix_id))
            except LifecycleError as exc:
                log.info("deploy of %s was recorded elsewhere: %s", fix_id, exc)
            except Exception:
                log.exception("deploy watch of %s crashed", fix_id)
                notifier.progress(fix_id, ":boom: the deploy watch crashed; see the bot's logs")
            finally:
                with self._lock:
                    self._watching.discard(fix_id)
                notifier.proposal_changed(fix_id)

        self.pool.submit(watch)


def poll_pull_requests(
    jobs: JobContext, deploys: DeployWatches, notifier: Notifier, only: str | None
) -> None:
    """One polling round over the open pull requests (or `only` that fix's); merged fixes get watched."""

    def notify(fix_id: str, text: str) -> None:
        if text:
            notifier.progress(fix_id, text)
        notifier.proposal_changed(fix_id)

    follow_pull_requests(jobs, notify, after_merge=lambda fix_id: deploys.follow(fix_id, notifier), only=only)


@dataclass
class Runtime:
    """Every long-lived part of a running bot, started and stopped together."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    jobs: JobContext
    operations: Operations
    notifier: Notifier
    registry: CollectorRegistry
    metrics: BotMetrics
    scheduler: BackgroundScheduler
    deploys: DeployWatches
    web: Starlette
    owner: str
    close_slack: Callable[[bool], None] | None = None
    start_slack: Callable[[], None] | None = None
    _stopped: threading.Event = field(default_factory=threading.Event)

    def start(self, *, scheduled: bool = True) -> None:
        """Reconcile what a killed process left behind, then start the background parts.

        `scheduled=False` leaves the scheduler off (tests, demo).
        """
        for report in reconcile_unfinished(self.settings, self.sessions, progress=log.info):
            log.info("reconciled %s: %s", report.fix_id, report.message)
        resume_deploy_watches(self)
        if self.start_slack is not None:
            self.start_slack()
        if scheduled:
            self.scheduler.start()

    def follow_deploy(self, fix_id: str) -> None:
        """Watch the deploy of a pushed fix, reporting in its thread."""
        self.deploys.follow(fix_id, self.notifier)

    def scan(self, service: str) -> None:
        """One scheduled scan: new incidents become proposals, then the outbox posts them."""
        incidents = scan_and_propose(self.jobs, service, lambda line: log.info("scan %s: %s", service, line))
        self.metrics.count_scan(service, len(incidents))
        self.notifier.new_proposals()

    def housekeeping(self) -> None:
        """Decide verifications that are due and expire proposals nobody acted on."""

        def notify(fix_id: str, text: str) -> None:
            self.notifier.progress(fix_id, text)
            self.notifier.proposal_changed(fix_id)

        resume_deploy_watches(self)  # pushes made by `agent fixes implement` or before a restart
        verify_due_fixes(self.jobs, notify)
        for fix_id in expire_stale_proposals(self.jobs):
            self.notifier.proposal_changed(fix_id)

    def follow_pull_requests(self, only: str | None = None) -> None:
        """Poll the open pull requests (pull-request delivery); merged fixes get their deploy watched."""

        poll_pull_requests(self.jobs, self.deploys, self.notifier, only)

    def stop(self, *, wait: bool = True) -> None:
        """Stop taking work; with `wait`, running applies finish first (no half-done apply)."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.close_slack is not None:
            self.close_slack(wait)
        else:
            executor = self.operations.executor
            if isinstance(executor, ThreadPoolExecutor):
                executor.shutdown(wait=wait)
        self.deploys.pool.shutdown(wait=False, cancel_futures=True)
        release_scan_lease(self.sessions, self.owner)
        self.jobs.http.close()


@dataclass(frozen=True)
class _Work:
    """The jobs Operations runs on its worker pool, bound to this process's JobContext."""

    apply: ApplyFix
    revert: RevertFix
    scan: ScanService
    on_pushed: OnPushed
    merge: MergeFix


@dataclass(frozen=True)
class _Chat:
    operations: Operations
    notifier: Notifier
    checks: dict[str, HealthCheck]
    routes: list[BaseRoute]
    start: Callable[[], None] | None = None
    close: Callable[[bool], None] | None = None


def build_runtime(
    settings: Settings,
    *,
    engine: Engine | None = None,
    http: httpx.Client | None = None,
    out: TextIO | None = None,
    slack_client: WebClient | None = None,
    migrate: bool = True,
    terminal: bool = False,
    trusted_actors: frozenset[str] = frozenset(),
    watch_deploys: bool = True,
) -> Runtime:
    """Assemble a runtime from settings. Nothing starts until `Runtime.start()`.

    Args:
        http: the one outbound client (Railway, Loki, health URLs); default with explicit timeouts.
        out: where the terminal stands in for Slack when no SLACK_BOT_TOKEN is set.
        slack_client: a `slack_sdk.WebClient` to use instead of one built from the settings (tests).
        terminal: report in `out` even when Slack is configured (the CLI).
        trusted_actors: actors allowed without being approvers (the CLI's "cli" operator).
        watch_deploys: follow deploys after a push here (False: leave it to the running bot).
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = engine or make_engine(settings.database_url)
    if migrate:
        upgrade_database(engine)
    sessions = make_session_factory(engine)

    http = http or httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0), follow_redirects=True)
    jobs = JobContext(settings=settings, sessions=sessions, http=http)
    registry = CollectorRegistry()
    metrics = BotMetrics(registry, sessions)
    breaker = PipelineBreaker(sessions, settings)
    deploys = DeployWatches(jobs, ThreadPoolExecutor(4, thread_name_prefix="fixbot-deploy"), watch_deploys)

    def apply(fix_id: str, progress: Progress, /) -> ApplyReport:
        return apply_fix(jobs, fix_id, progress)

    def revert(fix_id: str, progress: Progress, /) -> ApplyReport:
        return revert_fix(jobs, fix_id, progress)

    def scan(service: str, progress: Progress, /) -> list[Incident]:
        return scan_and_propose(jobs, service, progress)

    def merge(fix_id: str, actor: str, progress: Progress, /) -> ApplyReport:
        return merge_fix(jobs, fix_id, actor, progress)

    work = _Work(apply, revert, scan, deploys.follow, merge)
    if settings.slack_enabled and not terminal:
        chat = _slack_chat(
            settings,
            sessions=sessions,
            slack_client=slack_client,
            work=work,
            metrics=metrics,
            breaker=breaker,
        )
    else:
        chat = _terminal_chat(
            settings,
            sessions=sessions,
            out=out or sys.stdout,
            work=work,
            metrics=metrics,
            breaker=breaker,
            trusted_actors=trusted_actors,
        )
    checks: dict[str, HealthCheck] = {"database": lambda: check_database(engine), **chat.checks}
    checks["breaker"] = lambda: breaker_health(breaker)
    checks["validation"] = lambda: validation_health(settings)
    routes = [*chat.routes, *_alertmanager_routes(settings, sessions, chat.notifier)]
    # A verified GitHub delivery polls that fix's pull request now, off the request's thread.
    routes += _github_routes(
        settings,
        lambda fix_id: deploys.pool.submit(poll_pull_requests, jobs, deploys, chat.notifier, fix_id),
    )

    scheduler = BackgroundScheduler(timezone="UTC")
    checks["scheduler"] = lambda: "ok" if scheduler.running else "error: the scheduler is not running"
    runtime = Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        jobs=jobs,
        operations=chat.operations,
        notifier=chat.notifier,
        registry=registry,
        metrics=metrics,
        scheduler=scheduler,
        deploys=deploys,
        web=create_web_app(checks=checks, registry=registry, extra_routes=routes),
        owner=f"fixbot-{uuid.uuid4().hex[:12]}",
        close_slack=chat.close,
        start_slack=chat.start,
    )
    _register_jobs(runtime)
    return runtime


def _register_jobs(runtime: Runtime) -> None:
    settings = runtime.settings
    lease_seconds = max(settings.scan_interval_seconds * 3, 60.0)
    scan = guarded_scan(runtime.sessions, runtime.owner, runtime.scan, ttl_seconds=lease_seconds)
    register_scan_jobs(runtime.scheduler, settings, scan)
    runtime.scheduler.add_job(
        runtime.housekeeping,
        trigger="interval",
        seconds=_HOUSEKEEPING_SECONDS,
        id="housekeeping",
        coalesce=True,
        max_instances=1,
        replace_existing=True,
    )
    pr_services = [s for s in settings.services if s.delivery == "pull_request"]
    if pr_services:
        runtime.scheduler.add_job(
            runtime.follow_pull_requests,
            trigger="interval",
            seconds=min(s.pull_request.poll_seconds for s in pr_services),
            id="pull_requests",
            coalesce=True,
            max_instances=1,
            replace_existing=True,
        )


def _terminal_chat(
    settings: Settings,
    *,
    sessions: sessionmaker[Session],
    out: TextIO,
    work: _Work,
    metrics: BotMetrics,
    breaker: PipelineBreaker,
    trusted_actors: frozenset[str],
) -> _Chat:
    from bot.terminal_chat import TerminalNotifier

    notifier = TerminalNotifier(out, sessions)
    executor = ThreadPoolExecutor(settings.slack.workers, thread_name_prefix="fixbot-worker")
    operations = Operations(
        settings,
        sessions,
        executor,
        work.apply,
        work.revert,
        work.scan,
        notifier,
        breaker=breaker,
        metrics=metrics,
        trusted_actors=trusted_actors,
        on_pushed=work.on_pushed,
        merge_fix=work.merge,
    )
    idle = "disabled (no SLACK_BOT_TOKEN: the terminal stands in for Slack)"
    return _Chat(operations, notifier, {"slack": lambda: idle}, [])


def _slack_chat(
    settings: Settings,
    *,
    sessions: sessionmaker[Session],
    slack_client: WebClient | None,
    work: _Work,
    metrics: BotMetrics,
    breaker: PipelineBreaker,
) -> _Chat:
    from bot.slack import build_slack_stack, slack_routes, startup_checks
    from bot.slack.client import make_web_client
    from bot.slack.startup import SlackHealth

    token = settings.secrets.slack_bot_token
    if slack_client is None:
        if token is None:
            raise ValueError("Slack is enabled but SLACK_BOT_TOKEN is missing")
        slack_client = make_web_client(token.get_secret_value(), base_url=settings.slack.api_base_url)
    for problem in startup_checks(slack_client, settings):
        log.warning("Slack: %s", problem)
    stack = build_slack_stack(
        settings,
        sessions,
        slack_client,
        apply_fix=work.apply,
        revert_fix=work.revert,
        scan_service=work.scan,
        on_pushed=work.on_pushed,
        merge_fix=work.merge,
        metrics=metrics,
        breaker=breaker,
    )
    app_token = settings.secrets.slack_app_token
    checks: dict[str, HealthCheck] = {"slack": SlackHealth(slack_client, settings)}
    link = None
    if app_token is not None:
        from bot.slack.socket_mode import SocketModeLink

        link = SocketModeLink(stack.app, app_token.get_secret_value())
        checks["socket_mode"] = link.health

    def start() -> None:
        stack.outbox.start()
        if link is not None:
            link.start()  # connects in the background, retrying with backoff

    def close(wait: bool) -> None:
        if link is not None:
            link.close()
        stack.close(wait)

    # Socket Mode needs no public endpoint; HTTP mode serves /slack/events.
    secret = settings.secrets.slack_signing_secret
    signing_secret = secret.get_secret_value() if secret else ""
    routes: list[BaseRoute] = (
        [] if app_token is not None else list(slack_routes(stack.app, signing_secret=signing_secret))
    )
    return _Chat(stack.operations, stack.operations.notifier, checks, routes, start, close)


def _alertmanager_routes(
    settings: Settings, sessions: sessionmaker[Session], notifier: Notifier
) -> list[BaseRoute]:
    token = settings.secrets.alertmanager_token
    if token is None:
        return []
    from monitoring.alertmanager import alertmanager_route
    from monitoring.detect import Anomaly
    from monitoring.scan import record_alerts

    def on_alerts(alerts: list[tuple[str, Anomaly]]) -> None:
        record_alerts(settings, sessions, alerts)
        notifier.new_proposals()

    return [alertmanager_route(token=token.get_secret_value(), on_alerts=on_alerts)]


def _github_routes(settings: Settings, on_fix: Callable[[str], object]) -> list[BaseRoute]:
    secret = settings.secrets.github_webhook_secret
    if secret is None:
        return []
    from bot.github_webhook import github_webhook_route

    return [github_webhook_route(secret=secret.get_secret_value(), on_fix=on_fix)]


def resume_deploy_watches(runtime: Runtime) -> list[str]:
    """Pushed fixes whose deploy nobody followed to the end (a restart) are watched again."""
    with runtime.sessions() as session:
        fix_ids = pushed_without_deploy_status(session)
    for fix_id in fix_ids:
        log.info("resuming the deploy watch of %s", fix_id)
        runtime.follow_deploy(fix_id)
    return fix_ids


def serve(settings: Settings, *, host: str = "0.0.0.0") -> None:  # noqa: S104 - Railway needs all interfaces
    """Run the bot until SIGTERM/SIGINT, then stop cleanly."""
    configure_logging(json_lines=settings.log_json)
    log.info("migrating database (under lock)")
    runtime = build_runtime(settings)
    runtime.start()
    mode = "Slack" if settings.slack_enabled else "terminal (no SLACK_BOT_TOKEN)"
    log.info(
        "serving on %s:%s; chat: %s; services: %s",
        host,
        settings.port,
        mode,
        ", ".join(s.name for s in settings.services) or "none",
    )
    # uvicorn shuts the server down gracefully on SIGTERM/SIGINT, then re-raises the signal into the
    # handlers that were installed before it started. Without these, that re-raise would kill the
    # process before running applies finish; with them, `run` returns and the runtime stops cleanly.
    received: list[int] = []
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda number, _frame: received.append(number))
    try:
        # log_config=None: uvicorn's loggers propagate to ours, so its lines (a 500's traceback
        # included) carry the marker instead of going out in uvicorn's own format.
        uvicorn.run(
            runtime.web, host=host, port=settings.port, log_level="info", access_log=False, log_config=None
        )
    finally:
        log.info("shutting down: waiting for running applies to finish")
        runtime.stop(wait=True)
        log.info("stopped")
