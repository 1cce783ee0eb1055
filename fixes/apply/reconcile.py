"""Crash recovery: at startup, settle every apply or revert a killed process left behind.

A killed process leaves a journal row and an `applying` (or `reverting`) proposal. The remote decides:
a commit with the `Fix-Id` (`Reverts-Fix-Id`) trailer means it was pushed; otherwise the working copy
is restored and the fix fails as "interrupted", ready to be approved again.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.settings import ServiceSettings, Settings, UnknownService
from core.store.lifecycle import ProposalStatus, transition
from core.store.models import Proposal
from core.store.proposals import get_proposal
from fixes.apply.backup import load_backup, restore
from fixes.apply.journal import delete_journal, read_journal, repo_lock
from fixes.apply.plan import ApplyReport, Step, StepFailed
from fixes.apply.steps import Progress, Run, lock_path, noop, record_failure, token, worktree
from fixes.children import end_run_orphans
from fixes.delivery import pull_request as delivery
from fixes.delivery.errors import DeliveryError
from fixes.errors import FixError, GitError
from fixes.git_ops import GitRepo

__all__ = ["reconcile_unfinished"]


def reconcile_unfinished(
    settings: Settings, sessions: sessionmaker[Session], *, progress: Progress | None = None
) -> list[ApplyReport]:
    """At startup: settle every apply or revert a killed process left behind.

    First the validation processes a killed bot left running are ended (`end_run_orphans`).

    A proposal still `applying` is `pushed` when a commit with its `Fix-Id` trailer is on the remote
    branch; otherwise its working copy is reset to the remote head (the backup verified where it
    applies) and it becomes `failed` ("interrupted"), ready to be approved again. `reverting` is
    settled the same way with the `Reverts-Fix-Id` trailer.
    """
    say = progress or noop
    # Validation processes a killed bot left (a test's own children) stop before anything is settled.
    for pid in end_run_orphans():
        say(f"ended validation process {pid} left running by a killed bot")
    with sessions() as session:
        pending = list(
            session.execute(
                select(Proposal.fix_id, Proposal.service).where(
                    Proposal.status.in_([ProposalStatus.APPLYING.value, ProposalStatus.REVERTING.value])
                )
            )
        )
    reports = []
    for fix_id, service_name in pending:
        try:
            service = settings.service(service_name)
        except UnknownService:
            reports.append(
                _settle(sessions, fix_id, None, f"service {service_name!r} is no longer configured")
            )
            continue
        with repo_lock(lock_path(settings, service), f"{fix_id} (reconcile)", say):
            reports.append(_reconcile_one(settings, sessions, fix_id, service, say))
    return reports


def _reconcile_one(
    settings: Settings, sessions: sessionmaker[Session], fix_id: str, service: ServiceSettings, say: Progress
) -> ApplyReport:
    with sessions() as session:
        proposal = get_proposal(session, fix_id)
        status = ProposalStatus(proposal.status)
        journal = read_journal(session, fix_id)
    if status not in (ProposalStatus.APPLYING, ProposalStatus.REVERTING):
        return ApplyReport(
            fix_id, True, status.value, message=f"{fix_id} was settled meanwhile ({status.value})"
        )
    reverting = status == ProposalStatus.REVERTING
    run = Run(settings, sessions, service, fix_id, say, None)
    try:
        repo = GitRepo.open_or_clone(
            service.repo,
            worktree(settings, service),
            branch=service.branch,
            token=token(settings),
            askpass_dir=settings.data_dir / "worktrees",
        )
        # A push the killed process left running could still land after we read the remote.
        for pid in repo.end_orphans():
            say(f"ended git process {pid} left running by the killed apply")
        head = repo.fetch(service.branch)
        trailer = "Reverts-Fix-Id" if reverting else "Fix-Id"
        pushed = repo.find_commit_with_trailer(f"refs/remotes/origin/{service.branch}", trailer, fix_id)
        # Delivery hook: in PR mode the commit is on fixbot/<fix_id> until its pull request is merged.
        kind = "revert" if reverting else "fix"
        branch_head = None if pushed else delivery.pushed_fix_branch(repo, service, fix_id, kind)
        repo.reset_hard(head)
        run.repo, run.base = repo, head
    except GitError as exc:
        say(f"cannot reconcile {fix_id} yet: {exc}")
        return ApplyReport(fix_id, False, status.value, failed_step="reconcile", message=str(exc))
    if branch_head:
        return _reconcile_pull_request(run, branch_head, str(journal.get("step", Step.PUSH.value)), kind)

    step = str(journal.get("step", Step.PREPARE.value))
    if pushed:
        target = ProposalStatus.REVERTED if reverting else ProposalStatus.PUSHED
        column = "revert_commit_sha" if reverting else "commit_sha"
        with sessions.begin() as session:
            transition(
                session,
                fix_id,
                target,
                actor="reconcile",
                expected=[status],
                evidence={column: pushed, "interrupted_after": step},
                values={
                    column: pushed,
                    # The push comes after the validate step passed: the trailer on the remote says so.
                    **(
                        {"outcome": "reverted"}
                        if reverting
                        else {"validation_status": "passed", "validation_outcome": "passed"}
                    ),
                },
            )
            delete_journal(session, fix_id)
        message = (
            f"{fix_id}: the process stopped after {step}, but {pushed[:12]} is on {service.branch}; "
            f"marked {target.value}"
        )
        say(message)
        return ApplyReport(fix_id, True, target.value, commit_sha=pushed, message=message)

    backup_note = ""
    location = journal.get("backup")
    if location and journal.get("base_commit") == head and Path(location, "manifest.json").is_file():
        try:
            restore(load_backup(Path(location)), repo.path)
        except (FixError, OSError) as exc:
            backup_note = f"; warning: {exc}"
    failure = StepFailed(
        Step(step),
        f"interrupted: the process stopped during the {step} step; nothing was pushed and the working copy "
        f"was restored; {'revert' if reverting else 'approve'} again to retry{backup_note}",
    )
    target = ProposalStatus.REVERT_FAILED if reverting else ProposalStatus.FAILED
    report = record_failure(run, failure, status, target)
    return report


def _reconcile_pull_request(run: Run, head_sha: str, step: str, kind: str) -> ApplyReport:
    """The process stopped after pushing fixbot/[revert-]<fix_id>: open (or find) its pull request now."""
    reverting = kind == "revert"
    current = ProposalStatus.REVERTING if reverting else ProposalStatus.APPLYING
    target = ProposalStatus.REVERT_PR_OPEN if reverting else ProposalStatus.PR_OPEN
    args = (run.settings, run.sessions, run.service, run.fix_id, head_sha)
    try:
        if reverting:
            pull = delivery.open_for_revert(*args, actor="reconcile")
        else:
            pull = delivery.open_for_fix(*args, validation_output="")
    except DeliveryError as exc:
        reason = f"interrupted after pushing {delivery.branch_name(run.fix_id, kind)}; no pull request: {exc}"
        failed = ProposalStatus.REVERT_FAILED if reverting else ProposalStatus.FAILED
        return record_failure(run, StepFailed(Step.PUSH, reason), current, failed)
    if pull is None:  # not PR mode: pushed_fix_branch found nothing to settle this way
        raise AssertionError("a fix branch was found for a service in push mode")
    with run.sessions.begin() as session:
        transition(
            session,
            run.fix_id,
            target,
            actor="reconcile",
            expected=[current],
            evidence={"commit_sha": head_sha, "interrupted_after": step, "pull_request": pull.url},
            values={"failed_step": "", "failure_reason": ""}
            # The push comes after the validate step passed: the trailer on the branch says so.
            | ({} if reverting else {"validation_status": "passed", "validation_outcome": "passed"}),
        )
        delete_journal(session, run.fix_id)
        delivery.store(session, run.fix_id, run.service.name, pull)
    message = (
        f"{run.fix_id}: the process stopped after {step}, but {head_sha[:12]} is on "
        f"{pull.branch}; pull request #{pull.number} {'found' if pull.reused else 'opened'}"
    )
    run.progress(message)
    return ApplyReport(run.fix_id, True, target.value, commit_sha=head_sha, message=message)


def _settle(sessions: sessionmaker[Session], fix_id: str, _: None, reason: str) -> ApplyReport:
    with sessions.begin() as session:
        status = ProposalStatus(get_proposal(session, fix_id).status)
        target = ProposalStatus.REVERT_FAILED if status == ProposalStatus.REVERTING else ProposalStatus.FAILED
        transition(
            session,
            fix_id,
            target,
            actor="reconcile",
            expected=[status],
            values={"failed_step": "reconcile", "failure_reason": f"interrupted: {reason}"},
        )
        delete_journal(session, fix_id)
    return ApplyReport(fix_id, False, target.value, failed_step="reconcile", message=f"interrupted: {reason}")
