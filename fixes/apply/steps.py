"""The edge steps that apply, revert and reconcile share: one run's state, fetch, push, rollback, record.

Each state change is its own short transaction; a step that fails raises `StepFailed`, and
`record_failure` rolls the working copy back and records the failure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.settings import ServiceSettings, Settings
from core.store.lifecycle import ProposalStatus, transition
from core.store.models import Proposal
from core.store.proposals import get_proposal
from fixes.apply import breaker
from fixes.apply.backup import Backup, restore
from fixes.apply.journal import delete_journal, read_journal, write_journal
from fixes.apply.plan import ApplyReport, Step, StepFailed
from fixes.delivery import pull_request as delivery
from fixes.errors import FixError, GitError, PushRejected
from fixes.git_ops import GitRepo, Identity, scrub
from fixes.validation import ValidationResult

__all__ = [
    "OUTPUT_LIMIT",
    "AfterStep",
    "Progress",
    "Run",
    "fetch",
    "housekeeping",
    "identity",
    "lock_path",
    "noop",
    "open_repo",
    "push_with_retries",
    "read_step",
    "record_failure",
    "token",
    "worktree",
]

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
AfterStep = Callable[[str], None]

OUTPUT_LIMIT = 20_000


@dataclass
class Run:
    """Everything one apply needs, read from the proposal once under the lock."""

    settings: Settings
    sessions: sessionmaker[Session]
    service: ServiceSettings
    fix_id: str
    progress: Progress
    after_step: AfterStep | None
    repo: GitRepo | None = None
    base: str = ""
    backup: Backup | None = None

    def step_done(self, step: Step, **journal: Any) -> None:
        if journal:
            with self.sessions.begin() as session:
                write_journal(session, self.fix_id, step=step.value, **journal)
        if self.after_step is not None:
            self.after_step(step.value)


def noop(_: str) -> None:
    return None


def worktree(settings: Settings, service: ServiceSettings) -> Path:
    return settings.data_dir / "worktrees" / service.name


def lock_path(settings: Settings, service: ServiceSettings) -> Path:
    return settings.data_dir / "worktrees" / f"{service.name}.lock"


def token(settings: Settings) -> str:
    value = settings.secrets.git_token
    return value.get_secret_value() if value is not None else ""


def identity(settings: Settings) -> Identity:
    return Identity(settings.apply.bot_name, settings.apply.bot_email)


def open_repo(run: Run) -> GitRepo:
    run.progress(f"fetching {run.service.branch} of {scrub(run.service.repo)}")
    try:
        return GitRepo.open_or_clone(
            run.service.repo,
            worktree(run.settings, run.service),
            branch=run.service.branch,
            token=token(run.settings),
            askpass_dir=run.settings.data_dir / "worktrees",
        )
    except GitError as exc:
        raise StepFailed(Step.FETCH, str(exc)) from None


def fetch(run: Run, repo: GitRepo) -> str:
    try:
        head = repo.fetch(run.service.branch)
        repo.reset_hard(head)
    except GitError as exc:
        raise StepFailed(Step.FETCH, str(exc)) from None
    run.base = head
    return head


def push_with_retries(
    run: Run, attempt: Callable[[], tuple[str, ValidationResult]], repo: GitRepo, kind: str = "fix"
) -> tuple[str, ValidationResult]:
    retries = run.settings.apply.push_retries
    for number in range(retries + 1):
        sha, result = attempt()
        run.progress(f"pushing {sha[:12]} to {delivery.push_target(run.service, run.fix_id, kind)}")
        try:
            # Push mode: the deploy branch. PR mode: fixbot/<fix_id> (or fixbot/revert-<fix_id>).
            delivery.push(repo, sha, run.service, run.fix_id, kind)
        except PushRejected:
            run.progress(
                f"push rejected: {run.service.branch} moved (attempt {number + 1} of {retries + 1}); "
                "fetching and re-validating"
            )
            continue
        except GitError as exc:
            raise StepFailed(Step.PUSH, str(exc)) from None
        # No journal write here: after a push, the trailer on the remote is the record.
        run.step_done(Step.PUSH)
        return sha, result
    raise StepFailed(
        Step.PUSH,
        f"the push to {run.service.branch} was rejected {retries + 1} times (the branch keeps moving); "
        "nothing was pushed; approve again to retry",
    )


def housekeeping(run: Run) -> None:
    """git's automatic gc, off for each command (see `fixes.git_ops`), when due; never fails the run."""
    if run.repo is None:
        return
    try:
        if run.repo.housekeeping():
            run.progress(f"packed the objects of {run.repo.path} (git gc --auto)")
    except GitError as exc:
        log.warning("housekeeping of %s failed: %s", run.repo.path, exc)


def _rollback(run: Run) -> str:
    """Reset the working copy to the base and restore the backup; returns a note when that failed."""
    repo = run.repo
    if repo is None:
        return ""
    try:
        repo.reset_hard(run.base or "HEAD")
        if run.backup is not None:
            restore(run.backup, repo.path)
        if not repo.is_clean():
            return "; warning: the working copy is not clean after the rollback"
    except (FixError, OSError) as exc:
        log.exception("rollback of %s failed", run.fix_id)
        return f"; warning: rollback failed: {exc}"
    return ""


def read_step(sessions: sessionmaker[Session], fix_id: str) -> str:
    with sessions() as session:
        step = read_journal(session, fix_id).get("step", Step.PREPARE.value)
    return str(step)


def _store_rebased_diff(session: Session, proposal: Proposal, values: Mapping[str, Any]) -> dict[str, Any]:
    """The failure values that keep the new diff on the chosen option, for the re-approval."""
    if proposal.chosen_option == 1:
        return {"diff": values["diff"], "content_hash": values["content_hash"]}
    alternatives = [dict(a) for a in proposal.alternatives]
    alternatives[proposal.chosen_option - 2].update(diff=values["diff"], content_hash=values["content_hash"])
    return {"alternatives": alternatives}


def record_failure(
    run: Run, failure: StepFailed, current: ProposalStatus, target: ProposalStatus
) -> ApplyReport:
    note = _rollback(run)
    reason = failure.message + note
    output = failure.output[-OUTPUT_LIMIT:]
    run.progress(f"{run.fix_id} failed at {failure.step.value}: {reason}; rolled back, nothing was pushed")
    with run.sessions.begin() as session:
        values: dict[str, Any] = {"failed_step": failure.step.value, "failure_reason": reason}
        if failure.step == Step.VALIDATE:
            outcome = failure.values.get("validation_outcome", "failed")
            values.update(validation_status="failed", validation_outcome=outcome, validation_output=output)
        if "diff" in failure.values:
            values.update(_store_rebased_diff(session, get_proposal(session, run.fix_id), failure.values))
            values["base_commit"] = run.base
        transition(
            session,
            run.fix_id,
            target,
            actor="pipeline",
            expected=[current],
            evidence={"step": failure.step.value, "reason": reason, "output": output[-4000:]},
            values=values,
        )
        delete_journal(session, run.fix_id)
        if current == ProposalStatus.APPLYING:
            breaker.record_apply_result(
                session,
                run.service.name,
                ok=False,
                fix_id=run.fix_id,
                threshold=run.settings.apply.breaker_threshold,
            )
    return ApplyReport(
        run.fix_id, False, target.value, failed_step=failure.step.value, output=output, message=reason
    )
