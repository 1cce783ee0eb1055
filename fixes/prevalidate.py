"""Pre-validation: apply a candidate fix in a scratch checkout at the branch head and validate it.

`ScratchCheckout` clones the service's repository (its deploy branch) into a temporary folder that
belongs to one proposal. `prevalidate` writes a candidate's files there, runs
`fixes.validation.validate_worktree` (byte-compile, imports, the configured test command) and resets
the checkout to the base commit, so the next candidate starts clean. Failures of the test command
that already happen on the base commit are measured once per (repository, commit, command) and do
not count against a fix.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from fixes.edits import AppliedEdits
from fixes.git_ops import GitRepo
from fixes.validation import ValidationResult, default_test_command, run_tests, validate_worktree

__all__ = ["PreValidation", "ScratchCheckout", "baseline_failures", "prevalidate"]

_BASELINES: dict[tuple[str, str, str], frozenset[str]] = {}
_BASELINES_LOCK = threading.Lock()


@dataclass(frozen=True)
class PreValidation:
    """`status` is "passed" or "failed"; `output` is what the validation printed."""

    status: str
    step: str
    output: str
    new_failures: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @classmethod
    def from_result(cls, result: ValidationResult) -> PreValidation:
        return cls("passed" if result.passed else "failed", result.step, result.output, result.new_failures)


class ScratchCheckout:
    """A temporary clone of `source` at `branch`; removed on exit. `path` and `base_commit` inside."""

    def __init__(self, source: str, branch: str, *, token: str = "") -> None:
        self.source = source
        self.branch = branch
        self._token = token
        self._tmp: Path | None = None
        self.repo: GitRepo | None = None
        self.path = Path()
        self.base_commit = ""

    def __enter__(self) -> ScratchCheckout:
        self._tmp = Path(tempfile.mkdtemp(prefix="fixbot-propose-"))
        try:
            self.repo = GitRepo.open_or_clone(
                self.source, self._tmp / "repo", branch=self.branch, token=self._token, askpass_dir=self._tmp
            )
        except BaseException:
            shutil.rmtree(self._tmp, ignore_errors=True)
            raise
        self.path = self.repo.path
        self.base_commit = self.repo.head()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def reset(self) -> None:
        """Back to the base commit: edits undone, untracked files (caches, new files) removed."""
        if self.repo is not None:
            self.repo.reset_hard(self.base_commit)


def baseline_failures(checkout: ScratchCheckout, *, command: str, timeout: float) -> frozenset[str]:
    """The test command's failures on the unmodified base commit (cached per repo, commit, command)."""
    effective = command or default_test_command(checkout.path)
    if not effective:
        return frozenset()
    key = (checkout.source, checkout.base_commit, effective)
    with _BASELINES_LOCK:
        if key in _BASELINES:
            return _BASELINES[key]
    checkout.reset()
    failures = run_tests(checkout.path, command=effective, timeout=timeout).failures
    checkout.reset()
    with _BASELINES_LOCK:
        _BASELINES[key] = failures
    return failures


def prevalidate(
    checkout: ScratchCheckout, applied: AppliedEdits, *, command: str, timeout: float
) -> PreValidation:
    """Write `applied.after` into the checkout, validate, and reset the checkout to its base."""
    baseline = baseline_failures(checkout, command=command, timeout=timeout)
    checkout.reset()
    try:
        for rel, text in applied.after.items():
            target = checkout.path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            # newline="" keeps the file's own line endings byte for byte.
            with target.open("w", encoding="utf-8", newline="") as handle:
                handle.write(text)
        result = validate_worktree(
            checkout.path,
            list(applied.changed_paths),
            command=command,
            timeout=timeout,
            baseline_failures=baseline or None,
        )
    finally:
        checkout.reset()
    return PreValidation.from_result(result)
