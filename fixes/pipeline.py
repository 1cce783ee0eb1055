"""The apply pipeline: an approved fix becomes one validated commit on the deploy branch, or nothing.

```
prepare   lock the repository, approved -> applying, journal started
fetch     dedicated clone under <data_dir>/worktrees/<service>, fetched fresh, reset to the branch head
check     the approved hash is the chosen option's; policy; edits applied in memory on the head;
          on a moved head the resulting change must equal the approved one (else: approve again)
backup    base commit + byte copies of every touched file (kept under <data_dir>/backups/<fix_id>)
apply     write the new contents
validate  byte-compile, import, tests (only failures absent from the base count)
commit    bot identity; `fix: <summary>`, root cause, trailers Fix-Id / Incident / Approved-by
push      fast-forward only; rejected (branch moved) -> back to fetch, at most apply.push_retries times
record    applying -> pushed (commit sha, validation output), journal deleted
```

Any failure rolls back (working copy reset to the base and the backup restored and verified by hash;
nothing was pushed) and records the failing step and its output: applying -> failed. A killed process
leaves a journal row and an `applying` proposal; `reconcile_unfinished` at startup decides from the
remote (a commit with the `Fix-Id` trailer means it was pushed) and otherwise restores and fails it
as "interrupted", ready to be approved again.

`run_revert` does the same for `git revert` of a pushed fix (trailer `Reverts-Fix-Id`).

This module is an edge: it owns its transactions (short ones, one per state change). The decisions
(`commit_message`, `same_change`, `plan_edits`) are pure functions.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.settings import ServiceSettings, Settings, UnknownService
from core.store.lifecycle import REVERTIBLE, ProposalStatus, transition
from core.store.models import Proposal
from core.store.proposals import get_proposal
from fixes import breaker
from fixes.backup import Backup, load_backup, restore, take_backup
from fixes.delivery import pull_request as delivery
from fixes.delivery.errors import DeliveryError
from fixes.edits import AppliedEdits, Edit, apply_edits, content_hash
from fixes.errors import EditError, FixError, GitError, PolicyViolation, PushRejected
from fixes.git_ops import GitRepo, Identity, scrub
from fixes.journal import delete_journal, read_journal, repo_lock, write_journal
from fixes.policy import SELF_DENIED, FixPolicy, check_paths, check_tree
from fixes.validation import (
    ImportCheck,
    ValidationResult,
    default_test_command,
    run_tests,
    validate_worktree,
)

__all__ = [
    "APPLY_STEPS",
    "REVERT_STEPS",
    "ApplyReport",
    "Step",
    "commit_message",
    "plan_edits",
    "reconcile_unfinished",
    "revert_message",
    "run_apply",
    "run_revert",
    "same_change",
]

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
AfterStep = Callable[[str], None]


class Step(StrEnum):
    PREPARE = "prepare"
    FETCH = "fetch"
    CHECK = "check"
    BACKUP = "backup"
    APPLY = "apply"
    REVERT = "revert"
    VALIDATE = "validate"
    COMMIT = "commit"
    PUSH = "push"
    RECORD = "record"


APPLY_STEPS = (
    Step.PREPARE,
    Step.FETCH,
    Step.CHECK,
    Step.BACKUP,
    Step.APPLY,
    Step.VALIDATE,
    Step.COMMIT,
    Step.PUSH,
    Step.RECORD,
)
REVERT_STEPS = (Step.PREPARE, Step.FETCH, Step.BACKUP, Step.REVERT, Step.VALIDATE, Step.PUSH, Step.RECORD)

_OUTPUT_LIMIT = 20_000


@dataclass(frozen=True)
class ApplyReport:
    """What an apply, revert or reconciliation did. `message` is one line for humans."""

    fix_id: str
    ok: bool
    status: str
    commit_sha: str = ""
    failed_step: str = ""
    output: str = ""
    message: str = ""


class _StepFailed(Exception):
    def __init__(
        self, step: Step, message: str, output: str = "", *, values: Mapping[str, Any] | None = None
    ):
        super().__init__(message)
        self.step = step
        self.message = message
        self.output = output
        self.values = dict(values or {})


# ---------------------------------------------------------------------------------------------------
# Pure decisions


_HUNK_HEADER = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@", re.MULTILINE)


def same_change(approved_diff: str, new_diff: str) -> bool:
    """True when two diffs make the same change, ignoring only where in the file it lands.

    This is the declared rule for a moved branch: the hunks (context, removed and added lines) must be
    identical; only the line numbers in `@@` headers may differ.
    """
    return _HUNK_HEADER.sub("@@", approved_diff) == _HUNK_HEADER.sub("@@", new_diff)


_SUBJECT_LIMIT = 72 - len("fix: ")


def _subject(summary: str) -> str:
    """One line within git's 72 columns, cut at a word boundary (never mid-word)."""
    line = " ".join(summary.split())
    if len(line) <= _SUBJECT_LIMIT:
        return line
    cut = line[: _SUBJECT_LIMIT - 1].rsplit(" ", 1)[0].rstrip(",;:.- ")
    return cut + "…"


