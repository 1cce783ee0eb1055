"""validate_worktree step by step: environment, compile, import, tests; the early import check."""

from __future__ import annotations

import sys
from pathlib import Path

import psutil

from fixes.validation import ImportCheck, default_test_command, module_name_for, validate_worktree
from tests.fixes.validation.support import judge, plan, tree

OPS = "def add(a, b):\n    return a + b\n"


def _package(root: Path) -> Path:
    return tree(
        root,
        {
            "calc/__init__.py": "",
            "calc/ops.py": OPS,
            "tests/test_ops.py": "from calc.ops import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n",
            "tests/test_other.py": "def test_other():\n    assert True\n",
        },
    )


def test_green_fix_passes(tmp_path: Path) -> None:
    """A fix that compiles, imports and keeps every test passing passes, and says where it ran."""
    root = _package(tmp_path / "r")
    result = judge(root, {"calc/ops.py": OPS + "\n# tidy\n"}, plan(root, tmp_path / "d"))
    assert (result.status, result.step, result.new_failures) == ("passed", "", ())
    assert "2 test(s) ran" in result.reason
    assert "sandbox: " in result.output


def test_syntax_error_fails_at_compile(tmp_path: Path) -> None:
    """A syntax error stops validation at the compile step, naming the file."""
    root = _package(tmp_path / "r")
    result = judge(root, {"calc/ops.py": "def add(a, b):\n    return a +\n"}, plan(root, tmp_path / "d"))
    assert (result.status, result.step) == ("failed", "compile")
    assert "calc/ops.py" in result.output


def test_import_error_fails_at_import(tmp_path: Path) -> None:
    """A module that raises on import fails the import step with the traceback."""
    root = _package(tmp_path / "r")
    result = judge(root, {"calc/ops.py": "import does_not_exist_anywhere\n"}, plan(root, tmp_path / "d"))
    assert (result.status, result.step) == ("failed", "import")
    assert "does_not_exist_anywhere" in result.output


def test_import_check_started_early_imports_the_code_written_later(tmp_path: Path) -> None:
    """A check started before the edits compiles and imports the edited code."""
    root = _package(tmp_path / "r")
    validation = plan(root, tmp_path / "d", command="true")
    with ImportCheck(root, validation.environment, validation.sandbox) as early:
        (root / "calc" / "ops.py").write_text("raise RuntimeError('written after the start')\n")
        result = validate_worktree(root, ["calc/ops.py"], validation, import_check=early)
    assert (result.passed, result.step) == (False, "import")
    assert "written after the start" in result.output


def test_import_check_closed_unused_leaves_no_process(tmp_path: Path) -> None:
    """An import check that is never used is killed on close and cannot be used afterwards."""
    root = _package(tmp_path / "r")
    validation = plan(root, tmp_path / "d")
    check = ImportCheck(root, validation.environment, validation.sandbox)
    pid = check.pid
    assert pid is not None
    assert psutil.pid_exists(pid)
    check.close()
    assert not psutil.pid_exists(pid)
    assert None is check.run([], ["calc.ops"], timeout=10).status


def test_unavailable_environment_is_an_error_never_a_pass(tmp_path: Path) -> None:
    """An interpreter that does not exist: 'validation environment unavailable: …', status error."""
    root = _package(tmp_path / "r")
    result = judge(root, {"calc/ops.py": OPS}, plan(root, tmp_path / "d", python="/nonexistent/bin/python"))
    assert (result.status, result.step, result.passed) == ("error", "environment", False)
    assert result.reason.startswith("validation environment unavailable: ")
    assert "/nonexistent/bin/python" in result.reason


def test_non_pytest_command_judged_by_exit_status(tmp_path: Path) -> None:
    """Another runner: a non-zero exit fails; a base that fails the same way is not judged a pass."""
    root = _package(tmp_path / "r")
    check = f'{sys.executable} -c "import calc.ops as o, sys; sys.exit(o.add(1, 1) != 2)"'
    validation = plan(root, tmp_path / "d", command=check)
    good = judge(root, {"calc/ops.py": OPS + "\n"}, validation)
    bad = judge(root, {"calc/ops.py": "def add(a, b):\n    return a - b\n"}, validation)
    assert ("passed", "failed") == (good.status, bad.status)
    assert ("exit status",) == bad.new_failures


def test_missing_program_is_an_error(tmp_path: Path) -> None:
    """A test command whose program does not exist did not run: error on the base, never a pass."""
    root = _package(tmp_path / "r")
    result = judge(
        root, {"calc/ops.py": OPS + "\n"}, plan(root, tmp_path / "d", command="no-such-program-xyz")
    )
    assert (result.status, result.passed) == ("error", False)
    assert "no-such-program-xyz" in result.reason + result.output


def test_default_command_only_with_tests(tmp_path: Path) -> None:
    """The default test command is the target's pytest when tests exist and empty otherwise."""
    assert default_test_command(tree(tmp_path / "a", {"app.py": "x = 1\n"})) == ""
    assert "-m pytest" in default_test_command(_package(tmp_path / "b"))


def test_module_names() -> None:
    """Paths map to importable module names; non-importable paths map to None."""
    assert module_name_for("pkg/mod.py") == "pkg.mod"
    assert module_name_for("pkg/__init__.py") == "pkg"
    assert module_name_for("src/pkg/mod.py") == "pkg.mod"
    assert None is module_name_for("scripts/my-tool.py")
    assert None is module_name_for("README.md")
