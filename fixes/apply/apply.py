"""Apply an approved fix: one validated commit on the deploy branch, or nothing.

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
nothing was pushed) and records the failing step and its output: applying -> failed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from core.store.lifecycle import ProposalStatus, transition
from core.store.models import Proposal
from core.store.proposals import get_proposal
from fixes.apply import breaker
from fixes.apply.backup import restore, take_backup
from fixes.apply.journal import delete_journal, repo_lock, write_journal
from fixes.apply.plan import (
    ApplyReport,
    Step,
    StepFailed,
    commit_message,
    plan_edits,
    validation_outcome,
)
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
    token,
)
from fixes.delivery import pull_request as delivery
from fixes.delivery.errors import DeliveryError
from fixes.edits import Edit, content_hash
from fixes.errors import GitError, PolicyViolation
from fixes.git_ops import GitRepo, scrub
from fixes.policy import check_fix, policy_for
from fixes.validation import (
    ImportCheck,
    TestReport,
    ValidationResult,
    baseline_report,
    plan_for,
    validate_worktree,
)

__all__ = ["run_apply"]

log = logging.getLogger(__name__)


def _read_files(root: Path, paths: Sequence[str]) -> dict[str, str]:
    files = {}
    for rel in paths:
        path = root / rel
        if path.is_file():
            try:
                files[rel] = path.read_bytes().decode("utf-8")
            except UnicodeDecodeError:
                raise StepFailed(
                    Step.CHECK, f"{rel} is not UTF-8 text; the bot only edits text files"
                ) from None
    return files


def _write_files(root: Path, contents: Mapping[str, str]) -> None:
    for rel, text in contents.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))


def _validate(
    run: Run, root: Path, paths: Sequence[str], after: Mapping[str, str], import_check: ImportCheck
) -> ValidationResult:
    plan = plan_for(run.settings, run.service, root)
    backup = run.backup

    def base() -> tuple[TestReport, frozenset[str]]:
        # The base's own run (cached per commit): files put back for it, the fix re-applied after.
        run.progress("running the tests on the base to compare")
        try:
            return baseline_report(
                root,
                plan,
                key=backup.base_commit if backup is not None else "",
                prepare=(lambda: restore(backup, root)) if backup is not None else None,
            )
        finally:
            _write_files(root, after)

    originals = (
        {
            p: (backup.location / "files" / p).read_text("utf-8", "replace") if backup.hashes.get(p) else None
            for p in paths
        }
        if backup is not None
        else None
    )
    return validate_worktree(root, paths, plan, baseline=base, originals=originals, import_check=import_check)


def _attempt_apply(
    run: Run, repo: GitRepo, option: Mapping[str, Any], approved: Mapping[str, Any]
) -> tuple[str, ValidationResult]:
    # The import step's interpreter starts now, so that its start-up overlaps the fetch; it imports
    # nothing until the validate step hands it the modules (see `ImportCheck`).
    with ImportCheck(repo.path) as import_check:
        return _attempt_apply_with(run, repo, option, approved, import_check)


def _attempt_apply_with(
    run: Run,
    repo: GitRepo,
    option: Mapping[str, Any],
    approved: Mapping[str, Any],
    import_check: ImportCheck,
) -> tuple[str, ValidationResult]:
    root = repo.path
    base = fetch(run, repo)
    if approved["base_commit"] and base != approved["base_commit"]:
        run.progress(
            f"{run.service.branch} moved since the proposal ({approved['base_commit'][:12]} → {base[:12]}); "
            "re-applying on the new head"
        )
    # The base is journaled with the backup: before the backup nothing in the tree has changed.
    run.step_done(Step.FETCH)

    edits = [Edit.from_dict(e) for e in option["edits"]]
    policy = policy_for(
        run.service, data_dir=run.settings.data_dir, bot_repository=run.settings.bot_repository
    )
    try:
        # The same policy decision as at generation: once on the paths before any file is read,
        # once more with the contents (the guarded sections of pyproject.toml and setup.cfg).
        paths = check_fix(policy, [e.path for e in edits], root=root, diff=option["diff"])
        # `check_fix` normalised the paths; the edits must use the same spelling.
        edits = [Edit(str(Path(e.path).as_posix()), e.search, e.replace) for e in edits]
        files = _read_files(root, paths)
        applied = plan_edits(
            files, edits, approved_diff=option["diff"], approved_hash=approved["approved_hash"]
        )
        check_fix(policy, paths, root=root, diff=applied.diff, before=files, after=applied.after)
    except PolicyViolation as exc:
        raise StepFailed(Step.CHECK, str(exc)) from None
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
        raise StepFailed(
            Step.VALIDATE,
            f"validation {result.status} at {result.step}: {result.reason}",
            result.output,
            values={"validation_outcome": validation_outcome(result)},
        )
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
        sha = repo.commit(message, paths, identity=identity(run.settings), new_paths=new_paths)
    except GitError as exc:
        raise StepFailed(Step.COMMIT, str(exc)) from None
    run.step_done(Step.COMMIT, commit_sha=sha)
    return sha, result


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
    say = progress or noop
    with sessions() as session:
        proposal = get_proposal(session, fix_id)
        service = settings.service(proposal.service)
        status = breaker.breaker_status(session, service.name, settings.apply.breaker_threshold)
    if status.open:
        return ApplyReport(fix_id, False, proposal.status, failed_step="breaker", message=status.message)

    run = Run(settings, sessions, service, fix_id, say, after_step)
    with repo_lock(lock_path(settings, service), fix_id, say):
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
                raise StepFailed(
                    Step.CHECK,
                    f"the approved diff (hash {approved['approved_hash'][:12] or 'none'}) is not option "
                    f"{approved['option']}'s current diff (hash {str(option.get('content_hash'))[:12]}); "
                    "approve again",
                )
            run.repo = repo = open_repo(run)
            sha, result = push_with_retries(run, lambda: _attempt_apply(run, repo, option, approved), repo)
            # Delivery hook: in pull-request mode, open (or reuse) the fix's PR; None in push mode.
            pull = delivery.open_for_fix(
                settings, sessions, service, fix_id, sha, validation_output=result.output
            )
        except StepFailed as failure:
            return record_failure(run, failure, ProposalStatus.APPLYING, ProposalStatus.FAILED)
        except DeliveryError as exc:
            reason = f"{delivery.branch_name(fix_id)} was pushed, but no pull request was opened: {exc}"
            return record_failure(
                run, StepFailed(Step.PUSH, reason), ProposalStatus.APPLYING, ProposalStatus.FAILED
            )
        except Exception as exc:
            log.exception("apply of %s failed unexpectedly", fix_id)
            unexpected = StepFailed(
                Step(read_step(sessions, fix_id)),
                f"unexpected error: {type(exc).__name__}: {scrub(str(exc), (token(settings),))}",
            )
            return record_failure(run, unexpected, ProposalStatus.APPLYING, ProposalStatus.FAILED)

        output = result.output[-OUTPUT_LIMIT:]
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
                    "validation_outcome": validation_outcome(result),
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
        housekeeping(run)
    delivered = ProposalStatus.PR_OPEN if pull else ProposalStatus.PUSHED
    message = f"{fix_id} pushed to {service.branch} as {sha[:12]}"
    if pull:
        verb = "reused" if pull.reused else "opened"
        message = (
            f"{fix_id}: pull request #{pull.number} {verb} ({pull.url}) for {sha[:12]} into {service.branch}"
        )
    say(message)
    return ApplyReport(fix_id, True, delivered.value, commit_sha=sha, output=output, message=message)