def commit_message(*, summary: str, root_cause: str, fix_id: str, incident: str, approver: str) -> str:
    """`fix: <summary>`, the root cause as the body, then the trailers (the last paragraph)."""
    subject = _subject(summary) or fix_id
    body = "\n".join(line.rstrip() for line in root_cause.strip().splitlines())
    # A blank line inside the body is fine; a body ending in "Key: value" lines must not pose as trailers.
    parts = [f"fix: {subject}"]
    if body:
        parts.append(f"Root cause: {body}")
    parts.append(f"Fix-Id: {fix_id}\nIncident: {incident or 'none'}\nApproved-by: {approver}")
    return "\n\n".join(parts) + "\n"


def revert_message(*, summary: str, fix_id: str, commit_sha: str, approver: str) -> str:
    subject = " ".join(summary.split())[:64] or fix_id
    return (
        f"revert: {subject}\n\nThis reverts commit {commit_sha} ({fix_id}).\n\n"
        f"Reverts-Fix-Id: {fix_id}\nApproved-by: {approver}\n"
    )


def plan_edits(
    files: Mapping[str, str], edits: Sequence[Edit], *, approved_diff: str, approved_hash: str
) -> AppliedEdits:
    """Apply `edits` to `files` in memory and check the result is the approved change.

    Raises:
        _StepFailed("check"): the edits no longer apply (the code changed), or they produce a
            different change than the one approved (a new approval is needed).
    """
    try:
        applied = apply_edits(files, edits)
    except EditError as exc:
        raise _StepFailed(
            Step.CHECK,
            f"the code changed since this proposal: {exc}. "
            "Ask for a new proposal (regenerate) for this incident.",
        ) from None
    if applied.content_hash != approved_hash and not same_change(approved_diff, applied.diff):
        raise _StepFailed(
            Step.CHECK,
            "the edits still apply on the new head of the branch, but the resulting diff differs from the "
            "approved one; review the new diff (`show`) and approve again",
            applied.diff,
            values={"diff": applied.diff, "content_hash": applied.content_hash},
        )
    return applied


# ---------------------------------------------------------------------------------------------------
# The edge


@dataclass
class _Run:
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


def _noop(_: str) -> None:
    return None


def _worktree(settings: Settings, service: ServiceSettings) -> Path:
    return settings.data_dir / "worktrees" / service.name


def _lock_path(settings: Settings, service: ServiceSettings) -> Path:
    return settings.data_dir / "worktrees" / f"{service.name}.lock"


def _token(settings: Settings) -> str:
    token = settings.secrets.git_token
    return token.get_secret_value() if token is not None else ""


def _identity(settings: Settings) -> Identity:
    return Identity(settings.apply.bot_name, settings.apply.bot_email)


def _policy(settings: Settings, service: ServiceSettings) -> FixPolicy:
    denied = tuple(service.denied_paths)
    bot_repo = settings.bot_repository
    if bot_repo is not None and Path(service.repo).expanduser().resolve() == bot_repo.resolve():
        denied += SELF_DENIED
    return FixPolicy(service.allowed_paths, denied, service.max_files_per_fix, service.max_lines_per_fix)


def _open_repo(run: _Run) -> GitRepo:
    run.progress(f"fetching {run.service.branch} of {scrub(run.service.repo)}")
    try:
        return GitRepo.open_or_clone(
            run.service.repo,
            _worktree(run.settings, run.service),
            branch=run.service.branch,
            token=_token(run.settings),
            askpass_dir=run.settings.data_dir / "worktrees",
        )
    except GitError as exc:
        raise _StepFailed(Step.FETCH, str(exc)) from None


