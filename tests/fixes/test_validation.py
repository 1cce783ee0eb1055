"""Tests for fixes.validation: compile, import, tests, and "only new failures count"."""

from __future__ import annotations

import sys
from pathlib import Path

import psutil
from hypothesis import given
from hypothesis import strategies as st

from fixes.validation import (
    ImportCheck,
    default_test_command,
    failures_from_pytest_output,
    module_name_for,
    run_tests,
    validate_worktree,
)

PYTEST = f"{sys.executable} -m pytest -q -p no:cacheprovider"


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _package(tmp_path: Path, *, body: str = "def add(a, b):\n    return a + b\n") -> Path:
    return _tree(
        tmp_path,
        {
            "calc/__init__.py": "",
            "calc/ops.py": body,
            "tests/test_ops.py": "from calc.ops import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n",
            "tests/test_other.py": "def test_other():\n    assert True\n",
        },
    )


def test_green_tree_passes(tmp_path: Path) -> None:
    """A tree whose code compiles, imports and passes its tests is valid."""
    root = _package(tmp_path)
    result = validate_worktree(root, ["calc/ops.py"], command=PYTEST, timeout=60)
    assert (result.passed, result.step, result.new_failures) == (True, "", ())
    assert "2 passed" in result.output


def test_syntax_error_fails_at_compile(tmp_path: Path) -> None:
    """A syntax error stops validation at the compile step, naming the file."""
    root = _package(tmp_path, body="def add(a, b):\n    return a +\n")
    result = validate_worktree(root, ["calc/ops.py"], command=PYTEST, timeout=60)
    assert (result.passed, result.step) == (False, "compile")
    assert "calc/ops.py" in result.output


def test_import_error_fails_at_import(tmp_path: Path) -> None:
    """A module that raises on import fails the import step with the traceback."""
    root = _package(tmp_path, body="import does_not_exist_anywhere\n")
    result = validate_worktree(root, ["calc/ops.py"], command=PYTEST, timeout=60)
    assert (result.passed, result.step) == (False, "import")
    assert "does_not_exist_anywhere" in result.output


def test_import_check_started_early_imports_the_code_written_later(tmp_path: Path) -> None:
    """An interpreter started before the edits imports the edited code, not what was there at start."""
    root = _package(tmp_path)
    with ImportCheck(root) as early:
        (root / "calc" / "ops.py").write_text("raise RuntimeError('written after the start')\n")
        result = validate_worktree(root, ["calc/ops.py"], command="true", timeout=60, import_check=early)
    assert (result.passed, result.step) == (False, "import")
    assert "written after the start" in result.output


def test_import_check_closed_unused_leaves_no_process(tmp_path: Path) -> None:
    """An import check that is never used is killed on close and cannot be used afterwards."""
    check = ImportCheck(_package(tmp_path))
    assert check.pid is not None
    assert psutil.pid_exists(check.pid)
    check.close()
    assert not psutil.pid_exists(check.pid)
    assert 127 == check.run([str(tmp_path)], ["calc.ops"], timeout=10)[0]


def test_failing_test_is_a_new_failure(tmp_path: Path) -> None:
    """A test broken by the change is reported by node id."""
    root = _package(tmp_path, body="def add(a, b):\n    return a - b\n")
    result = validate_worktree(root, ["calc/ops.py"], command=PYTEST, timeout=60)
    assert (
        result.passed,
        result.step,
        result.new_failures,
    ) == (False, "tests", ("tests/test_ops.py::test_add",))


def test_failure_already_on_base_does_not_count(tmp_path: Path) -> None:
    """A failure present in the baseline is not new, so validation passes."""
    root = _package(tmp_path, body="def add(a, b):\n    return a - b\n")
    baseline = run_tests(root, command=PYTEST, timeout=60).failures
    result = validate_worktree(root, ["calc/ops.py"], command=PYTEST, timeout=60, baseline_failures=baseline)
    assert frozenset({"tests/test_ops.py::test_add"}) == baseline
    assert (result.passed, result.step) == (True, "")


def test_non_pytest_command_compares_exit_status(tmp_path: Path) -> None:
    """A non-pytest command fails on a non-zero exit unless the base failed the same way."""
    root = _package(tmp_path)
    failing = f"{sys.executable} -c 'raise SystemExit(3)'"
    alone = validate_worktree(root, [], command=failing, timeout=60)
    with_base = validate_worktree(
        root, [], command=failing, timeout=60, baseline_failures=frozenset({"exit status 3"})
    )
    assert (alone.passed, alone.new_failures) == (False, ("exit status 3",))
    assert with_base.passed


def test_timeout_kills_the_command(tmp_path: Path) -> None:
    """A test command that outlives its timeout fails the tests step and says it timed out."""
    root = _package(tmp_path)
    result = validate_worktree(
        root, [], command=f"{sys.executable} -c 'import time; time.sleep(30)'", timeout=0.5
    )
    assert (result.passed, result.step) == (False, "tests")
    assert "timed out after 0.5s" in result.output


def test_default_command_only_with_tests(tmp_path: Path) -> None:
    """The default test command is pytest when tests exist and empty otherwise."""
    bare = _tree(tmp_path / "a", {"app.py": "x = 1\n"})
    with_tests = _package(tmp_path / "b")
    assert default_test_command(bare) == ""
    assert "-m pytest" in default_test_command(with_tests)


def test_missing_program_is_a_clear_failure(tmp_path: Path) -> None:
    """A test command whose program does not exist fails with the program's name."""
    root = _package(tmp_path)
    result = validate_worktree(root, [], command="no-such-program-xyz --flag", timeout=10)
    assert (result.passed, result.step) == (False, "tests")
    assert "no-such-program-xyz" in result.output


def test_module_names() -> None:
    """Paths map to importable module names; non-importable paths map to None."""
    assert module_name_for("pkg/mod.py") == "pkg.mod"
    assert module_name_for("pkg/__init__.py") == "pkg"
    assert module_name_for("src/pkg/mod.py") == "pkg.mod"
    assert None is module_name_for("scripts/my-tool.py")
    assert None is module_name_for("README.md")


_NODE = st.from_regex(r"tests/[a-z_]{1,8}\.py::test_[a-z0-9_]{1,8}(\[[a-z0-9-]{1,5}\])?", fullmatch=True)


@given(st.lists(_NODE, max_size=5), st.lists(_NODE, max_size=5), st.text(alphabet="abc :-", max_size=20))
def test_pytest_summary_parsing(failed: list[str], errors: list[str], message: str) -> None:
    """Every FAILED/ERROR summary line yields its node id, whatever message follows."""
    lines = ["collected 3 items", "..F"]
    lines += [f"FAILED {node} - {message}" for node in failed]
    lines += [f"ERROR {node}" for node in errors]
    lines.append("=== 1 failed, 2 passed in 0.1s ===")
    assert frozenset(failed) | frozenset(errors) == failures_from_pytest_output("\n".join(lines))
