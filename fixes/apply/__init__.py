"""The apply pipeline: an approved fix becomes one validated commit on the deploy branch, or nothing.

One module per room, read in this order:

- `plan`: the pure decisions (steps, the report, commit messages, the moved-branch rule);
- `apply`: `run_apply`, prepare -> fetch -> check -> backup -> apply -> validate -> commit -> push -> record;
- `revert`: `run_revert`, the same for `git revert` of a pushed fix;
- `reconcile`: `reconcile_unfinished`, crash recovery at startup;
- `steps`: what those share (one run's state, fetch, push with retries, rollback, the failure record);
- `backup`, `journal`, `breaker`: the byte copies, the crash journal and repository lock, the circuit
  breaker.

The edge modules own their transactions (short ones, one per state change); Slack and the CLI call
`run_apply`, `run_revert` and `reconcile_unfinished` and get an `ApplyReport`.
"""

from fixes.apply.apply import run_apply
from fixes.apply.plan import (
    APPLY_STEPS,
    REVERT_STEPS,
    ApplyReport,
    Step,
    commit_message,
    plan_edits,
    revert_message,
    same_change,
)
from fixes.apply.reconcile import reconcile_unfinished
from fixes.apply.revert import run_revert

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
