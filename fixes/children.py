"""Child processes (git push and fetch) must not outlive the bot.

Two mechanisms, because neither alone is enough:

- **Die with the parent.** Long git commands start under `setpriv --pdeathsig KILL` (util-linux;
  Linux), so the kernel kills git when the thread that started it dies — a killed bot takes its
  `git push` with it. (`preexec_fn` could do the same without setpriv, but it is not safe in a
  threaded process.) Where setpriv is missing the command runs plainly and only the sweep applies.
- **A sweep at startup.** git's own children (`git-receive-pack` for a local remote, with its
  hooks; `git-remote-https`) are not covered by the parent-death signal. Every process started for
  a repository carries `FIXBOT_GIT_OWNER=<repository path>:<bot pid>` in its environment, inherited
  by all its descendants; `end_orphans` kills those whose bot is no longer alive, before reconcile
  reads the remote, so a push cannot land after reconcile has decided it did not happen.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from pathlib import Path

__all__ = ["OWNER_ENV", "die_with_parent_prefix", "end_orphans", "owner_tag"]

OWNER_ENV = "FIXBOT_GIT_OWNER"
_PROC = Path("/proc")


def die_with_parent_prefix() -> list[str]:
    """The argv prefix that makes the command die with the calling thread (empty when unavailable)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


def owner_tag(repo_path: Path) -> str:
    """The marker value for commands this process starts in `repo_path`."""
    return f"{repo_path.resolve()}:{os.getpid()}"


def _owner_of(pid: int) -> str | None:
    try:
        environ = (_PROC / str(pid) / "environ").read_bytes()
    except OSError:  # gone, or not ours to read
        return None
    prefix = f"{OWNER_ENV}=".encode()
    for entry in environ.split(b"\0"):
        if entry.startswith(prefix):
            return entry[len(prefix) :].decode("utf-8", "replace")
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _orphans(repo_path: Path) -> list[int]:
    wanted = f"{repo_path.resolve()}:"
    found = []
    for entry in _PROC.iterdir() if _PROC.is_dir() else ():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        owner = _owner_of(int(entry.name))
        if owner is None or not owner.startswith(wanted):
            continue
        bot = owner[len(wanted) :]
        # Children of a live bot (this one, or another process working on the same clone under the
        # repository lock) are not orphans.
        if bot.isdigit() and (int(bot) == os.getpid() or _alive(int(bot))):
            continue
        found.append(int(entry.name))
    return found


def end_orphans(repo_path: Path, *, timeout: float = 10.0) -> list[int]:
    """Kill every process a dead bot started in `repo_path` (and their descendants); their pids.

    Returns once they are gone (or `timeout` passed): the caller reads the remote next.
    """
    killed = _orphans(repo_path)
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while any(_alive(pid) and _owner_of(pid) is not None for pid in killed) and time.monotonic() < deadline:
        time.sleep(0.05)  # SIGKILL is asynchronous; the kernel reaps them within milliseconds
    return killed
