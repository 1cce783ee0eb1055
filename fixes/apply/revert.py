"""Revert a pushed fix: `git revert` of its commit, validated, pushed (trailer `Reverts-Fix-Id`).

The same steps and the same rollback as an apply; a failure leaves the remote untouched and the
proposal `revert_failed`, from which a new revert may be attempted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from core.store.lifecycle import REVERTIBLE, ProposalStatus, transition
from core.store.proposals import get_proposal
from fixes.apply.backup import take_backup
from fixes.apply.journal import delete_journal, repo_lock, write_journal
from fixes.apply.plan import ApplyReport, Step, StepFailed, revert_message
from fixes.apply.steps import (
    OUTPUT_LIMIT,
    AfterStep,
    Progress,
    Run,
    fetch,
    housekeeping,
    identity,
    lock_path,
    noop,
    open_repo,
    push_with_retries,
    read_step,
    record_failure,
)
from fixes.delivery import pull_request as delivery
from fixes.delivery.errors import DeliveryError
from fixes.errors import GitError
from fixes.git_ops import GitRepo
from fixes.validation import ValidationResult, plan_for, validate_worktree

__all__ = ["run_revert"]

log = logging.getLogger(__name__)


def _attempt_revert(
    run: Run, repo: GitRepo, commit_sha: str, approved: Mapping[str, Any]
) -> tuple[str, ValidationResult]:
    root = repo.path
    base = fetch(run, repo)
    run.step_done(Step.FETCH, base_commit=base)
    if not repo.is_ancestor(commit_sha, base):
        raise StepFailed(
            Step.REVERT, f"the fix commit {commit_sha[:12]} is not on {run.service.branch}; nothing to revert"
        )
    paths = repo.changed_paths(commit_sha)
    run.backup = take_backup(
        root, paths, base_commit=base, directory=run.settings.data_dir / "backups" / run.fix_id
    )
    run.step_done(Step.BACKUP, backup=str(run.backup.location))
    message = revert_message(
        summary=approved["summary"], fix_id=run.fix_id, commit_sha=commit_sha, approver=approved["actor"]
    )
    try:
        sha = repo.revert(commit_sha, message, identity=identity(run.settings))
    except GitError as exc:
        raise StepFailed(Step.REVERT, str(exc)) from None
    run.step_done(Step.REVERT, commit_sha=sha)
    result = validate_worktree(root, paths, plan_for(run.settings, run.service, root))
    if not result.passed:
        raise StepFailed(Step.VALIDATE, f"validation of the revert failed at {result.step}", result.output)
    run.step_done(Step.VALIDATE)
    return sha, result


def run_revert(
    settings: Settings,
    sessions: sessionmaker[Session],
    fix_id: str,
    *,
    actor: str,
    progress: Progress | None = None,
    after_step: AfterStep | None = None,
) -> ApplyReport:
    """`git revert` the pushed commit of `fix_id`, validate, push; the proposal becomes `reverted`.

    The caller checks that `actor` may revert. On failure the proposal becomes `revert_failed`
    (from which a new revert may be attempted) and the remote is untouched.
    """
    say = progress or noop
    with sessions() as session:
        service = settings.service(get_proposal(session, fix_id).service)
    run = Run(settings, sessions, service, fix_id, say, after_step)
    with repo_lock(lock_path(settings, service), fix_id, say):
        with sessions.begin() as session:
            proposal = get_proposal(session, fix_id)
            if proposal.status not in REVERTIBLE or not proposal.commit_sha:
                return ApplyReport(
                    fix_id,
                    False,
                    proposal.status,
                    message=f"{fix_id} is {proposal.status}; only a pushed fix can be reverted",
                )
            commit_sha = proposal.commit_sha
            approved = {"summary": proposal.summary, "actor": actor}
            transition(session, fix_id, ProposalStatus.REVERTING, actor=actor, expected=REVERTIBLE)
            write_journal(
                session,
                fix_id,
                kind="revert",
                service=service.name,
                step=Step.PREPARE.value,
                branch=service.branch,
            )
        run.step_done(Step.PREPARE)
        say(f"reverting {fix_id} (commit {commit_sha[:12]}) for {actor}")
        try:
            run.repo = repo = open_repo(run)
            sha, result = push_with_retries(
                run, lambda: _attempt_revert(run, repo, commit_sha, approved), repo, "revert"
            )
            # Delivery hook: in pull-request mode, open (or reuse) the revert's PR; None in push mode.
            pull = delivery.open_for_revert(settings, sessions, service, fix_id, sha, actor=actor)
        except StepFailed as failure:
            return record_failure(run, failure, ProposalStatus.REVERTING, ProposalStatus.REVERT_FAILED)
        except DeliveryError as exc:
            reason = (
                f"{delivery.branch_name(fix_id, 'revert')} was pushed, but no pull request was opened: {exc}"
            )
            no_pull = StepFailed(Step.PUSH, reason)
            return record_failure(run, no_pull, ProposalStatus.REVERTING, ProposalStatus.REVERT_FAILED)
        except Exception as exc:
            log.exception("revert of %s failed unexpectedly", fix_id)
            unexpected = StepFailed(
                Step(read_step(sessions, fix_id)), f"unexpected error: {type(exc).__name__}: {exc}"
            )
            return record_failure(run, unexpected, ProposalStatus.REVERTING, ProposalStatus.REVERT_FAILED)
        with sessions.begin() as session:
            transition(
                session,
                fix_id,
                ProposalStatus.REVERT_PR_OPEN if pull else ProposalStatus.REVERTED,
                actor=actor,
                expected=[ProposalStatus.REVERTING],
                evidence={"revert_commit_sha": sha, **({"pull_request": pull.url} if pull else {})},
                values={
                    # PR mode: revert_commit_sha becomes the merge commit once the revert PR is merged.
                    "revert_commit_sha": "" if pull else sha,
                    **({} if pull else {"outcome": "reverted"}),
                    "failed_step": "",
                    "failure_reason": "",
                },
            )
            delete_journal(session, fix_id)
            if pull:
                delivery.store(session, fix_id, service.name, pull)
        run.step_done(Step.RECORD)
        housekeeping(run)
    reverted = ProposalStatus.REVERT_PR_OPEN if pull else ProposalStatus.REVERTED
    message = f"{fix_id} reverted on {service.branch} by {sha[:12]}"
    if pull:
        message = f"{fix_id}: revert pull request #{pull.number} ({pull.url}) for {sha[:12]}"
    say(message)
    return ApplyReport(
        fix_id,
        True,
        reverted.value,
        commit_sha=sha,
        output=result.output[-OUTPUT_LIMIT:],
        message=message,
    )
