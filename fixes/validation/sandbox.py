"""Run model-changed repository code where no secret of the bot can be reached.

Levels, strongest first (`probe` finds which works here, once per process):

- `namespaces+no-network`: `unshare` puts the run in new user (when not root), PID, mount and network
  namespaces. Only the run's own processes are visible (`/proc` is remounted), so `/proc/<pid>/environ`
  and the memory of the bot and its parents cannot be opened; the data dir (database, clones,
  backups, journals) and an SQLite database file are covered by an empty tmpfs (the worktree and the
  target's environment, when they live there, are bound back); the only network interface is a
  loopback that is down, so every connection fails.
- `env-only`: no namespaces (a container without user namespaces and without root). The run gets the
  allow-listed environment, resource limits and a tree kill, and the bot marks itself non-dumpable
  (`PR_SET_DUMPABLE` 0), so a process of the same non-root user cannot read its `/proc/<pid>/environ`
  or memory. Files the bot's user can read stay readable, and the network is open.

Every level: the environment is built from an allow-list (PATH, a throwaway HOME, locale, what the
service declares), never copied from the bot; rlimits (CPU seconds, address space, file size, process
count); its own session, killed as a whole on timeout; `PR_SET_PDEATHSIG` on its first process, and the
`FIXBOT_RUN_OWNER` marker on all of them, so that what outlives a killed bot (a grandchild that left
the session, without namespaces) is ended by the startup sweep (`fixes.children.end_run_orphans`).

`sandbox = "strict"` refuses to run below `namespaces+no-network`; `"off"` skips the namespaces (the
environment allow-list and the limits stay: they cost nothing).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fixes.children import RUN_OWNER_ENV, run_owner

__all__ = [
    "ENV_ONLY",
    "ISOLATED",
    "Completed",
    "Sandbox",
    "SandboxUnavailable",
    "isolation_level",
    "probe",
]

ISOLATED = "namespaces+no-network"
ENV_ONLY = "env-only"

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_LOCALE = ("LANG", "LC_ALL", "LC_CTYPE", "TZ")
_SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"

# Runs inside the namespaces as their root: bind the paths the run needs to a staging folder, cover
# every hidden path with an empty tmpfs (or /dev/null for a file), bind the needed ones back, exec.
# Arguments: STAGE, then "expose" paths, "--", "hide" paths, "--", the command.
_STAGE2 = r"""
set -eu
stage=$1; shift
i=0; exposed=""
while [ "$1" != "--" ]; do mkdir -p "$stage/x$i"; mount --rbind "$1" "$stage/x$i"; exposed="$exposed$1
"; i=$((i+1)); shift; done
shift
while [ "$1" != "--" ]; do
  if [ -d "$1" ]; then mount -t tmpfs -o size=1m,mode=755 fixbot-hidden "$1"
  elif [ -e "$1" ]; then mount --bind /dev/null "$1"; fi
  shift
done
shift
i=0
printf '%s' "$exposed" | while IFS= read -r path; do
  mkdir -p "$path"; mount --rbind "$stage/x$i" "$path"; i=$((i+1))
done
ip link set lo up 2>/dev/null || true
exec "$@"
"""


class SandboxUnavailable(Exception):
    """`sandbox = "strict"` and the isolation it requires is not available here."""


@dataclass(frozen=True)
class Completed:
    """A finished sandboxed run: exit status (None = timed out or never started) and output."""

    status: int | None
    output: str
    seconds: float
    error: str = ""  # why it did not run or did not finish ("" when it exited by itself)


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int = 1800
    memory_bytes: int = 4 << 30
    file_bytes: int = 1 << 30
    processes: int = 4096


_PROBE_LOCK = threading.Lock()
_PROBED: list[tuple[str, tuple[str, ...], str]] = []


def _namespace_prefix(user: bool) -> list[str]:
    prefix = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "--mount", "--net"]
    if user:
        prefix[1:1] = ["--user", "--map-root-user"]
    return prefix


def probe() -> tuple[str, tuple[str, ...], str]:
    """The strongest isolation that works here: (level, command prefix, why not stronger)."""
    with _PROBE_LOCK:
        if not _PROBED:
            _PROBED.append(_probe_once())
        return _PROBED[0]


def _probe_once() -> tuple[str, tuple[str, ...], str]:
    why = "unshare is not installed"
    if shutil.which("unshare") and shutil.which("mount"):
        candidates = [True] if os.geteuid() != 0 else [False, True]
        for user in candidates:
            prefix = _namespace_prefix(user)
            try:
                done = subprocess.run(
                    [*prefix, "sh", "-c", "mount -t tmpfs none /mnt && cat /proc/1/cmdline >/dev/null"],
                    capture_output=True,
                    timeout=20,
                    env={"PATH": _SAFE_PATH},
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                why = f"unshare failed: {exc}"
                continue
            if done.returncode == 0:
                return ISOLATED, tuple(prefix), ""
            why = "unshare failed: " + done.stderr.decode("utf-8", "replace").strip()[:200]
    return ENV_ONLY, (), why


def isolation_level(mode: str) -> str:
    """What `/health` and `agent status` show: `sandbox: <level>` plus why when weaker than asked."""
    if mode == "off":
        return f"{ENV_ONLY} (sandbox = off)"
    level, _, why = probe()
    if level == ISOLATED:
        return level
    note = "validation refused (sandbox = strict)" if mode == "strict" else "no namespaces here"
    return f"{level} ({note}: {why})"


def _protect_bot() -> None:
    """Make the bot's own /proc/<pid>/environ and memory unreadable by same-user processes."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


