"""A corpus of real test-suite shapes: each with a correct patch (must pass) and a breaking patch (must
fail, naming the right test ids), or, where nothing can be judged, an error that is never a pass.

Two suites are real projects' own (vendored sdists, see sdists/README.md): inflection's 455
parametrized tests (ids with spaces and brackets) and toposort's unittest-style tests (`src/` layout,
importable only through the validation's own search path). The rest are the shapes that broke
validation before: non-ASCII ids, colour forced on by the project, a base failure, collection errors,
nothing collected, no pytest in the target's environment, a timeout, deleted and skipped tests,
edits to the test configuration, a flaky base failure.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from _pytest.compat import ascii_escaped

from fixes.validation import ValidationResult
from tests.fixes.validation.support import judge, plan, tree, unpack

OPS = "def add(a, b):\n    return a + b\n"
BROKEN_OPS = "def add(a, b):\n    return a - b\n"
TEST_OPS = "from calc.ops import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n"


def _calc(root: Path, extra: dict[str, str] | None = None) -> Path:
    files = {
        "calc/__init__.py": "",
        "calc/ops.py": OPS,
        "tests/test_ops.py": TEST_OPS,
        "tests/test_other.py": "def test_other():\n    assert True\n",
    }
    return tree(root, {**files, **(extra or {})})


def _correct_and_breaking(root: Path, data: Path) -> tuple[ValidationResult, ValidationResult]:
    """The calc tree judged with a harmless patch (must pass) and `a - b` (must fail)."""
    validation = plan(root, data)
    correct = judge(root, {"calc/ops.py": OPS + "\n"}, validation)
    breaking = judge(root, {"calc/ops.py": BROKEN_OPS}, validation)
    assert (correct.status, breaking.status) == ("passed", "failed")
    return correct, breaking


def test_inflection_ids_with_spaces_brackets_and_non_ascii(tmp_path: Path) -> None:
    """Real suite: breaking titleize fails `…[action web service-Action Web Service]` and the
    non-ASCII `…[ana índia-Ana Índia]` (as pytest escapes it), named exactly; a harmless patch passes."""
    root = unpack("inflection-0.5.1", tmp_path)
    command = "python -m pytest -q test_inflection.py -k 'titleize or pluralize'"
    validation = plan(root, tmp_path / "d", command=command)
    module = (root / "inflection" / "__init__.py").read_text("utf-8")
    harmless = module.replace("def titleize(", "# Title case, apostrophes kept lower.\ndef titleize(")
    breaking = module.replace("match.group(1).capitalize()", "match.group(1).lower()")
    correct = judge(root, {"inflection/__init__.py": harmless}, validation)
    broken = judge(root, {"inflection/__init__.py": breaking}, validation)
    assert (correct.status, broken.status) == ("passed", "failed")
    assert "test_inflection.py::test_titleize[action web service-Action Web Service]" in broken.new_failures
    assert f"test_inflection.py::test_titleize[{ascii_escaped('ana índia-Ana Índia')}]" in broken.new_failures
    assert all(node.startswith("test_inflection.py::test_titleize[") for node in broken.new_failures)


def test_toposort_with_its_own_unittest_runner(tmp_path: Path) -> None:
    """Real unittest suite run the project's way (`python -m test.test_toposort`, judged by exit
    status) passes or fails truthfully; run by pytest, its module-level `unittest.main()` is an
    internal error of pytest on the base: an error, never a pass."""
    root = unpack("toposort-1.10", tmp_path)
    source = (root / "src" / "toposort.py").read_text("utf-8")
    correct = {"src/toposort.py": source.replace("# Find all items", "# Find every item")}
    breaking = {"src/toposort.py": source.replace("if e != item", "if e == item")}
    own = plan(root, tmp_path / "d", command="python -m test.test_toposort")
    results = [judge(root, correct, own), judge(root, breaking, own)]
    assert ["passed", "failed"] == [r.status for r in results]
    assert ("exit status",) == results[1].new_failures
    by_pytest = judge(root, correct, plan(root, tmp_path / "d", command="python -m pytest -q test"))
    assert ("error", False) == (by_pytest.status, by_pytest.passed)
    assert "internal error" in by_pytest.reason


def test_unittest_style_tests_under_pytest(tmp_path: Path) -> None:
    """unittest.TestCase methods are named `file::Class::method`."""
    unit = (
        "import unittest\n\nfrom calc.ops import add\n\n\nclass TestAdd(unittest.TestCase):\n"
        "    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n"
    )
    root = _calc(tmp_path / "r", {"tests/test_unit.py": unit})
    _correct, breaking = _correct_and_breaking(root, tmp_path / "d")
    assert ("tests/test_ops.py::test_add", "tests/test_unit.py::TestAdd::test_add") == breaking.new_failures


def test_non_ascii_and_bracket_ids(tmp_path: Path) -> None:
    """Parametrized ids in any script, with brackets and spaces, are named exactly."""
    suite = (
        "import pytest\nfrom calc.ops import add\n\n\n"
        "@pytest.mark.parametrize('a, b, total', [(1, 1, 2), (2, 3, 5)], ids=['größe [x] ü', '日本 語'])\n"
        "def test_sum(a, b, total):\n    assert add(a, b) == total\n"
    )
    root = _calc(tmp_path / "r", {"tests/test_names.py": suite})
    _correct, breaking = _correct_and_breaking(root, tmp_path / "d")
    # pytest's own node ids escape non-ASCII ids (unless a project opts out); these are pytest's.
    assert {
        f"tests/test_names.py::test_sum[{ascii_escaped('größe [x] ü')}]",
        f"tests/test_names.py::test_sum[{ascii_escaped('日本 語')}]",
        "tests/test_ops.py::test_add",
    } == set(breaking.new_failures)


def test_colour_forced_on_by_the_project(tmp_path: Path) -> None:
    """`addopts = --color=yes` cannot hide failures or put escape codes in what is shown."""
    config = "[tool.pytest.ini_options]\naddopts = '--color=yes'\n"
    root = _calc(tmp_path / "r", {"pyproject.toml": config})
    _correct, breaking = _correct_and_breaking(root, tmp_path / "d")
    assert ("tests/test_ops.py::test_add",) == breaking.new_failures
    assert "\x1b" not in breaking.output + breaking.reason
    assert "test_add" in breaking.output


def test_test_already_failing_on_the_base(tmp_path: Path) -> None:
    """A base failure does not fail a fix; a new failure beside it does, and only it is named."""
    root = _calc(tmp_path / "r", {"tests/test_old.py": "def test_old():\n    assert False\n"})
    correct, breaking = _correct_and_breaking(root, tmp_path / "d")
    assert ("tests/test_ops.py::test_add",) == breaking.new_failures
    assert "not counted: tests/test_old.py::test_old" in correct.output


def test_flaky_base_failure_is_named(tmp_path: Path) -> None:
    """A base failure that passes on a rerun is reported as flaky, by name."""
    flaky = (
        "from pathlib import Path\n\n\ndef test_sometimes():\n"
        "    marker = Path('.ran-once')\n    first = not marker.exists()\n    marker.touch()\n"
        "    assert not first\n"
    )
    root = _calc(tmp_path / "r", {"tests/test_flaky.py": flaky})
    result = judge(root, {"calc/ops.py": OPS + "\n"}, plan(root, tmp_path / "d"))
    assert ("passed", ("tests/test_flaky.py::test_sometimes",)) == (result.status, result.flaky)
    assert "flaky on the base" in result.output


def test_collection_error(tmp_path: Path) -> None:
    """A fix that makes a test module uncollectable fails, naming it; a base that cannot collect is
    an error."""
    root = _calc(tmp_path / "r")
    validation = plan(root, tmp_path / "d")
    correct = judge(root, {"calc/ops.py": OPS + "\n"}, validation)
    breaking = judge(root, {"calc/ops.py": "def plus(a, b):\n    return a + b\n"}, validation)
    assert (correct.status, breaking.status) == ("passed", "failed")
    assert "tests/test_ops.py" in breaking.reason
    broken_base = _calc(tmp_path / "b", {"tests/test_bad.py": "import no_such_module_here\n"})
    result = judge(broken_base, {"calc/ops.py": OPS + "\n"}, plan(broken_base, tmp_path / "d"))
    assert ("error", False) == (result.status, result.passed)
    assert "tests/test_bad.py" in result.reason


def test_no_tests_collected_is_an_error(tmp_path: Path) -> None:
    """pytest's exit status 5 (nothing collected) is never 'no new failures'."""
    root = tree(tmp_path / "r", {"calc/__init__.py": "", "calc/ops.py": OPS, "tests/helpers.py": "x = 1\n"})
    validation = plan(root, tmp_path / "d", command="python -m pytest -q tests")
    for patch in (OPS + "\n", BROKEN_OPS):
        result = judge(root, {"calc/ops.py": patch}, validation)
        assert ("error", False) == (result.status, result.passed)
        assert "no tests were collected" in result.reason


