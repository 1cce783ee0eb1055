"""The bot's slow work, as plain functions: scan → propose, apply → deploy watch → verification.

`agent run`, the offline demo and the end-to-end test all drive the same functions; `Operations`
receives them (bound with `functools.partial`) as its injected `ScanService`, `ApplyFix` and
`RevertFix`. Each function opens its own short transactions: it is an edge.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import dspy
import httpx
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from core.store.incidents import get_incident, mark_fix_deployed, mark_fixing, mark_proposed
from core.store.lifecycle import LifecycleError, ProposalStatus, audit, last_actor, transition
from core.store.models import Incident, Proposal, utcnow
from core.store.proposals import get_proposal, incident_of, waiting_since_before
from fixes.apply import ApplyReport, run_apply, run_revert
from fixes.delivery import follow as pr_follow
from fixes.delivery import merge as pr_merge
from fixes.deploy_watch import DeployOutcome, decide_after_deploy, record_deploy_outcome, watch_deploy
from fixes.generate import propose_fix
from fixes.learning import load_latest_program
from fixes.lm import build_lm
from fixes.policy import policy_for
from fixes.verification import VerificationResult, check_verification, due_verifications
from monitoring.scan import run_scan

__all__ = [
    "JobContext",
    "apply_fix",
    "expire_stale_proposals",
    "follow_deploy",
    "follow_pull_requests",
    "merge_fix",
    "revert_fix",
    "scan_and_propose",
    "verify_due_fixes",
]

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
# Called with (fix_id, progress) once a fix is pushed: the runtime hands it to its deploy pool.


@dataclass
class JobContext:
    """What every job needs. One per process; shared by worker threads (all members are thread-safe)."""

    settings: Settings
    sessions: sessionmaker[Session]
    http: httpx.Client
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    now: Callable[[], datetime] = utcnow
    _lm: dspy.LM | None = field(default=None, init=False, repr=False)

    def lm(self) -> dspy.LM | None:
        """The configured model (built once), or None when no model is configured."""
        if not self.settings.llm_enabled:
            return None
        if self._lm is None:
            self._lm = build_lm(self.settings.llm, self.settings.secrets.llm_api_key)
        return self._lm


def scan_and_propose(ctx: JobContext, service_name: str, progress: Progress) -> list[Incident]:
    """Scan one service; for every incident that deserves it, store a proposal (or a report).

    Returns the incidents that got a proposal. A failing source is reported through `progress`
    and in `agent status`; it never raises.
    """
    settings = ctx.settings
    service = settings.service(service_name)
    report = run_scan(settings, ctx.sessions, service, progress, client=ctx.http, now=ctx.now)
    if report.error:
        progress(f"scan of {service.name} failed: {report.error}")
        return []
    if report.skipped:
        progress(f"scan of {service.name} skipped: {report.skipped}")
    programs_dir = settings.data_dir / "programs"
    program = load_latest_program(programs_dir, explicit=_explicit_program(settings))
    proposed: list[Incident] = []
    for incident_id in report.to_propose:
        with ctx.sessions() as session:
            incident = get_incident(session, incident_id)
        if incident is None:
            continue
        progress(f"incident #{incident.id} ({incident.kind}, {incident.count}x): {incident.title[:80]}")
        proposal = propose_fix(
            incident,
            service=service,
            llm=settings.llm,
            sessions=ctx.sessions,
            lm=ctx.lm(),
            git_token=_git_token(settings),
            program=program,
            programs_dir=programs_dir,
            progress=progress,
            now=ctx.now(),
            policy=policy_for(service, data_dir=settings.data_dir, bot_repository=settings.bot_repository),
            settings=settings,
        )
        with ctx.sessions.begin() as session:
            stored = get_incident(session, incident_id)
            if stored is not None:
                mark_proposed(session, stored, ctx.now())
        progress(f"{proposal.fix_id}: {_describe(proposal)}")
        proposed.append(incident)
    return proposed


def _explicit_program(settings: Settings) -> Path | None:
    if not settings.llm.program_path:
        return None
    path = Path(settings.llm.program_path)
    return path if path.is_absolute() else settings.data_dir / path


def _git_token(settings: Settings) -> str:
    token = settings.secrets.git_token
    return token.get_secret_value() if token else ""


def _describe(proposal: Proposal) -> str:
    if proposal.origin == "report":
        return f"incident report, no fix proposed: {proposal.no_fix_reason}"
    label = "playbook fix" if proposal.origin == "playbook" else "fix proposed"
    return f"{label}, validation {proposal.validation_status}"


def apply_fix(ctx: JobContext, fix_id: str, progress: Progress) -> ApplyReport:
    """Run the apply pipeline for an approved fix (the caller follows the deploy of a push)."""
    _mark_incident(ctx, fix_id, mark_fixing)
    return run_apply(ctx.settings, ctx.sessions, fix_id, progress=progress)


def revert_fix(ctx: JobContext, fix_id: str, progress: Progress) -> ApplyReport:
    """Revert a pushed fix on behalf of whoever asked for it last (the audit row names them)."""
    with ctx.sessions() as session:
        actor = last_actor(session, fix_id, "revert_requested")
    return run_revert(ctx.settings, ctx.sessions, fix_id, actor=actor or "bot", progress=progress)


def merge_fix(ctx: JobContext, fix_id: str, actor: str, progress: Progress) -> ApplyReport:
    """Merge the fix's pull request at its validated head (the caller follows the deploy once pushed)."""
    result = pr_merge.merge_fix(ctx.settings, ctx.sessions, ctx.http, fix_id, actor=actor)
    return ApplyReport(
        fix_id,
        result.ok,
        result.status,
        commit_sha=result.merge_commit_sha,
        failed_step="" if result.ok else "merge",
        message=result.message,
    )