@dataclass(frozen=True)
class Sandbox:
    """How to run untrusted code: the mode, paths to hide, variables the service declares, limits."""

    mode: str = "auto"  # "auto" | "strict" | "off"
    hide: tuple[Path, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    expose: tuple[Path, ...] = ()  # needed by every run although under a hidden path (the venv)
    locale: Mapping[str, str] = field(default_factory=dict)  # the host's LANG, LC_*, TZ

    def level(self) -> str:
        if self.mode == "off":
            return ENV_ONLY
        return probe()[0]

    def check(self) -> None:
        """Raise `SandboxUnavailable` when `strict` asks for isolation this machine cannot give."""
        if self.mode == "strict" and probe()[0] != ISOLATED:
            raise SandboxUnavailable(
                f"sandbox = strict and the isolation is not available here: {isolation_level('strict')}"
            )

    def environment(self, home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The allow-listed environment of a run: never a copy of the bot's."""
        env = {key: value for key, value in self.locale.items() if key in _LOCALE}
        env.setdefault("LANG", "C.UTF-8")
        env.update(
            PATH=_SAFE_PATH,
            HOME=str(home),
            TMPDIR=str(home),
            PYTHONDONTWRITEBYTECODE="1",
            PYTHONUTF8="1",
            NO_COLOR="1",
            PY_COLORS="0",
            PIP_DISABLE_PIP_VERSION_CHECK="1",
        )
        env.update(self.env)
        env.update(extra or {})
        return env

    @contextlib.contextmanager
    def start(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        expose: Sequence[Path] = (),
        extra_env: Mapping[str, str] | None = None,
        stdin: int = subprocess.DEVNULL,
        network: bool = False,
        limits: bool = True,
    ) -> Iterator[subprocess.Popen[bytes]]:
        """Start `argv` sandboxed; the process (and its whole tree) is killed when the block ends."""
        self.check()
        _protect_bot()
        home = Path(tempfile.mkdtemp(prefix="fixbot-sandbox-"))
        try:
            command = list(argv)
            if self.mode != "off" and probe()[0] == ISOLATED:
                prefix = list(probe()[1])
                if network:
                    prefix.remove("--net")
                stage = home / ".stage"
                stage.mkdir()
                hidden = [str(p) for p in self.hide if p.exists()]
                shown = [str(p) for p in (cwd, *expose, *self.expose, home) if _under_any(p, self.hide)]
                command = [
                    *prefix,
                    "sh",
                    "-c",
                    _STAGE2,
                    "fixbot-sandbox",
                    str(stage),
                    *shown,
                    "--",
                    *hidden,
                    "--",
                    *command,
                ]
            # The marker lets the startup sweep find descendants a killed bot left (fixes/children.py).
            env = {**self.environment(home, extra_env), RUN_OWNER_ENV: run_owner()}
            process = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_child_setup(self.limits if limits else None),  # noqa: PLW1509 - rlimits and PDEATHSIG must be set in the child before exec
            )
            try:
                yield process
            finally:
                _kill_tree(process)
        finally:
            shutil.rmtree(home, ignore_errors=True)

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        timeout: float,
        expose: Sequence[Path] = (),
        extra_env: Mapping[str, str] | None = None,
        request: bytes | None = None,
        network: bool = False,
        limits: bool = True,
    ) -> Completed:
        """Run `argv` sandboxed with a timeout that kills the whole tree; output merged, decoded."""
        started = time.monotonic()
        try:
            with self.start(
                argv,
                cwd=cwd,
                expose=expose,
                extra_env=extra_env,
                stdin=subprocess.PIPE if request is not None else subprocess.DEVNULL,
                network=network,
                limits=limits,
            ) as process:
                return communicate(process, request=request, timeout=timeout, started=started)
        except OSError as exc:
            return Completed(None, "", time.monotonic() - started, f"could not start {argv[0]!r}: {exc}")


def communicate(
    process: subprocess.Popen[bytes], *, request: bytes | None, timeout: float, started: float
) -> Completed:
    """Wait for a started process; on timeout kill its session and say so."""
    try:
        raw, _ = process.communicate(request, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_tree(process)
        raw, _ = process.communicate()
        text = raw.decode("utf-8", "replace")
        return Completed(None, text, time.monotonic() - started, f"timed out after {timeout:g}s")
    return Completed(process.returncode, raw.decode("utf-8", "replace"), time.monotonic() - started)


def _under_any(path: Path, roots: Sequence[Path]) -> bool:
    resolved = path.resolve()
    return any(resolved == r.resolve() or resolved.is_relative_to(r.resolve()) for r in roots)


def _kill_tree(process: subprocess.Popen[bytes]) -> None:
    # The run is its own session (and, with namespaces, PID 1 of its own PID namespace: killing
    # it kills every process in it); killpg also reaches children that left the namespace's reach.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        process.wait(timeout=10)


def _child_setup(limits: Limits | None) -> Callable[[], None]:
    parent = os.getpid()

    def setup() -> None:
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the bot died between fork and prctl
            os._exit(137)
        if limits is None:
            return
        for kind, value in (
            (resource.RLIMIT_CPU, limits.cpu_seconds),
            (resource.RLIMIT_AS, limits.memory_bytes),
            (resource.RLIMIT_FSIZE, limits.file_bytes),
            (resource.RLIMIT_NPROC, limits.processes),
        ):
            with contextlib.suppress(ValueError, OSError):
                _soft, hard = resource.getrlimit(kind)
                cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
                resource.setrlimit(kind, (cap, cap))

    return setup


if sys.platform != "linux":  # pragma: no cover - the bot runs on Linux (Railway, CI)
    _namespace_prefix = lambda user: []  # noqa: E731
