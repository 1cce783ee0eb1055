"""The pure decisions of the apply pipeline: its steps, its report, commit messages, the moved-branch rule.

Nothing here does I/O; tests call these functions directly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fixes.edits import AppliedEdits, Edit, apply_edits
from fixes.errors import EditError
from fixes.validation import ValidationResult

__all__ = [
    "APPLY_STEPS",
    "REVERT_STEPS",
    "ApplyReport",
    "Step",
    "StepFailed",
    "commit_message",
    "plan_edits",
    "revert_message",
    "same_change",
    "validation_outcome",
]


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


class StepFailed(Exception):
    """A step of an apply or revert failed; the run rolls back and records `step` and `message`.

    `values` carries what the failure record must store besides the reason (a rebased diff).
    """

    def __init__(
        self, step: Step, message: str, output: str = "", *, values: Mapping[str, Any] | None = None
    ):
        super().__init__(message)
        self.step = step
        self.message = message
        self.output = output
        self.values = dict(values or {})


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


def validation_outcome(result: ValidationResult) -> str:
    """The verdict recorded in `Proposal.validation_outcome`: "passed" | "failed" | "error".

    "error" is a run that did not really happen (runner missing, interrupted, nothing collected); it
    is never a pass, and `agent learn` learns from "passed" only.
    """
    if result.passed:
        return "passed"
    return "error" if result.is_error else "failed"


def plan_edits(
    files: Mapping[str, str], edits: Sequence[Edit], *, approved_diff: str, approved_hash: str
) -> AppliedEdits:
    """Apply `edits` to `files` in memory and check the result is the approved change.

    Raises:
        StepFailed("check"): the edits no longer apply (the code changed), or they produce a
            different change than the one approved (a new approval is needed).
    """
    try:
        applied = apply_edits(files, edits)
    except EditError as exc:
        raise StepFailed(
            Step.CHECK,
            f"the code changed since this proposal: {exc}. "
            "Ask for a new proposal (regenerate) for this incident.",
        ) from None
    if applied.content_hash != approved_hash and not same_change(approved_diff, applied.diff):
        raise StepFailed(
            Step.CHECK,
            "the edits still apply on the new head of the branch, but the resulting diff differs from the "
            "approved one; review the new diff (`show`) and approve again",
            applied.diff,
            values={"diff": applied.diff, "content_hash": applied.content_hash},
        )
    return applied
