"""Child processes (git push and fetch, validation runs) must not outlive the bot.

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

Validation runs (the target's test command, which may start its own children: pytest-xdist
workers, a server a test spawns) are the same problem one level down. The sandbox gives the run's
first process the parent-death signal and, when namespaces are available, makes it PID 1 of its own
PID namespace, so the kernel kills every descendant with it. Without namespaces (`env-only`) a
grandchild that started its own session or double-forked is reparented and lives on: every
process of a run carries `FIXBOT_RUN_OWNER=<bot pid>:<bot start time>` (inherited by descendants;
the start time keeps a new bot that reuses the dead one's pid from passing for it), and
`end_run_orphans` — called at startup before reconcile — kills those whose bot is gone. A run that
deliberately clears its environment escapes the marker; only the namespaces hold against that.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from pathlib import Path

__all__ = [
    "OWNER_ENV",
    "RUN_OWNER_ENV",
    "die_with_parent_prefix",
    "end_orphans",
    "end_run_orphans",
    "owner_tag",
    "run_owner",
]

OWNER_ENV = "FIXBOT_GIT_OWNER"
RUN_OWNER_ENV = "FIXBOT_RUN_OWNER"
_PROC = Path("/proc")


def die_with_parent_prefix() -> list[str]:
    """The argv prefix that makes the command die with the calling thread (empty when unavailable)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


def owner_tag(repo_path: Path) -> str:
    """The marker value for commands this process starts in `repo_path`."""
    return f"{repo_path.resolve()}:{os.getpid()}"


def run_owner() -> str:
    """The marker value for validation runs this process starts: its pid and its start time."""
    pid = os.getpid()
    return f"{pid}:{_start_time(pid)}"


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (`/proc/<pid>/stat` field 22); "" if gone."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return ""
    # The command name (field 2) is in parentheses and may hold spaces; count after its last ")".
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else ""


def _owner_of(pid: int, variable: str = OWNER_ENV) -> str | None:
    try:
        environ = (_PROC / str(pid) / "environ").read_bytes()
    except OSError:  # gone, or not ours to read
        return None
    prefix = f"{variable}=".encode()
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
    return _kill_all(_orphans(repo_path), timeout)


def _run_owner_alive(owner: str) -> bool:
    pid, _, started = owner.partition(":")
    if not pid.isdigit():
        return False
    if not started:  # written where /proc was not readable: the pid alone has to do
        return _alive(int(pid))
    return _start_time(int(pid)) == started


def end_run_orphans(*, timeout: float = 10.0) -> list[int]:
    """Kill every process of a validation run whose bot is no longer running; their pids.

    Runs of a live bot (this one, or another on the same machine) are left alone. Returns once the
    killed processes are gone (or `timeout` passed).
    """
    found = []
    for entry in _PROC.iterdir() if _PROC.is_dir() else ():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        owner = _owner_of(int(entry.name), RUN_OWNER_ENV)
        if owner is not None and not _run_owner_alive(owner):
            found.append(int(entry.name))
    return _kill_all(found, timeout)


def _kill_all(pids: list[int], timeout: float) -> list[int]:
    started = {pid: _start_time(pid) for pid in pids}
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    # SIGKILL is asynchronous. A dying process stops showing its environment before it has exited,
    # so "gone" is: reaped, a zombie, or its pid now another process's (a different start time).
    while any(_still_running(pid, started[pid]) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pids


def _still_running(pid: int, started: str) -> bool:
    try:
        status = (_PROC / str(pid) / "status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status and _start_time(pid) == started
