"""Validate a working tree after edits: byte-compile, import, then the test command.

Each step runs with a timeout and its output is kept. "Only new failures count": the test command's
failures are compared with the failures of the base (`baseline_failures`), so a repository whose
base already fails a test can still receive a fix for something else.

- pytest commands: failures are the node ids of pytest's `FAILED <nodeid>` / `ERROR <nodeid>` summary
  lines (`-rfE` is added when the command does not choose its own `-r`).
- any other command: the exit status is the only signal; a failing run yields the single failure
  `"exit status N"`, so a base that fails the same way makes the same failure "not new".

The test command is split with `shlex.split` and run without a shell, with the tree as its working
directory, in its own process group so a timeout kills everything it started.

The import step runs in a fresh interpreter (never in the bot's process). `ImportCheck` lets a caller
start that interpreter early, so that its start-up overlaps other work (the pipeline's fetch); it
imports nothing of the tree until it is handed the modules, after the edits are written.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fixes.children import die_with_parent_prefix

__all__ = [
    "ImportCheck",
    "TestRun",
    "ValidationResult",
    "default_test_command",
    "failures_from_pytest_output",
    "module_name_for",
    "run_tests",
    "validate_worktree",
]

_OUTPUT_LIMIT = 20_000
_SUMMARY_LINE = re.compile(r"^(?:FAILED|ERROR) (\S+?)(?: - .*)?$", re.MULTILINE)


@dataclass(frozen=True)
class ValidationResult:
    """The outcome of `validate_worktree`. `step` names the failing step ("" when all passed)."""

    passed: bool
    step: str  # "compile" | "import" | "tests" | ""
    output: str
    duration_seconds: float
    new_failures: tuple[str, ...]


@dataclass(frozen=True)
class TestRun:
    """One run of the test command: its failures (see module docstring), exit status and output."""

    __test__ = False  # not a pytest test class

    command: tuple[str, ...]
    exit_code: int | None  # None: timed out
    failures: frozenset[str]
    output: str
    duration_seconds: float

    @property
    def ok(self) -> bool:
        return self.exit_code is not None and not self.failures


def default_test_command(root: Path, python: str = sys.executable) -> str:
    """`python -m pytest -q` when the tree has tests (a tests/ folder or test_*.py files), else ""."""
    if (root / "tests").is_dir() or (root / "test").is_dir():
        return f"{shlex.quote(python)} -m pytest -q -p no:cacheprovider"
    for pattern in ("test_*.py", "*_test.py"):
        if next(root.glob(pattern), None) is not None:
            return f"{shlex.quote(python)} -m pytest -q -p no:cacheprovider"
    return ""


def failures_from_pytest_output(output: str) -> frozenset[str]:
    """Node ids from pytest's short summary (`FAILED tests/x.py::test_y - msg`, `ERROR tests/x.py`)."""
    return frozenset(match.group(1) for match in _SUMMARY_LINE.finditer(output))


def module_name_for(path: str) -> str | None:
    """The importable module for a repository-relative `.py` path, or None (not importable by name).

    `pkg/mod.py` → `pkg.mod`, `pkg/__init__.py` → `pkg`, `src/pkg/mod.py` → `pkg.mod`.
    """
    if not path.endswith(".py"):
        return None
    parts = path[: -len(".py")].split("/")
    if parts and parts[0] == "src" and len(parts) > 1:
        parts = parts[1:]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if not parts or not all(part.isidentifier() for part in parts):
        return None
    return ".".join(parts)


def _is_pytest(argv: Sequence[str]) -> bool:
    return any(Path(arg).name in {"pytest", "py.test"} for arg in argv[:3])


def _start(argv: Sequence[str], *, cwd: Path, stdin: int) -> subprocess.Popen[bytes]:
    """Start `argv` in its own process group (so a timeout can kill everything it started).

    It also dies with the bot (`fixes/children.py`): a killed bot leaves no test run behind. A
    program that cannot be found is started plainly, so that Popen reports it as before.
    """
    prefix = die_with_parent_prefix() if argv and shutil.which(argv[0]) else []
    return subprocess.Popen(
        [*prefix, *argv],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=stdin,
        start_new_session=True,
    )


