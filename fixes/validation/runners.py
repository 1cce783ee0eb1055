"""The runs of a validation, each in the target's environment and the sandbox.

- `check_code`: byte-compile the changed files and import the changed modules, in one process of the
  target's interpreter (`ImportCheck` can start it early so its start-up overlaps other work).
- `run_tests`: the test command. pytest (the command names `pytest`/`py.test`, or `-m pytest`) gets
  `--junitxml` into a throwaway folder, `-o junit_family=xunit1`, `-p no:cacheprovider` (nothing
  written into the tree), `--color=no` and `NO_COLOR`/`PY_COLORS=0`; its outcomes are read from the
  report. Any other command: its exit status is the one pseudo test `"exit status"`.
"""

from __future__ import annotations

import contextlib
import shlex
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from fixes.validation.environment import TargetEnvironment
from fixes.validation.results import TestReport, node_ids_from_junit, pytest_exit_reason, strip_ansi
from fixes.validation.sandbox import Completed, Sandbox, SandboxUnavailable, communicate

__all__ = [
    "ImportCheck",
    "default_test_command",
    "is_pytest",
    "module_name_for",
    "run_tests",
    "search_path",
]

_OUTPUT_LIMIT = 20_000
_PYTHON_PLACEHOLDER = "{python}"


def default_test_command(root: Path) -> str:
    """`{python} -m pytest -q` when the tree has tests (a tests/ folder or test_*.py files), else ""."""
    if (root / "tests").is_dir() or (root / "test").is_dir():
        return f"{_PYTHON_PLACEHOLDER} -m pytest -q"
    for pattern in ("test_*.py", "*_test.py"):
        if next(root.glob(pattern), None) is not None:
            return f"{_PYTHON_PLACEHOLDER} -m pytest -q"
    return ""


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


def search_path(root: Path) -> list[str]:
    """The tree's import roots, in front of everything installed (`src/` layout first)."""
    return [str(root / d) if d else str(root) for d in ("src", "") if (root / d).is_dir()]


def is_pytest(argv: Sequence[str]) -> bool:
    if any(Path(arg).name in {"pytest", "py.test"} for arg in argv[:1]):
        return True
    return any(argv[i] == "-m" and argv[i + 1] == "pytest" for i in range(min(len(argv) - 1, 3)))


def _tail(text: str) -> str:
    text = strip_ansi(text)
    if len(text) <= _OUTPUT_LIMIT:
        return text
    return f"[… {len(text) - _OUTPUT_LIMIT} characters cut …]\n" + text[-_OUTPUT_LIMIT:]


def command_argv(command: str, environment: TargetEnvironment) -> list[str]:
    """`command` split without a shell; `{python}` (and a leading `python`) become the target's."""
    argv = [arg.replace(_PYTHON_PLACEHOLDER, environment.python) for arg in shlex.split(command)]
    if argv and argv[0] in ("python", "python3"):
        argv[0] = environment.python
    return argv


def run_tests(
    root: Path,
    *,
    command: str,
    timeout: float,
    environment: TargetEnvironment,
    sandbox: Sandbox,
    select: Sequence[str] = (),
) -> TestReport:
    """Run the test command in `root` (only the node ids in `select`, when given: pytest only)."""
    argv = command_argv(command, environment)
    if not argv:
        return TestReport((), None, {}, "", 0.0, "no test command")
    if not environment.available:
        return TestReport(tuple(argv), None, {}, "", 0.0, environment.error)
    extra = {"PYTHONPATH": ":".join(search_path(root))}
    if not is_pytest(argv):
        done = sandbox.run(argv, cwd=root, timeout=timeout, extra_env=extra)
        return _exit_status_report(argv, done)
    with tempfile.TemporaryDirectory(prefix="fixbot-junit-") as folder:
        report = Path(folder) / "report.xml"
        full = [
            *argv,
            "-p",
            "no:cacheprovider",
            "--color=no",
            f"--junitxml={report}",
            "-o",
            "junit_family=xunit1",
            *select,
        ]
        done = sandbox.run(full, cwd=root, timeout=timeout, extra_env=extra, expose=[Path(folder)])
        output = _tail(done.output)
        if done.status is None:
            return TestReport(tuple(full), None, {}, output, done.seconds, done.error)
        reason = pytest_exit_reason(done.status)
        try:
            outcomes, collection_errors = node_ids_from_junit(report.read_bytes())
        except (OSError, ValueError) as exc:
            missing = "no JUnit report was written" if isinstance(exc, OSError) else str(exc)
            return TestReport(
                tuple(full),
                done.status,
                {},
                output,
                done.seconds,
                reason or f"{missing} (exit status {done.status})",
            )
    if collection_errors:
        reason = f"collection errors in {', '.join(collection_errors)}"
    elif not reason and not outcomes:
        reason = "no tests were collected"
    return TestReport(tuple(full), done.status, outcomes, output, done.seconds, reason)


