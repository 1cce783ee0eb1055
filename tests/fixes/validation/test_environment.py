"""The target's own environment: a bootstrap from its dependency files, cached by their hash.

The target needs its own dependency (a local project, so the test needs no index for it) and its own
package metadata (`importlib.metadata.version("metapkg")` in `__init__`) to import. The correct fix
passes and a wrong one fails, and nothing of the target is installed into the bot's environment.
Building the virtualenv installs pytest and the build backend from the package index pip is
configured with (PyPI or a mirror).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
from pathlib import Path

from fixes.validation.environment import environment_key
from tests.fixes.validation.support import judge, plan, tree

BUILD = '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'


def _target(tmp_path: Path) -> Path:
    tree(
        tmp_path / "tinydep",
        {
            "pyproject.toml": BUILD + '[project]\nname = "tinydep"\nversion = "0.1"\n',
            "tinydep/__init__.py": "def double(x):\n    return 2 * x\n",
        },
    )
    dependency = (tmp_path / "tinydep").as_uri()
    return tree(
        tmp_path / "target",
        {
            "pyproject.toml": BUILD
            + f'[project]\nname = "metapkg"\nversion = "1.2.3"\ndependencies = ["tinydep @ {dependency}"]\n',
            "metapkg/__init__.py": (
                'from importlib.metadata import version\n\n__version__ = version("metapkg")\n'
            ),
            "metapkg/calc.py": (
                "from tinydep import double\n\n\ndef quadruple(x):\n    return double(x) + x\n"
            ),
            "tests/test_calc.py": (
                "import metapkg\nfrom metapkg.calc import quadruple\n\n\n"
                "def test_version():\n    assert metapkg.__version__ == '1.2.3'\n\n\n"
                "def test_quadruple():\n    assert quadruple(2) == 8\n\n\n"
                "def test_quadruple_zero():\n    assert quadruple(0) == 0\n"
            ),
        },
    )


def test_bootstrapped_environment_validates_a_target_with_its_own_dependencies(tmp_path: Path) -> None:
    """The upstream-style fix passes, a wrong one fails; the bot's environment gains nothing; the
    environment is reused while the dependency files stay the same and rebuilt when they change."""
    root = _target(tmp_path)
    data = tmp_path / "data"
    validation = plan(root, data, python="", command="python -m pytest -q tests")
    assert validation.environment.available, validation.environment.error
    built = Path(validation.environment.python).parent.parent
    assert built.parent == data / "envs"
    assert built.name == f"target-{environment_key(root)}"

    fixed = "from tinydep import double\n\n\ndef quadruple(x):\n    return double(double(x))\n"
    wrong = "from tinydep import double\n\n\ndef quadruple(x):\n    return double(x) * 3 + 1\n"
    correct = judge(root, {"metapkg/calc.py": fixed}, validation)
    broken = judge(root, {"metapkg/calc.py": wrong}, validation)
    assert ("failed", ("tests/test_calc.py::test_quadruple_zero",)) == (broken.status, broken.new_failures)
    # The base fails test_quadruple already; the fix makes it pass and breaks nothing.
    assert "passed" == correct.status
    assert "tests/test_calc.py::test_quadruple" in correct.output

    assert importlib.util.find_spec("tinydep") is None
    assert "metapkg" not in {d.metadata["Name"] for d in importlib.metadata.distributions()}
    assert sys.prefix not in validation.environment.python

    marker = built / ".fixbot-ready"
    stamp = marker.stat().st_mtime_ns
    again = plan(root, data, python="", command="python -m pytest -q tests")
    assert (again.environment.python, stamp) == (validation.environment.python, marker.stat().st_mtime_ns)

    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "1.2.3"', 'version = "1.2.4"'))
    rebuilt = plan(root, data, python="", command="python -m pytest -q tests")
    assert rebuilt.environment.python != validation.environment.python
    assert not built.exists()  # the stale environment of this service is removed


def test_bootstrap_failure_is_environment_unavailable(tmp_path: Path) -> None:
    """A dependency that cannot be installed: 'validation environment unavailable: …', an error."""
    root = tree(
        tmp_path / "target",
        {
            "requirements.txt": f"nonexistent-dependency @ {(tmp_path / 'missing').as_uri()}\n",
            "app.py": "x = 1\n",
            "tests/test_app.py": "def test_x():\n    assert True\n",
        },
    )
    validation = plan(root, tmp_path / "data", python="")
    result = judge(root, {"app.py": "x = 2\n"}, validation)
    assert ("error", "environment") == (result.status, result.step)
    assert result.reason.startswith("validation environment unavailable: bootstrap step")