def _finish(
    process: subprocess.Popen[bytes], *, timeout: float, started: float, request: bytes | None = None
) -> tuple[int | None, str, float]:
    """Wait for `process` (sending `request` on its stdin); on timeout kill its group."""
    try:
        raw, _ = process.communicate(request, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raw, _ = process.communicate()
        text = raw.decode("utf-8", "replace")
        return None, _tail(text) + f"\n[timed out after {timeout:g}s; process group killed]", timeout
    return process.returncode, _tail(raw.decode("utf-8", "replace")), time.monotonic() - started


def _run(argv: Sequence[str], *, cwd: Path, timeout: float) -> tuple[int | None, str, float]:
    """Run `argv` in its own process group; on timeout kill the group. Returns (status, output, secs)."""
    started = time.monotonic()
    try:
        process = _start(argv, cwd=cwd, stdin=subprocess.DEVNULL)
    except OSError as exc:
        return 127, f"could not start {argv[0]!r}: {exc}", time.monotonic() - started
    return _finish(process, timeout=timeout, started=started)


def _tail(text: str) -> str:
    if len(text) <= _OUTPUT_LIMIT:
        return text
    return f"[… {len(text) - _OUTPUT_LIMIT} characters cut …]\n" + text[-_OUTPUT_LIMIT:]


def run_tests(root: Path, *, command: str, timeout: float) -> TestRun:
    """Run the test command in `root` and collect its failures (see the module docstring)."""
    argv = shlex.split(command)
    if not argv:
        return TestRun((), 0, frozenset(), "no test command (skipped)", 0.0)
    if _is_pytest(argv) and not any(arg.startswith("-r") for arg in argv):
        argv.append("-rfE")
    status, output, seconds = _run(argv, cwd=root, timeout=timeout)
    if status is None:
        failures = frozenset({f"timed out after {timeout:g}s"})
    elif _is_pytest(argv):
        failures = failures_from_pytest_output(output)
        # 0 passed, 1 tests failed, 5 nothing collected; anything else broke pytest itself.
        if status not in (0, 1, 5) or (status == 1 and not failures):
            failures = failures | {f"exit status {status}"}
    else:
        failures = frozenset() if status == 0 else frozenset({f"exit status {status}"})
    return TestRun(tuple(argv), status, failures, output, seconds)


# Reads "<search path entries>\\0\\0<module>\\0<module>..." from stdin; no request (the caller closed
# the pipe without one, or died) means "nothing to check". `traceback` is imported only when an import
# failed: loading it (with linecache, tokenize, re) took longer than the interpreter's own start-up.
# The verdict is the exit status, given by `os._exit` once the output is flushed: the interpreter's
# teardown (and the atexit handlers of the imported code) has nothing to add to an import check.
_IMPORT_SCRIPT = """
import importlib, os, sys
search_path, _, modules = sys.stdin.buffer.read().decode("utf-8", "surrogateescape").partition("\\0\\0")
if not modules:
    sys.exit(0)
sys.path[:0] = [p for p in search_path.split("\\0") if p]
failed = 0
for name in modules.split("\\0"):
    try:
        importlib.import_module(name)
    except BaseException:
        import traceback
        failed += 1
        print(f"import {name} failed:")
        traceback.print_exc(file=sys.stdout)
sys.stdout.flush()
sys.stderr.flush()
os._exit(1 if failed else 0)
"""


class ImportCheck:
    """A fresh interpreter for the import step, started ahead of time; usable once.

    Start it (`with ImportCheck(root) as check:`) before slow work that does not need it; `run` then
    hands it the modules to import. Leaving the block kills it if it is still waiting or running.
    """

    def __init__(self, root: Path, python: str = sys.executable) -> None:
        self.root = root
        self.python = python
        self._error = ""
        self._process: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None
        try:
            self._process = _start([python, "-B", "-c", _IMPORT_SCRIPT], cwd=root, stdin=subprocess.PIPE)
            self.pid = self._process.pid
        except OSError as exc:
            self._error = f"could not start {python!r}: {exc}"

    def run(
        self, search_path: Sequence[str], modules: Sequence[str], *, timeout: float
    ) -> tuple[int | None, str]:
        """Import `modules` with `search_path` in front of `sys.path`: (exit status or None, output)."""
        process, self._process = self._process, None
        if process is None:
            return 127, self._error or "the import check was already used"
        request = ("\0".join(search_path) + "\0\0" + "\0".join(modules)).encode("utf-8", "surrogateescape")
        status, output, _ = _finish(process, timeout=timeout, started=time.monotonic(), request=request)
        return status, output

    def close(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()

    def __enter__(self) -> ImportCheck:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _compile(root: Path, paths: Sequence[str]) -> str:
    problems: list[str] = []
    for rel in paths:
        path = root / rel
        if not rel.endswith(".py") or not path.is_file():
            continue
        try:
            compile(path.read_bytes(), rel, "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as exc:
            problems.append(f"{rel}: {type(exc).__name__}: {exc}")
    return "\n".join(problems)


def validate_worktree(
    root: Path,
    changed_paths: Sequence[str],
    *,
    command: str,
    timeout: float,
    baseline_failures: frozenset[str] | None = None,
    step_timeout: float | None = None,
    python: str = sys.executable,
    import_check: ImportCheck | None = None,
) -> ValidationResult:
    """Byte-compile and import the changed Python files, then run `command` (tests) in `root`.

    Args:
        root: the working tree (already holding the edited files).
        changed_paths: repository-relative paths the fix touched.
        command: the test command ("" = `default_test_command(root)`, which may be "" = skip tests).
        timeout: seconds for the test command.
        baseline_failures: failures of the base tree (from `run_tests`); only failures outside this set
            count. None means the base is assumed green.
        step_timeout: seconds for the import step (default `timeout`).
        python: the interpreter for the import step and the default test command.
        import_check: an interpreter started earlier for the import step (see `ImportCheck`; its own
            `python` is used); by default one is started here.

    Returns:
        `passed=False` with `step` and `output` naming what failed, or `passed=True`.
    """
    started = time.monotonic()
    outputs: list[str] = []

    def result(passed: bool, step: str, new: Sequence[str] = ()) -> ValidationResult:
        return ValidationResult(passed, step, "\n".join(outputs), time.monotonic() - started, tuple(new))

    problems = _compile(root, changed_paths)
    if problems:
        outputs.append(f"$ compile\n{problems}")
        return result(False, "compile")
    outputs.append("$ compile: ok")

    modules = sorted({m for p in changed_paths if (root / p).is_file() and (m := module_name_for(p))})
    if modules:
        search_path = [str(root / d) for d in ("src", "") if (root / d).is_dir()]
        with import_check or ImportCheck(root, python) as check:
            status, output = check.run(search_path, modules, timeout=step_timeout or timeout)
        outputs.append(f"$ import {' '.join(modules)}\n{output}".rstrip())
        if status != 0:
            return result(False, "import")

    test_command = command or default_test_command(root, python)
    if not test_command:
        outputs.append("$ tests: no test command and no tests found (skipped)")
        return result(True, "")
    run = run_tests(root, command=test_command, timeout=timeout)
    outputs.append(f"$ {shlex.join(run.command)}\n{run.output}".rstrip())
    new = sorted(run.failures - (baseline_failures or frozenset()))
    if new:
        if baseline_failures:
            outputs.append(
                f"(already failing on the base, not counted: {', '.join(sorted(baseline_failures))})"
            )
        return result(False, "tests", new)
    return result(True, "")
