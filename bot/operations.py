"""The application service layer: what a person can ask the bot to do, whichever way they ask.

Slack listeners, the terminal chat and the CLI all call `Operations`. It authorizes, records the
decision in the database (race-safe, via `core.store.lifecycle`), answers at once with a `Reply`,
and runs slow work (applies, reverts, scans) on its own bounded thread pool, reporting progress
through a `Notifier` (Slack: lines in the proposal's thread; terminal: printed lines).

The apply pipeline, the scanner and the circuit breaker are injected as callables typed by the
Protocols below, so this module depends on none of them.

Errors: methods never raise for a user's mistake (unknown fix id, wrong status, not allowed):
they return a `Reply` with `ok=False` saying what was wrong and what to do. Failures inside slow
work are reported through the notifier with a correlation id and logged with the traceback.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from bot import commands as cmd
from bot.render.views import ProposalView, Reply
from bot.status import Breaker, ErrorLog, gather_status
from core.settings import ServiceSettings, Settings, UnknownService
from core.store.lifecycle import (
    OPEN_STATUSES,
    REVERTIBLE,
    IllegalTransition,
    LifecycleError,
    ProposalStatus,
    approve,
    audit,
    reject,
    transition,
)
from core.store.models import Incident, utcnow
from core.store.proposals import (
    approver_of,
    fix_for_thread,
    get_proposal,
    incident_of,
    list_proposals,
    service_of,
)

__all__ = [
    "ApplyFix",
    "ApplyReportLike",
    "GroupMembers",
    "IncidentLike",
    "MergeFix",
    "Metrics",
    "Notifier",
    "OnPushed",
    "Operations",
    "Origin",
    "Progress",
    "RevertFix",
    "ScanService",
]

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


class ApplyReportLike(Protocol):
    """What `fixes.apply.run_apply` / `run_revert` return (`ApplyReport`)."""

    @property
    def fix_id(self) -> str: ...
    @property
    def ok(self) -> bool: ...
    @property
    def status(self) -> str: ...
    @property
    def commit_sha(self) -> str: ...
    @property
    def failed_step(self) -> str: ...
    @property
    def message(self) -> str: ...


class ApplyFix(Protocol):
    """Apply the approved option of `fix_id` (the pipeline moves it approved → applying → …)."""

    def __call__(self, fix_id: str, progress: Progress, /) -> ApplyReportLike: ...


class RevertFix(Protocol):
    """Revert the pushed commit of `fix_id` (the pipeline moves it → reverting → reverted)."""

    def __call__(self, fix_id: str, progress: Progress, /) -> ApplyReportLike: ...


class MergeFix(Protocol):
    """Merge the pull request of `fix_id` for `actor` at its validated head (pull-request delivery)."""

    def __call__(self, fix_id: str, actor: str, progress: Progress, /) -> ApplyReportLike: ...


class IncidentLike(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def severity(self) -> str: ...


class ScanService(Protocol):
    """Scan one service's logs now; returns the incidents found (proposals are stored by it)."""

    def __call__(self, service: str, progress: Progress, /) -> Sequence[IncidentLike]: ...


class GroupMembers(Protocol):
    """User ids in a Slack user group (`S…`); raises on failure (the caller fails closed)."""

    def __call__(self, group_id: str, /) -> frozenset[str]: ...


@dataclass(frozen=True)
class Origin:
    """Where a command was typed, so follow-ups land there (`thread_ts` empty: top level)."""

    channel: str
    thread_ts: str = ""
    user: str = ""


class Notifier(Protocol):
    """How slow work reports back. Implementations must not raise."""

    def progress(self, fix_id: str, line: str) -> None:
        """A progress line about `fix_id` (Slack: in the proposal's thread)."""

    def proposal_changed(self, fix_id: str) -> None:
        """The proposal's status changed (Slack: update the message in place, or post it)."""

    def say(self, origin: Origin | None, text: str) -> None:
        """A follow-up where the command was typed."""

    def new_proposals(self) -> None:
        """Proposals may have been created (Slack: post what is waiting in the outbox)."""


class OnPushed(Protocol):
    """Called once a fix applied by this process is pushed (the runtime follows its deploy)."""

    def __call__(self, fix_id: str, notifier: Notifier, /) -> None: ...


