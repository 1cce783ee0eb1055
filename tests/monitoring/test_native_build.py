"""The compiled scanner: the install really compiled it, and an edited source never runs as its
older compiled form (the modules load from source, all of them, with a warning)."""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from monitoring.native import MANIFEST, compiled_modules

PURE = os.environ.get("AGENT_PURE_PYTHON") == "1"
ROOT = Path(__file__).resolve().parents[2]
GROUP_LIBRARY = "fixbot_scanner__mypyc"


def _compiled(path: str) -> bool:
    return path.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def test_the_scanner_runs_the_code_the_install_compiled() -> None:
    recorded = compiled_modules()
    if not recorded and not PURE:
        pytest.fail(
            f"{MANIFEST} is missing: the install compiled nothing (`pip install -e .` needs a C "
            "compiler; AGENT_PURE_PYTHON=1 builds and runs without one, slower)"
        )
    assert {"monitoring.events", "monitoring.detect", "monitoring.pipeline", "monitoring.templates"} <= set(
        recorded
    ) or PURE
    for name in recorded:
        module = importlib.import_module(name)
        assert module.__file__ is not None
        # Compiled unless forced to source, or unless a source changed since the install (then
        # `pip install -e .` again: the guard loads every module from source, as it should).
        assert _compiled(module.__file__) is not PURE, f"{name} from {module.__file__}: install again?"


def _copy_of_the_package(target: Path) -> Path:
    """`monitoring` as installed here (sources, compiled modules, manifest) in a folder of its own."""
    shutil.copytree(ROOT / "monitoring", target / "monitoring", ignore=shutil.ignore_patterns("__pycache__"))
    spec = importlib.util.find_spec(GROUP_LIBRARY)
    origin = spec.origin if spec is not None else None
    assert origin is not None, "the compiled modules' shared library is missing"
    shutil.copy2(origin, target)
    return target


_PROBE = """
import monitoring.masking as masking, monitoring.templates as templates
print(masking.__file__)
print(templates.__file__)
print(getattr(masking, "EDITED", "-"))
"""


def _probe(folder: Path, **env: str) -> tuple[list[str], str]:
    environment = {k: v for k, v in os.environ.items() if k != "AGENT_PURE_PYTHON"}
    environment.update(PYTHONPATH=str(folder), **env)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split(), done.stderr


# The probes run in child processes without AGENT_PURE_PYTHON: they need only a compiled build.
needs_compiled = pytest.mark.skipif(
    not compiled_modules(), reason="built with AGENT_PURE_PYTHON=1: nothing compiled to compare with"
)


@needs_compiled
def test_an_unchanged_copy_runs_compiled(tmp_path: Path) -> None:
    folder = _copy_of_the_package(tmp_path)
    (masking, templates, edited), warnings = _probe(folder)
    assert masking.startswith(str(folder))
    assert _compiled(masking), "the checkout's own sources changed since the install: install again"
    assert _compiled(templates)
    assert edited == "-"
    assert "changed since it was compiled" not in warnings


@needs_compiled
def test_an_edited_source_runs_instead_of_its_compiled_form(tmp_path: Path) -> None:
    folder = _copy_of_the_package(tmp_path)
    with (folder / "monitoring" / "masking.py").open("a", encoding="utf-8") as source:
        source.write('\nEDITED = "yes"\n')
    (masking, templates, edited), warnings = _probe(folder)
    assert edited == "yes"
    # Every compiled module loads from source, not only the edited one: they share one library.
    assert masking == str(folder / "monitoring" / "masking.py")
    assert templates == str(folder / "monitoring" / "templates.py")
    assert "monitoring/masking.py changed since it was compiled" in warnings
    assert "templates.py" not in warnings


@needs_compiled
def test_pure_python_on_request(tmp_path: Path) -> None:
    folder = _copy_of_the_package(tmp_path)
    (masking, templates, _), warnings = _probe(folder, AGENT_PURE_PYTHON="1")
    assert masking.endswith("masking.py")
    assert templates.endswith("templates.py")
    assert "changed since it was compiled" not in warnings
