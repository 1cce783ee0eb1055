"""Project conventions that matter, checked on the source: dependency direction and config access."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "monitoring", "fixes", "bot")
# Floors, lowest first: a package may import the floors below it and itself, never a floor above.
FLOORS = ("core", "monitoring", "fixes", "bot")


def _modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _top(name: str) -> str:
    return name.split(".", 1)[0]


@pytest.mark.parametrize("package", FLOORS)
def test_no_import_runs_up_a_floor(package: str) -> None:
    """core -> monitoring -> fixes -> bot: each package imports only itself and the floors below it."""
    above = FLOORS[FLOORS.index(package) + 1 :]
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in _modules(package)
        for name in _imports(path)
        if _top(name) in above
    ]
    assert offenders == []


def test_the_floors_cover_every_product_package() -> None:
    """A new top-level package must be given a floor, or the rule above would not see it."""
    product = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "migrations", "benchmarks"}
    assert product == set(FLOORS)


def test_only_settings_reads_the_environment() -> None:
    """Configuration is read once: no module but core/settings.py touches os.environ or os.getenv.

    Save monitoring/native.py, which reads one switch (`AGENT_PURE_PYTHON`) when `monitoring` is
    imported, before any settings exist: it picks which code runs, compiled or source, and
    configures nothing."""
    readers = {ROOT / "core" / "settings.py", ROOT / "monitoring" / "native.py"}
    offenders = []
    for package in PACKAGES:
        for path in _modules(package):
            if path in readers:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Attribute)
                    and node.attr in {"environ", "getenv", "putenv"}
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "os"
                ):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_the_application_builds_no_queries() -> None:
    """bot/ passes sessions around (and may catch database errors) but every query is a named
    function in core/store."""
    allowed = {"sqlalchemy": {"Engine"}, "sqlalchemy.orm": {"Session", "sessionmaker"}}
    offenders = []
    for path in _modules("bot"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "sqlalchemy.exc":
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sqlalchemy"):
                extra = {a.name for a in node.names} - allowed.get(node.module, set())
                if extra:
                    offenders.append(f"{path.relative_to(ROOT)}: {node.module} {sorted(extra)}")
            elif isinstance(node, ast.Import):
                offenders.extend(
                    f"{path.relative_to(ROOT)}: import {a.name}"
                    for a in node.names
                    if a.name.startswith("sqlalchemy")
                )
    assert offenders == []