def _fetch(run: _Run, repo: GitRepo) -> str:
    try:
        head = repo.fetch(run.service.branch)
        repo.reset_hard(head)
    except GitError as exc:
        raise _StepFailed(Step.FETCH, str(exc)) from None
    run.base = head
    return head


def _read_files(root: Path, paths: Sequence[str]) -> dict[str, str]:
    files = {}
    for rel in paths:
        path = root / rel
        if path.is_file():
            try:
                files[rel] = path.read_bytes().decode("utf-8")
            except UnicodeDecodeError:
                raise _StepFailed(
                    Step.CHECK, f"{rel} is not UTF-8 text; the bot only edits text files"
                ) from None
    return files


def _write_files(root: Path, contents: Mapping[str, str]) -> None:
    for rel, text in contents.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))


def _validate(
    run: _Run, root: Path, paths: Sequence[str], after: Mapping[str, str], import_check: ImportCheck
) -> ValidationResult:
    command, timeout = run.service.validation_command, run.service.validation_timeout_seconds
    result = validate_worktree(
        root,
        paths,
        command=command,
        timeout=timeout,
        step_timeout=run.settings.apply.step_timeout_seconds,
        import_check=import_check,
    )
    if result.passed or result.step != "tests":
        return result
    # Only new failures count: run the same tests on the base (files put back), then re-apply.
    run.progress("tests failed; running them on the base to see which failures are new")
    if run.backup is not None:
        restore(run.backup, root)
    baseline = run_tests(root, command=command or default_test_command(root), timeout=timeout)
    _write_files(root, after)
    new = tuple(sorted(set(result.new_failures) - baseline.failures))
    note = f"\n(failing on the base too, not counted: {', '.join(sorted(baseline.failures)) or 'none'})"
    return ValidationResult(
        not new, "" if not new else "tests", result.output + note, result.duration_seconds, new
    )


def _attempt_apply(
    run: _Run, repo: GitRepo, option: Mapping[str, Any], approved: Mapping[str, Any]
) -> tuple[str, ValidationResult]:
    # The import step's interpreter starts now, so that its start-up overlaps the fetch; it imports
    # nothing until the validate step hands it the modules (see `ImportCheck`).
    with ImportCheck(repo.path) as import_check:
        return _attempt_apply_with(run, repo, option, approved, import_check)


def _attempt_apply_with(
    run: _Run,
    repo: GitRepo,
    option: Mapping[str, Any],
    approved: Mapping[str, Any],
    import_check: ImportCheck,
) -> tuple[str, ValidationResult]:
    root = repo.path
    base = _fetch(run, repo)
    if approved["base_commit"] and base != approved["base_commit"]:
        run.progress(
            f"{run.service.branch} moved since the proposal ({approved['base_commit'][:12]} → {base[:12]}); "
            "re-applying on the new head"
        )
    # The base is journaled with the backup: before the backup nothing in the tree has changed.
    run.step_done(Step.FETCH)

    edits = [Edit.from_dict(e) for e in option["edits"]]
    try:
        paths = check_paths([e.path for e in edits], _policy(run.settings, run.service), diff=option["diff"])
        check_tree(root, paths)
    except PolicyViolation as exc:
        raise _StepFailed(Step.CHECK, str(exc)) from None
    # `check_paths` normalised the paths; the edits must use the same spelling.
    edits = [Edit(str(Path(e.path).as_posix()), e.search, e.replace) for e in edits]
    applied = plan_edits(
        _read_files(root, paths), edits, approved_diff=option["diff"], approved_hash=approved["approved_hash"]
    )
    run.step_done(Step.CHECK)

    run.backup = take_backup(
        root, paths, base_commit=base, directory=run.settings.data_dir / "backups" / run.fix_id
    )
    run.step_done(Step.BACKUP, base_commit=base, backup=str(run.backup.location))

    run.progress(f"applying {len(paths)} file(s): {', '.join(paths)}")
    _write_files(root, applied.after)
    run.step_done(Step.APPLY)

    run.progress("validating: compile, import, tests")
    result = _validate(run, root, paths, applied.after, import_check)
    if not result.passed:
        raise _StepFailed(Step.VALIDATE, f"validation failed at {result.step}", result.output)
    run.progress(f"validation passed in {result.duration_seconds:.1f}s")
    run.step_done(Step.VALIDATE)

    message = commit_message(
        summary=approved["summary"],
        root_cause=approved["root_cause"],
        fix_id=run.fix_id,
        incident=str(approved["incident_id"] or ""),
        approver=approved["approver"],
    )
    try:
        new_paths = [p for p in paths if run.backup is not None and run.backup.hashes.get(p) is None]
        sha = repo.commit(message, paths, identity=_identity(run.settings), new_paths=new_paths)
    except GitError as exc:
        raise _StepFailed(Step.COMMIT, str(exc)) from None
    run.step_done(Step.COMMIT, commit_sha=sha)
    return sha, result