def test_pytest_missing_in_the_target_environment(tmp_path: Path) -> None:
    """A target interpreter without pytest: 'No module named pytest' is an error, never a pass."""
    venv = tmp_path / "bare-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    root = _calc(tmp_path / "r")
    validation = plan(root, tmp_path / "d", python=str(venv / "bin" / "python"))
    for patch in (OPS + "\n", BROKEN_OPS):
        result = judge(root, {"calc/ops.py": patch}, validation)
        assert ("error", False) == (result.status, result.passed)
        assert "no JUnit report" in result.reason
        assert "No module named pytest" in result.output


def test_suite_slower_than_the_timeout(tmp_path: Path) -> None:
    """A fix that makes a test hang fails as a timeout; a base slower than the timeout is an error."""
    slow = "import time\n\n\ndef test_slow():\n    time.sleep(600)\n"
    root = _calc(tmp_path / "r")
    validation = plan(root, tmp_path / "d", validation_timeout_seconds=40)
    breaking = judge(root, {"tests/test_slow.py": slow}, validation)
    assert ("failed", False) == (breaking.status, breaking.passed)
    assert "timed out after 40s" in breaking.reason
    slow_base = _calc(tmp_path / "b", {"tests/test_slow.py": slow})
    result = judge(
        slow_base, {"calc/ops.py": OPS + "\n"}, plan(slow_base, tmp_path / "d", validation_timeout_seconds=40)
    )
    assert ("error", "timed out after 40s") == (result.status, result.reason.rsplit(": ", 1)[-1])