def _exit_status_report(argv: Sequence[str], done: Completed) -> TestReport:
    output = _tail(done.output)
    if done.status is None:
        return TestReport(tuple(argv), None, {}, output, done.seconds, done.error)
    if done.status in (126, 127) or done.status < 0:
        why = f"the command could not run or was killed (exit status {done.status})"
        return TestReport(tuple(argv), done.status, {}, output, done.seconds, why)
    outcome = "passed" if done.status == 0 else "failed"
    return TestReport(tuple(argv), done.status, {"exit status": outcome}, output, done.seconds)


# Reads "<search path>\0\0<paths to compile>\0\0<modules>" from stdin. Compiles, then imports; the
# verdict is the exit status (2: compile, 1: import), given by `os._exit` once output is flushed.
_CHECK_SCRIPT = """
import importlib, os, sys
data = sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
if not data:
    os._exit(0)
path, _, rest = data.partition("\\0\\0")
files, _, modules = rest.partition("\\0\\0")
bad = 0
for rel in [f for f in files.split("\\0") if f]:
    try:
        with open(rel, "rb") as handle:
            compile(handle.read(), rel, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        bad += 1
        print(f"{rel}: {type(exc).__name__}: {exc}")
if bad:
    sys.stdout.flush()
    os._exit(2)
print("compile: ok")
sys.path[:0] = [p for p in path.split("\\0") if p]
for name in [m for m in modules.split("\\0") if m]:
    try:
        importlib.import_module(name)
    except BaseException:
        import traceback
        bad += 1
        print(f"import {name} failed:")
        traceback.print_exc(file=sys.stdout)
sys.stdout.flush()
sys.stderr.flush()
os._exit(1 if bad else 0)
"""


class ImportCheck:
    """The compile-and-import process of the target, started ahead of time; usable once.

    Start it (`with ImportCheck(root, environment, sandbox) as check:`) before slow work that does not
    need it; `run` then hands it the files and modules. Leaving the block kills its whole tree.
    """

    def __init__(
        self, root: Path, environment: TargetEnvironment | None = None, sandbox: Sandbox | None = None
    ) -> None:
        """Without an environment nothing starts: `validate_worktree` then starts its own check."""
        self.root = root
        self._error = environment.error if environment is not None else "not started"
        self._stack = contextlib.ExitStack()
        self._process: subprocess.Popen[bytes] | None = None
        if environment is not None and sandbox is not None and environment.available:
            try:
                self._process = self._stack.enter_context(
                    sandbox.start(
                        [environment.python, "-B", "-c", _CHECK_SCRIPT], cwd=root, stdin=subprocess.PIPE
                    )
                )
            except (OSError, SandboxUnavailable) as exc:
                self._error = f"could not start {environment.python!r}: {exc}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def run(self, files: Sequence[str], modules: Sequence[str], *, timeout: float) -> Completed:
        """Compile `files` and import `modules` (status 2: compile failed, 1: an import failed)."""
        process, self._process = self._process, None
        if process is None:
            return Completed(None, "", 0.0, self._error or "the import check was already used")
        request = "\0".join(search_path(self.root)) + "\0\0" + "\0".join(files) + "\0\0" + "\0".join(modules)
        done = communicate(
            process,
            request=request.encode("utf-8", "surrogateescape"),
            timeout=timeout,
            started=time.monotonic(),
        )
        return Completed(done.status, _tail(done.output), done.seconds, done.error)

    def close(self) -> None:
        self._process = None
        self._stack.close()

    def __enter__(self) -> ImportCheck:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