def follow_pull_requests(
    ctx: JobContext,
    notify: Callable[[str, str], None],
    *,
    after_merge: Callable[[str], None] | None = None,
    only: str | None = None,
) -> list[pr_follow.PullUpdate]:
    """One polling round over the open pull requests; notify (fix_id, line or "") of each change.

    A fix merged in GitHub is handed to `after_merge` (the deploy watch starts from the merge commit).
    """
    updates = pr_follow.follow_pull_requests(ctx.settings, ctx.sessions, ctx.http, now=ctx.now(), only=only)
    for update in updates:
        notify(update.fix_id, update.message)
        if update.outcome == "merged" and update.kind == "fix" and after_merge is not None:
            after_merge(update.fix_id)
    return updates


def follow_deploy(ctx: JobContext, fix_id: str, progress: Progress) -> DeployOutcome:
    """Watch the deploy of a pushed fix, record the outcome, and revert when configured to."""
    settings = ctx.settings
    with ctx.sessions() as session:
        proposal = get_proposal(session, fix_id)
    service = settings.service(proposal.service)
    outcome = watch_deploy(
        proposal,
        service,
        settings.apply,
        settings.secrets,
        ctx.http,
        progress=progress,
        sleep=ctx.sleep,
        clock=ctx.clock,
        wall_clock=ctx.wall_clock,
    )
    action = decide_after_deploy(outcome, settings.apply.auto_revert_on_crash)
    with ctx.sessions.begin() as session:
        record_deploy_outcome(
            session,
            fix_id,
            outcome,
            action,
            verify_window_seconds=settings.apply.verify_window_seconds,
            now=ctx.now(),
        )
        if action.status is ProposalStatus.DEPLOYED and proposal.incident_id is not None:
            incident = get_incident(session, proposal.incident_id)
            if incident is not None:
                mark_fix_deployed(session, incident, ctx.now())
    progress(action.message)
    if action.offer_revert and not action.revert_now:
        progress(f"To undo it, an approver can say `revert {fix_id}` (or press Revert on the proposal).")
    if action.revert_now:
        progress(f"Reverting {fix_id} automatically (apply.auto_revert_on_crash is on).")
        with ctx.sessions.begin() as session:
            audit(session, actor="auto-revert", action="revert_requested", fix_id=fix_id)
        report = revert_fix(ctx, fix_id, progress)
        progress(f"revert {report.status}: {report.message}")
    return outcome


def verify_due_fixes(ctx: JobContext, notify: Callable[[str, str], None]) -> list[VerificationResult]:
    """Decide every deployed fix whose verification window has evidence; notify (fix_id, text)."""
    with ctx.sessions() as session:
        due = due_verifications(session)
    decided: list[VerificationResult] = []
    for fix_id in due:
        try:
            with ctx.sessions.begin() as session:
                result = check_verification(
                    session, fix_id, window_seconds=ctx.settings.apply.verify_window_seconds, now=ctx.now()
                )
        except LifecycleError:
            # Decided (or reverted) since `due` was read: by another instance's round while two
            # overlap during a deploy, or by a revert. Whoever decided it has said so.
            continue
        if not result.recorded:
            continue  # still pending, or another instance recorded (and announced) it first
        decided.append(result)
        if result.state == "verified":
            notify(fix_id, f":white_check_mark: Verified: {result.detail}")
        else:
            notify(
                fix_id,
                f":warning: Did not resolve: {result.detail}. An approver can say `revert {fix_id}`.",
            )
    return decided


def expire_stale_proposals(ctx: JobContext) -> list[str]:
    """Proposals nobody acted on within `apply.proposal_ttl_seconds` become `expired`."""
    cutoff = ctx.now() - timedelta(seconds=ctx.settings.apply.proposal_ttl_seconds)
    waiting = (ProposalStatus.PROPOSED, ProposalStatus.FAILED)
    with ctx.sessions() as session:
        candidates = waiting_since_before(session, waiting, cutoff)
    expired: list[str] = []
    for fix_id in candidates:
        try:
            with ctx.sessions.begin() as session:
                result = transition(
                    session,
                    fix_id,
                    ProposalStatus.EXPIRED,
                    actor="housekeeping",
                    expected=waiting,
                    values={"outcome": "expired"},
                )
        except LifecycleError:
            continue  # someone acted on it meanwhile
        if result.changed:
            expired.append(fix_id)
    return expired


def _mark_incident(ctx: JobContext, fix_id: str, mark: Callable[[Session, Incident], None]) -> None:
    with ctx.sessions.begin() as session:
        incident = incident_of(session, fix_id)
        if incident is not None:
            mark(session, incident)