@pytest.mark.parametrize(
    "patch",
    [
        {"tests/test_ops.py": None},
        {"tests/test_ops.py": "import pytest\n\n\n@pytest.mark.skip\n" + TEST_OPS.split("\n\n\n", 1)[1]},
        {"tests/test_ops.py": TEST_OPS.replace("def test_add", "def check_add")},
    ],
    ids=["deleted", "skipped", "renamed away"],
)
def test_a_test_made_to_vanish_fails(tmp_path: Path, patch: dict[str, str | None]) -> None:
    """Deleting, skipping or un-naming the failing test is not a fix: the vanished id is named."""
    root = _calc(tmp_path / "r")
    patch = {"calc/ops.py": BROKEN_OPS, **patch}
    result = judge(root, patch, plan(root, tmp_path / "d"))
    assert ("failed", ("tests/test_ops.py::test_add",)) == (result.status, result.disappeared)


@pytest.mark.parametrize(
    "config",
    [
        {"tests/conftest.py": "collect_ignore = ['test_ops.py']\n"},
        {"pyproject.toml": "[tool.pytest.ini_options]\naddopts = '-k \"not test_add\"'\n"},
        {"pytest.ini": "[pytest]\naddopts = --deselect tests/test_ops.py::test_add\n"},
    ],
    ids=["conftest", "pyproject", "pytest.ini"],
)
def test_editing_the_test_configuration_is_refused(tmp_path: Path, config: dict[str, str]) -> None:
    """Test-config edits fail unless allowed; allowed, the deselected test still counts as vanished."""
    root = _calc(tmp_path / "r", {"pyproject.toml": "[project]\nname = 'calc'\n"})
    patch = {"calc/ops.py": BROKEN_OPS, **config}
    if "pyproject.toml" in config:
        patch["pyproject.toml"] = "[project]\nname = 'calc'\n\n" + config["pyproject.toml"]
    refused = judge(root, patch, plan(root, tmp_path / "d"))
    allowed = judge(root, patch, plan(root, tmp_path / "d", allow_test_config_edits=True))
    assert ("failed", "test-config") == (refused.status, refused.step)
    assert ("failed", ("tests/test_ops.py::test_add",)) == (allowed.status, allowed.disappeared)


def test_pyproject_edit_outside_pytest_section_is_not_test_config(tmp_path: Path) -> None:
    """Only pytest's own section of pyproject.toml counts as test configuration."""
    root = _calc(tmp_path / "r", {"pyproject.toml": "[project]\nname = 'calc'\n"})
    patch = {"pyproject.toml": "[project]\nname = 'calc'\ndescription = 'adds'\n"}
    assert "passed" == judge(root, patch, plan(root, tmp_path / "d")).status
