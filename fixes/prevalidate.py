"""Pre-validation: apply a candidate fix in a scratch checkout at the branch head and validate it.

`ScratchCheckout` clones the service's repository (its deploy branch) into a temporary folder that
belongs to one proposal. `prevalidate` writes a candidate's files there, runs
`fixes.validation.validate_worktree` (compile, imports, the test command: in the target's own
environment, sandboxed) and resets the checkout to the base commit, so the next candidate starts
clean. The base's own test run (and which of its failures are flaky) is measured once per (commit,
command, interpreter) and each fix is judged against it.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from fixes.edits import AppliedEdits
from fixes.git_ops import GitRepo
from fixes.validation import (
    ValidationPlan,
    ValidationResult,
    baseline_report,
    is_test_path,
    prove,
    validate_worktree,
)

__all__ = ["PreValidation", "ScratchCheckout", "prevalidate"]


@dataclass(frozen=True)
class PreValidation:
    """`status` is "passed", "failed" or "error" (could not judge); `output` is what was printed."""

    status: str
    step: str
    output: str
    new_failures: tuple[str, ...] = ()
    reason: str = ""
    proof: str = ""  # "proven: …" | "not proven: <why>" (see `fixes.validation.prove`)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @classmethod
    def from_result(cls, result: ValidationResult, proof: str = "") -> PreValidation:
        status = result.status or ("passed" if result.passed else "failed")
        return cls(status, result.step, result.output, result.new_failures, result.reason, proof)


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


def prevalidate(checkout: ScratchCheckout, applied: AppliedEdits, *, plan: ValidationPlan) -> PreValidation:
    """Write `applied.after` into the checkout, validate against the base, reset the checkout."""
    checkout.reset()
    try:
        _write(checkout.path, dict(applied.after))
        result = validate_worktree(
            checkout.path,
            list(applied.changed_paths),
            plan,
            # Called after the fix's own run; the base run resets the tree first (cached per commit).
            baseline=lambda: baseline_report(
                checkout.path, plan, key=checkout.base_commit, prepare=checkout.reset
            ),
            originals={p: applied.before.get(p) for p in applied.changed_paths},
        )
        proof = ""
        if result.passed:

            def to_base_with_tests() -> None:
                checkout.reset()
                _write(checkout.path, {p: t for p, t in applied.after.items() if is_test_path(p)})

            proof = prove(
                checkout.path,
                plan,
                result,
                changed_paths=applied.changed_paths,
                to_base_with_tests=to_base_with_tests,
            )
    finally:
        checkout.reset()
    return PreValidation.from_result(result, proof)


def _write(root: Path, contents: dict[str, str]) -> None:
    for rel, text in contents.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        # newline="" keeps the file's own line endings byte for byte.
        with target.open("w", encoding="utf-8", newline="") as handle:
            handle.write(text)