class Metrics(Protocol):
    def observe_apply(self, outcome: str, seconds: float) -> None: ...
    def count_scan(self, service: str, incidents: int) -> None: ...


class Operations:
    """Commands as methods. Each returns a `Reply` at once; slow work runs on `executor`."""

    def __init__(  # noqa: PLR0917 - the agreed constructor: the seven collaborators, in order
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        executor: Executor,
        apply_fix: ApplyFix,
        revert_fix: RevertFix,
        scan_service: ScanService,
        notifier: Notifier,
        *,
        group_members: GroupMembers | None = None,
        breaker: Breaker | None = None,
        errors: ErrorLog | None = None,
        metrics: Metrics | None = None,
        trusted_actors: frozenset[str] = frozenset(),
        on_pushed: OnPushed | None = None,
        merge_fix: MergeFix | None = None,
    ) -> None:
        self.settings = settings
        # Told about every fix this process pushed, so its deploy is followed (the runtime's watches).
        self.on_pushed = on_pushed
        self.merge_fix = merge_fix
        # Actors allowed without being approvers: only the shell operator of `agent fixes …`
        # ("cli"), who already holds the database and the deploy key. Never a Slack user id.
        self.trusted_actors = trusted_actors
        self.sessions = sessions
        self.executor = executor
        self.apply_fix = apply_fix
        self.revert_fix = revert_fix
        self.scan_service = scan_service
        self.notifier = notifier
        self.group_members = group_members
        self.breaker = breaker
        self.errors = errors if errors is not None else ErrorLog()
        self.metrics = metrics
        self._busy = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._reverting: set[str] = set()
        self._merging: set[str] = set()

    # ------------------------------------------------------------------ dispatch

    def handle(self, command: cmd.Command, actor: str, origin: Origin | None = None) -> Reply:  # noqa: PLR0911
        """Run a parsed command for `actor` (an immutable user id)."""
        match command:
            case cmd.Implement(fix_id, option):
                return self.implement(fix_id, actor, option, origin=origin)
            case cmd.Reject(fix_id, reason):
                return self.reject(fix_id, actor, reason, origin=origin)
            case cmd.Show(fix_id):
                return self.show(fix_id)
            case cmd.List():
                return self.list()
            case cmd.Status():
                return self.status()
            case cmd.Revert(fix_id):
                return self.revert(fix_id, actor, origin=origin)
            case cmd.Merge(fix_id):
                return self.merge(fix_id, actor)
            case cmd.Scan(service):
                return self.scan(service, actor, origin=origin)
            case cmd.Snooze(target, seconds):
                return self.snooze(target, seconds, actor)
            case cmd.Resume(target):
                return self.resume(target, actor)
            case cmd.Unknown(_, problem):
                return Reply(f"{problem}.\n```\n{cmd.HELP_TEXT}\n```", private=True, ok=False)
            case _:
                return self.help()

    def fix_for_thread(self, channel: str, thread_ts: str) -> str | None:
        """The fix id whose proposal message starts the thread `thread_ts` in `channel`."""
        if not thread_ts:
            return None
        with self.sessions() as session:
            return fix_for_thread(session, channel, thread_ts)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no slow work is running or queued; False on timeout (terminal chat, demo)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    @property
    def busy(self) -> int:
        """Slow jobs running or queued on the executor."""
        return self._busy

    # ------------------------------------------------------------------ authorization

    def _approvers(self, service: str | None) -> tuple[frozenset[str], frozenset[str]]:
        if service is None:
            users = set(self.settings.slack.approvers)
            groups = set(self.settings.slack.approver_groups)
            for each in self.settings.services:
                users |= set(each.approvers)
                groups |= set(each.approver_groups)
            return frozenset(users), frozenset(groups)
        svc = self._service(service)
        if svc is None:
            return frozenset(self.settings.slack.approvers), frozenset(self.settings.slack.approver_groups)
        return self.settings.approvers_for(svc)

    def _service(self, name: str) -> ServiceSettings | None:
        try:
            return self.settings.service(name)
        except UnknownService:
            return None

    def _refusal(self, actor: str, service: str | None) -> str | None:
        """None when `actor` may approve for `service`, else why not (fail closed)."""
        if actor in self.trusted_actors:
            return None
        users, groups = self._approvers(service)
        scope = f"service {service}" if service else "any service"
        if not users and not groups:
            return (
                f"nobody can implement fixes for {scope}: no approvers configured "
                "(set `approvers` or `approver_groups` under [slack] or the service in agent.toml)"
            )
        if actor in users:
            return None
        for group in sorted(groups):
            if self.group_members is None:
                continue
            try:
                if actor in self.group_members(group):
                    return None
            except Exception as exc:
                log.warning("could not read user group %s: %s", group, exc)
                self.errors.record(f"usergroups.users.list {group}: {exc}")
        return f"<@{actor}> is not an approver for {scope}; ask one of the configured approvers"

    def _refuse(self, actor: str, action: str, fix_id: str | None, why: str) -> Reply:
        with self.sessions.begin() as session:
            audit(
                session,
                actor=actor,
                action="refused",
                fix_id=fix_id,
                detail={"command": action, "reason": why},
            )
        return Reply(f":no_entry: {why}", private=True, ok=False, fix_id=fix_id)

    def _service_of(self, fix_id: str) -> str | None:
        # Read before deciding: authorization may call Slack (user groups) and must not run
        # inside a write transaction (SQLite allows one writer at a time).
        with self.sessions() as session:
            return service_of(session, fix_id)

    # ------------------------------------------------------------------ commands

    def implement(  # noqa: PLR0911 - each refusal is an early, explained return
        self, fix_id: str | None, actor: str, option: int | None = None, *, origin: Origin | None = None
    ) -> Reply:
        """Approve option `option` (default: 1) of `fix_id` and apply it on the worker pool."""
        if fix_id is None:
            return _which_fix("implement")
        number = option or 1
        service = self._service_of(fix_id)
        if service is None:
            return _not_found(fix_id)
        why = self._refusal(actor, service)
        if why is None and self.breaker is not None:
            is_open, reason = self.breaker.state()
            if is_open:
                why = f"applies are paused: {reason}. An approver can say `resume` to re-open them"
        if why is not None:
            return self._refuse(actor, "implement", fix_id, why)
        with self.sessions.begin() as session:
            proposal = get_proposal(session, fix_id)
            if not proposal.diff:
                return Reply(
                    f"`{fix_id}` is an incident report without a fix; nothing to implement.", ok=False
                )
            try:
                chosen = proposal.option(number)
            except IndexError as exc:
                return Reply(f"{exc}.", private=True, ok=False, fix_id=fix_id)
            try:
                result = approve(
                    session,
                    fix_id,
                    actor=actor,
                    option=number,
                    content_hash=str(chosen.get("content_hash", "")),
                )
            except IllegalTransition as exc:
                return Reply(f"{exc}.", private=True, ok=False, fix_id=fix_id)
            if not result.changed:
                approver = approver_of(session, fix_id) or "someone"
                if result.status in {ProposalStatus.APPROVED, ProposalStatus.APPLYING}:
                    text = f"`{fix_id}` is being applied by <@{approver}>."
                else:
                    text = f"`{fix_id}` was already approved by <@{approver}> (now {result.status.value})."
                return Reply(text, private=True, ok=False, fix_id=fix_id)
        self.notifier.proposal_changed(fix_id)
        self._submit(f"apply {fix_id}", lambda: self._run_apply(fix_id), fix_id=fix_id)
        option_text = f" option {number}" if number != 1 else ""
        return Reply(
            f":gear: Applying `{fix_id}`{option_text}, approved by <@{actor}>. "
            "Progress follows in the thread.",
            fix_id=fix_id,
        )

    def reject(
        self, fix_id: str | None, actor: str, reason: str = "", *, origin: Origin | None = None
    ) -> Reply:
        """Discard `fix_id`; approvers only when `slack.reject_requires_approver` is set."""
        if fix_id is None:
            return _which_fix("reject")
        service = self._service_of(fix_id)
        if service is None:
            return _not_found(fix_id)
        if self.settings.slack.reject_requires_approver:
            why = self._refusal(actor, service)
            if why is not None:
                return self._refuse(actor, "reject", fix_id, why)
        with self.sessions.begin() as session:
            try:
                result = reject(session, fix_id, actor=actor, reason=reason)
            except IllegalTransition as exc:
                return Reply(f"{exc}.", private=True, ok=False, fix_id=fix_id)
        if not result.changed:
            return Reply(f"`{fix_id}` is already rejected.", private=True, ok=False, fix_id=fix_id)
        self.notifier.proposal_changed(fix_id)
        why = f": {reason}" if reason else ""
        return Reply(f":no_entry_sign: `{fix_id}` rejected by <@{actor}>{why}", fix_id=fix_id)

    def show(self, fix_id: str | None) -> Reply:
        """The proposal with its diff and options."""
        if fix_id is None:
            return _which_fix("show")
        with self.sessions() as session:
            view = self._view(session, fix_id)
        if view is None:
            return _not_found(fix_id)
        return Reply(f"{view.fix_id}: {view.summary}", fix_id=fix_id, proposal=view)

    def view(self, fix_id: str) -> ProposalView | None:
        """A detached snapshot of `fix_id` for rendering, or None."""
        with self.sessions() as session:
            return self._view(session, fix_id)

    def _view(self, session: Session, fix_id: str) -> ProposalView | None:
        try:
            proposal = get_proposal(session, fix_id)
        except LifecycleError:
            return None
        incident = session.get(Incident, proposal.incident_id) if proposal.incident_id else None
        return ProposalView.of(proposal, incident)

    def list(self) -> Reply:
        """Open proposals, newest first."""
        with self.sessions() as session:
            views = [ProposalView.of(p) for p in list_proposals(session, statuses=OPEN_STATUSES, limit=30)]
        if not views:
            return Reply("No open proposals.")
        return Reply(f"{len(views)} open proposal(s).", proposals=tuple(views))

    def status(self) -> Reply:
        """Health of the parts a human can act on."""
        breaker_state = self.breaker.state() if self.breaker is not None else (False, "")
        with self.sessions() as session:
            report = gather_status(
                session,
                self.settings,
                breaker_state=breaker_state,
                errors=self.errors,
                workers_busy=self.busy,
            )
        return Reply("status", status=report)

    def revert(self, fix_id: str | None, actor: str, *, origin: Origin | None = None) -> Reply:
        """Revert a pushed fix (approvers only); runs on the worker pool."""
        if fix_id is None:
            return _which_fix("revert")
        service = self._service_of(fix_id)
        if service is None:
            return _not_found(fix_id)
        why = self._refusal(actor, service)
        if why is not None:
            return self._refuse(actor, "revert", fix_id, why)
        with self.sessions.begin() as session:
            proposal = get_proposal(session, fix_id)
            if proposal.status not in REVERTIBLE:
                return Reply(
                    f"`{fix_id}` is {proposal.status}; only a pushed fix can be reverted.",
                    private=True,
                    ok=False,
                    fix_id=fix_id,
                )
            with self._lock:
                if fix_id in self._reverting:
                    return Reply(
                        f"`{fix_id}` is already being reverted.", private=True, ok=False, fix_id=fix_id
                    )
                self._reverting.add(fix_id)
            audit(session, actor=actor, action="revert_requested", fix_id=fix_id, from_status=proposal.status)
        self._submit(f"revert {fix_id}", lambda: self._run_revert(fix_id), fix_id=fix_id)
        return Reply(
            f":rewind: Reverting `{fix_id}` for <@{actor}>. Progress follows in the thread.", fix_id=fix_id
        )

    def merge(self, fix_id: str | None, actor: str) -> Reply:
        """Merge the fix's open pull request at its validated head (approvers only); on the worker pool."""
        if fix_id is None:
            return _which_fix("merge")
        service = self._service_of(fix_id)
        if service is None:
            return _not_found(fix_id)
        why = self._refusal(actor, service)
        if why is not None:
            return self._refuse(actor, "merge", fix_id, why)
        merge_fix = self.merge_fix
        with self.sessions() as session:
            status = get_proposal(session, fix_id).status
        if merge_fix is None or status not in {ProposalStatus.PR_OPEN, ProposalStatus.REVERT_PR_OPEN}:
            return Reply(
                f"`{fix_id}` is {status}; only a fix waiting in an open pull request can be merged.",
                private=True,
                ok=False,
                fix_id=fix_id,
            )
        with self._lock:
            if fix_id in self._merging:
                return Reply(f"`{fix_id}` is already being merged.", private=True, ok=False, fix_id=fix_id)
            self._merging.add(fix_id)
        with self.sessions.begin() as session:
            audit(session, actor=actor, action="merge_requested", fix_id=fix_id, from_status=status)
        self._submit(f"merge {fix_id}", lambda: self._run_merge(merge_fix, fix_id, actor), fix_id=fix_id)
        return Reply(
            f":twisted_rightwards_arrows: Merging the pull request of `{fix_id}` for <@{actor}>.",
            fix_id=fix_id,
        )

    def _run_merge(self, merge_fix: MergeFix, fix_id: str, actor: str) -> None:
        try:
            report = merge_fix(fix_id, actor, lambda line: self.notifier.progress(fix_id, line))
            # A merged fix is on the deploy branch now: follow its deploy (a merged revert has none).
            if report.ok and report.status == ProposalStatus.PUSHED.value and self.on_pushed is not None:
                self.on_pushed(fix_id, self.notifier)
            icon = ":white_check_mark:" if report.ok else ":x:"
            self.notifier.progress(fix_id, f"{icon} merge: {report.message}")
        finally:
            with self._lock:
                self._merging.discard(fix_id)
            self.notifier.proposal_changed(fix_id)

    def scan(self, service: str | None, actor: str, *, origin: Origin | None = None) -> Reply:
        """Scan one service (or all) now, on the worker pool."""
        names = [s.name for s in self.settings.services]
        if service is not None and service not in names:
            known = ", ".join(names) or "none configured"
            return Reply(f"No service named `{service}` (known: {known}).", private=True, ok=False)
        targets = [service] if service else names
        if not targets:
            return Reply("No services are configured; add one under [[services]] in agent.toml.", ok=False)
        for name in targets:
            self._submit(
                f"scan {name}", functools.partial(self._run_scan, name, origin), fix_id=None, origin=origin
            )
        return Reply(f":mag: Scanning {', '.join(targets)} for <@{actor}>…")

    def snooze(self, target: str | None, seconds: float, actor: str) -> Reply:
        """Silence an incident (given by id or by one of its fix ids) for `seconds`."""
        if target is None:
            return Reply(
                "Snooze what? `snooze fix_… 2h` or `snooze <incident id> 2h`.", private=True, ok=False
            )
        with self.sessions.begin() as session:
            incident = self._incident(session, target)
            if incident is None:
                return Reply(
                    f"No incident or fix {target!r}; `list` shows open proposals.", private=True, ok=False
                )
            until = utcnow() + timedelta(seconds=seconds)
            incident.status = "snoozed"
            incident.snoozed_until = until
            audit(
                session,
                actor=actor,
                action="snoozed",
                incident_id=incident.id,
                detail={"until": until.isoformat(), "target": target},
            )
            title = incident.title
            incident_id = incident.id
        return Reply(f":zzz: Incident #{incident_id} ({title}) snoozed until {until:%Y-%m-%d %H:%M} UTC.")

    def resume(self, target: str | None, actor: str) -> Reply:
        """Without a target: re-open applies after the breaker tripped (approvers only); else un-snooze."""
        if target is not None:
            with self.sessions.begin() as session:
                incident = self._incident(session, target)
                if incident is None:
                    return Reply(f"No incident or fix {target!r}.", private=True, ok=False)
                incident.status = "open"
                incident.snoozed_until = None
                audit(session, actor=actor, action="unsnoozed", incident_id=incident.id)
                incident_id = incident.id
            return Reply(f":bell: Incident #{incident_id} is watched again.")
        why = self._refusal(actor, None)
        if why is not None:
            return self._refuse(actor, "resume", None, why)
        with self.sessions.begin() as session:
            audit(session, actor=actor, action="resumed")
        if self.breaker is None:
            return Reply("Applies are not paused.")
        was_open, _reason = self.breaker.state()
        self.breaker.reset(actor)
        return Reply(":arrow_forward: Applies re-opened." if was_open else "Applies were not paused.")

    def help(self) -> Reply:
        return Reply(f"```\n{cmd.HELP_TEXT}\n```", private=True)

    # ------------------------------------------------------------------ slow work

    def _incident(self, session: Session, target: str) -> Incident | None:
        if target.startswith("fix_"):
            return incident_of(session, target)
        return session.get(Incident, int(target)) if target.isdecimal() else None

    def _submit(
        self, what: str, work: Callable[[], None], *, fix_id: str | None, origin: Origin | None = None
    ) -> Future[None]:
        with self._lock:
            self._busy += 1

        def run() -> None:
            try:
                work()
            except Exception as exc:
                ref = uuid.uuid4().hex[:8]
                log.exception("%s crashed (ref %s)", what, ref)
                self.errors.record(f"{what} crashed (ref {ref}): {type(exc).__name__}: {exc}")
                text = f":boom: {what} crashed (ref {ref}): {type(exc).__name__}: {exc}"
                if fix_id:
                    self.notifier.progress(fix_id, text)
                else:
                    self.notifier.say(origin, text)
            finally:
                with self._lock:
                    self._busy -= 1
                    self._idle.notify_all()

        return self.executor.submit(run)

    def _run_apply(self, fix_id: str) -> None:
        started = time.monotonic()
        outcome = "crashed"
        try:
            report = self.apply_fix(fix_id, lambda line: self.notifier.progress(fix_id, line))
            outcome = "ok" if report.ok else "failed"
            # Pull-request mode: not on the deploy branch yet (pr_open); the merge starts the watch.
            if report.ok and report.status == ProposalStatus.PUSHED.value and self.on_pushed is not None:
                self.on_pushed(fix_id, self.notifier)
            if report.ok:
                sha = f" {report.commit_sha[:10]}" if report.commit_sha else ""
                self.notifier.progress(fix_id, f":white_check_mark: {report.status}{sha}: {report.message}")
            else:
                self.notifier.progress(
                    fix_id, f":x: failed at {report.failed_step or 'apply'}: {report.message} (rolled back)"
                )
        except Exception as exc:
            self._mark_failed(fix_id, f"{type(exc).__name__}: {exc}")
            raise
        finally:
            if self.metrics is not None:
                self.metrics.observe_apply(outcome, time.monotonic() - started)
            self.notifier.proposal_changed(fix_id)

    def _mark_failed(self, fix_id: str, reason: str) -> None:
        # The pipeline normally records its own failures; this covers it crashing before it could.
        try:
            with self.sessions.begin() as session:
                transition(
                    session,
                    fix_id,
                    ProposalStatus.FAILED,
                    actor="bot",
                    expected=(ProposalStatus.APPROVED, ProposalStatus.APPLYING),
                    values={"failed_step": "crash", "failure_reason": reason},
                )
        except LifecycleError:
            log.info("%s was not left approved/applying; nothing to mark failed", fix_id)

    def _run_revert(self, fix_id: str) -> None:
        try:
            report = self.revert_fix(fix_id, lambda line: self.notifier.progress(fix_id, line))
            icon = ":white_check_mark:" if report.ok else ":x:"
            self.notifier.progress(fix_id, f"{icon} revert {report.status}: {report.message}")
        finally:
            with self._lock:
                self._reverting.discard(fix_id)
            self.notifier.proposal_changed(fix_id)

    def _run_scan(self, service: str, origin: Origin | None) -> None:
        incidents = self.scan_service(service, lambda line: self.notifier.say(origin, line))
        if self.metrics is not None:
            self.metrics.count_scan(service, len(incidents))
        if incidents:
            listed = "; ".join(f"#{i.id} {i.title} ({i.severity})" for i in incidents[:10])
            self.notifier.say(origin, f"Scan of {service} finished: {len(incidents)} incident(s): {listed}")
        else:
            self.notifier.say(origin, f"Scan of {service} finished: nothing new.")
        self.notifier.new_proposals()


def _which_fix(verb: str) -> Reply:
    return Reply(
        f"Which fix? Say `{verb} fix_YYYYMMDD_HHMMSS`, or reply in the proposal's thread.",
        private=True,
        ok=False,
    )


def _not_found(fix_id: str) -> Reply:
    return Reply(
        f"No proposal `{fix_id}`; `list` shows the open ones.", private=True, ok=False, fix_id=fix_id
    )
