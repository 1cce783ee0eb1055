"""Crash-safety bookkeeping: the per-repository apply lock and the journal of unfinished applies.

- `repo_lock` is an `fcntl` lock on `<data_dir>/worktrees/<service>.lock`: one apply (or revert, or
  reconciliation) at a time per repository, across processes. The holder's fix id is written into
  the file so a waiting caller can say whom it waits for. The kernel drops the lock when its holder
  dies, so a killed process never leaves a stale lock.
- The journal is a `RuntimeState` row `apply:<fix_id>` recording the step reached, the base commit,
  the backup folder and the local commit. It is written in short transactions as the pipeline
  advances and deleted in the same transaction as the final status, so at startup every journal row
  (and every proposal still `applying`/`reverting`) is an apply that did not finish.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from core.store.models import RuntimeState, utcnow

__all__ = ["delete_journal", "read_journal", "repo_lock", "write_journal"]

_PREFIX = "apply:"


@contextmanager
def repo_lock(path: Path, holder: str, progress: Callable[[str], None]) -> Iterator[None]:
    """Hold the exclusive lock at `path`; if another holder has it, say so through `progress` and wait."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another apply"
            progress(f"waiting for {other} to finish (one apply at a time per repository)")
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def write_journal(session: Session, fix_id: str, **fields: Any) -> dict[str, Any]:
    """Merge `fields` into the journal of `fix_id` (creating it); returns the new value."""
    row = session.get(RuntimeState, _PREFIX + fix_id)
    if row is None:
        row = RuntimeState(
            name=_PREFIX + fix_id, value={"fix_id": fix_id, "started_at": utcnow().isoformat()}
        )
        session.add(row)
    value = {**row.value, **fields}
    row.value = value
    session.flush()
    return value


def read_journal(session: Session, fix_id: str) -> dict[str, Any]:
    row = session.get(RuntimeState, _PREFIX + fix_id)
    return dict(row.value) if row is not None else {}


def delete_journal(session: Session, fix_id: str) -> None:
    row = session.get(RuntimeState, _PREFIX + fix_id)
    if row is not None:
        session.delete(row)
        session.flush()