def _push_with_retries(
    run: _Run, attempt: Callable[[], tuple[str, ValidationResult]], repo: GitRepo, kind: str = "fix"
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
            raise _StepFailed(Step.PUSH, str(exc)) from None
        # No journal write here: after a push, the trailer on the remote is the record.
        run.step_done(Step.PUSH)
        return sha, result
    raise _StepFailed(
        Step.PUSH,
        f"the push to {run.service.branch} was rejected {retries + 1} times (the branch keeps moving); "
        "nothing was pushed; approve again to retry",
    )


def _housekeeping(run: _Run) -> None:
    """git's automatic gc, off for each command (see `fixes.git_ops`), when due; never fails the run."""
    if run.repo is None:
        return
    try:
        if run.repo.housekeeping():
            run.progress(f"packed the objects of {run.repo.path} (git gc --auto)")
    except GitError as exc:
        log.warning("housekeeping of %s failed: %s", run.repo.path, exc)


def _rollback(run: _Run) -> str:
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


def _approved_snapshot(proposal: Proposal) -> tuple[dict[str, Any], dict[str, Any]]:
    option = proposal.option(proposal.chosen_option)
    approved = {
        "approved_hash": proposal.approved_hash,
        "approver": proposal.approver,
        "summary": option.get("summary") or proposal.summary,
        "root_cause": proposal.root_cause,
        "incident_id": proposal.incident_id,
        "base_commit": proposal.base_commit,
        "option": proposal.chosen_option,
    }
    return dict(option), approved


def _store_rebased_diff(session: Session, proposal: Proposal, values: Mapping[str, Any]) -> dict[str, Any]:
    """The failure values that keep the new diff on the chosen option, for the re-approval."""
    if proposal.chosen_option == 1:
        return {"diff": values["diff"], "content_hash": values["content_hash"]}
    alternatives = [dict(a) for a in proposal.alternatives]
    alternatives[proposal.chosen_option - 2].update(diff=values["diff"], content_hash=values["content_hash"])
    return {"alternatives": alternatives}


def run_apply(
    settings: Settings,
    sessions: sessionmaker[Session],
    fix_id: str,
    *,
    progress: Progress | None = None,
    after_step: AfterStep | None = None,
) -> ApplyReport:
    """Apply the approved fix `fix_id`: one validated commit pushed to the deploy branch, or nothing.

    Args:
        progress: receives one human line per step (and "waiting for fix_X to finish").
        after_step: test-only hook, called with each step's name after it completed.

    Returns:
        The report; `ok=False` with `failed_step` and `message` when the fix was not pushed (the
        proposal is then `failed`, or unchanged when the breaker is open or it was not approved).
    """
    say = progress or _noop
    with sessions() as session:
        proposal = get_proposal(session, fix_id)
        service = settings.service(proposal.service)
        status = breaker.breaker_status(session, service.name, settings.apply.breaker_threshold)
    if status.open:
        return ApplyReport(fix_id, False, proposal.status, failed_step="breaker", message=status.message)

    run = _Run(settings, sessions, service, fix_id, say, after_step)
    with repo_lock(_lock_path(settings, service), fix_id, say):
        with sessions.begin() as session:
            proposal = get_proposal(session, fix_id)
            if proposal.status != ProposalStatus.APPROVED:
                return ApplyReport(
                    fix_id,
                    False,
                    proposal.status,
                    message=f"{fix_id} is {proposal.status}, not approved; nothing to apply",
                )
            option, approved = _approved_snapshot(proposal)
            transition(
                session, fix_id, ProposalStatus.APPLYING, actor="pipeline", expected=[ProposalStatus.APPROVED]
            )
            write_journal(
                session,
                fix_id,
                kind="apply",
                service=service.name,
                step=Step.PREPARE.value,
                branch=service.branch,
            )
        run.step_done(Step.PREPARE)
        say(f"applying {fix_id} (option {approved['option']}, approved by {approved['approver']})")
        try:
            if option.get("content_hash") != approved["approved_hash"] or content_hash(
                option["diff"]
            ) != option.get("content_hash"):
                raise _StepFailed(
                    Step.CHECK,
                    f"the approved diff (hash {approved['approved_hash'][:12] or 'none'}) is not option "
                    f"{approved['option']}'s current diff (hash {str(option.get('content_hash'))[:12]}); "
                    "approve again",
                )
            run.repo = repo = _open_repo(run)
            sha, result = _push_with_retries(run, lambda: _attempt_apply(run, repo, option, approved), repo)
            # Delivery hook: in pull-request mode, open (or reuse) the fix's PR; None in push mode.
            pull = delivery.open_for_fix(
                settings, sessions, service, fix_id, sha, validation_output=result.output
            )
        except _StepFailed as failure:
            return _record_failure(run, failure, ProposalStatus.APPLYING, ProposalStatus.FAILED)
        except DeliveryError as exc:
            reason = f"{delivery.branch_name(fix_id)} was pushed, but no pull request was opened: {exc}"
            return _record_failure(
                run, _StepFailed(Step.PUSH, reason), ProposalStatus.APPLYING, ProposalStatus.FAILED
            )
        except Exception as exc:
            log.exception("apply of %s failed unexpectedly", fix_id)
            unexpected = _StepFailed(
                Step(read_step(sessions, fix_id)),
                f"unexpected error: {type(exc).__name__}: {scrub(str(exc), (_token(settings),))}",
            )
            return _record_failure(run, unexpected, ProposalStatus.APPLYING, ProposalStatus.FAILED)

        output = result.output[-_OUTPUT_LIMIT:]
        with sessions.begin() as session:
            transition(
                session,
                fix_id,
                ProposalStatus.PR_OPEN if pull else ProposalStatus.PUSHED,
                actor="pipeline",
                expected=[ProposalStatus.APPLYING],
                evidence={
                    "commit_sha": sha,
                    "base_commit": run.base,
                    "backup": str(run.backup.location if run.backup else ""),
                    **({"pull_request": pull.url or pull.number} if pull else {}),
                },
                values={
                    # PR mode: commit_sha becomes the merge commit once merged (the deploy watch's key).
                    "commit_sha": "" if pull else sha,
                    "base_commit": run.base,
                    "validation_status": "passed",
                    "validation_output": output,
                    "failed_step": "",
                    "failure_reason": "",
                },
            )
            delete_journal(session, fix_id)
            if pull:
                delivery.store(session, fix_id, service.name, pull)
            breaker.record_apply_result(
                session, service.name, ok=True, fix_id=fix_id, threshold=settings.apply.breaker_threshold
            )
        run.step_done(Step.RECORD)
        _housekeeping(run)
    delivered = ProposalStatus.PR_OPEN if pull else ProposalStatus.PUSHED
    message = f"{fix_id} pushed to {service.branch} as {sha[:12]}"
    if pull:
        verb = "reused" if pull.reused else "opened"
        message = (
            f"{fix_id}: pull request #{pull.number} {verb} ({pull.url}) for {sha[:12]} into {service.branch}"
        )
    say(message)
    return ApplyReport(fix_id, True, delivered.value, commit_sha=sha, output=output, message=message)


def read_step(sessions: sessionmaker[Session], fix_id: str) -> str:
    with sessions() as session:
        step = read_journal(session, fix_id).get("step", Step.PREPARE.value)
    return str(step)


def _record_failure(
    run: _Run, failure: _StepFailed, current: ProposalStatus, target: ProposalStatus
) -> ApplyReport:
    note = _rollback(run)
    reason = failure.message + note
    output = failure.output[-_OUTPUT_LIMIT:]
    run.progress(f"{run.fix_id} failed at {failure.step.value}: {reason}; rolled back, nothing was pushed")
    with run.sessions.begin() as session:
        values: dict[str, Any] = {"failed_step": failure.step.value, "failure_reason": reason}
        if failure.step == Step.VALIDATE:
            values.update(validation_status="failed", validation_output=output)
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


# ---------------------------------------------------------------------------------------------------
# Revert


def _attempt_revert(
    run: _Run, repo: GitRepo, commit_sha: str, approved: Mapping[str, Any]
) -> tuple[str, ValidationResult]:
    root = repo.path
    base = _fetch(run, repo)
    run.step_done(Step.FETCH, base_commit=base)
    if not repo.is_ancestor(commit_sha, base):
        raise _StepFailed(
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
        sha = repo.revert(commit_sha, message, identity=_identity(run.settings))
    except GitError as exc:
        raise _StepFailed(Step.REVERT, str(exc)) from None
    run.step_done(Step.REVERT, commit_sha=sha)
    result = validate_worktree(
        root,
        paths,
        command=run.service.validation_command,
        timeout=run.service.validation_timeout_seconds,
        step_timeout=run.settings.apply.step_timeout_seconds,
    )
    if not result.passed:
        raise _StepFailed(Step.VALIDATE, f"validation of the revert failed at {result.step}", result.output)
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
    say = progress or _noop
    with sessions() as session:
        service = settings.service(get_proposal(session, fix_id).service)
    run = _Run(settings, sessions, service, fix_id, say, after_step)
    with repo_lock(_lock_path(settings, service), fix_id, say):
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
            run.repo = repo = _open_repo(run)
            sha, result = _push_with_retries(
                run, lambda: _attempt_revert(run, repo, commit_sha, approved), repo, "revert"
            )
            # Delivery hook: in pull-request mode, open (or reuse) the revert's PR; None in push mode.
            pull = delivery.open_for_revert(settings, sessions, service, fix_id, sha, actor=actor)
        except _StepFailed as failure:
            return _record_failure(run, failure, ProposalStatus.REVERTING, ProposalStatus.REVERT_FAILED)
        except DeliveryError as exc:
            reason = (
                f"{delivery.branch_name(fix_id, 'revert')} was pushed, but no pull request was opened: {exc}"
            )
            no_pull = _StepFailed(Step.PUSH, reason)
            return _record_failure(run, no_pull, ProposalStatus.REVERTING, ProposalStatus.REVERT_FAILED)
        except Exception as exc:
            log.exception("revert of %s failed unexpectedly", fix_id)
            unexpected = _StepFailed(
                Step(read_step(sessions, fix_id)), f"unexpected error: {type(exc).__name__}: {exc}"
            )
            return _record_failure(run, unexpected, ProposalStatus.REVERTING, ProposalStatus.REVERT_FAILED)
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
        _housekeeping(run)
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
        output=result.output[-_OUTPUT_LIMIT:],
        message=message,
    )


# ---------------------------------------------------------------------------------------------------
# Crash recovery


def reconcile_unfinished(
    settings: Settings, sessions: sessionmaker[Session], *, progress: Progress | None = None
) -> list[ApplyReport]:
    """At startup: settle every apply or revert a killed process left behind.

    A proposal still `applying` is `pushed` when a commit with its `Fix-Id` trailer is on the remote
    branch; otherwise its working copy is reset to the remote head (the backup verified where it
    applies) and it becomes `failed` ("interrupted"), ready to be approved again. `reverting` is
    settled the same way with the `Reverts-Fix-Id` trailer.
    """
    say = progress or _noop
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
        with repo_lock(_lock_path(settings, service), f"{fix_id} (reconcile)", say):
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
    run = _Run(settings, sessions, service, fix_id, say, None)
    try:
        repo = GitRepo.open_or_clone(
            service.repo,
            _worktree(settings, service),
            branch=service.branch,
            token=_token(settings),
            askpass_dir=settings.data_dir / "worktrees",
        )
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
                    **({"outcome": "reverted"} if reverting else {"validation_status": "passed"}),
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
    failure = _StepFailed(
        Step(step),
        f"interrupted: the process stopped during the {step} step; nothing was pushed and the working copy "
        f"was restored; {'revert' if reverting else 'approve'} again to retry{backup_note}",
    )
    target = ProposalStatus.REVERT_FAILED if reverting else ProposalStatus.FAILED
    report = _record_failure(run, failure, status, target)
    return report


def _reconcile_pull_request(run: _Run, head_sha: str, step: str, kind: str) -> ApplyReport:
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
        return _record_failure(run, _StepFailed(Step.PUSH, reason), current, failed)
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
            | ({} if reverting else {"validation_status": "passed"}),
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
