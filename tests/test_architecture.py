"""Project conventions that matter, checked on the source: dependency direction and config access."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "monitoring", "fixes")
# monitoring/ and fixes/ may use the settings types and the store, nothing else of bot/.
ALLOWED_BOT_IMPORTS = ("bot.settings", "bot.store")


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


@pytest.mark.parametrize("package", ["monitoring", "fixes"])
def test_monitoring_and_fixes_do_not_import_the_slack_layer_or_cli(package: str) -> None:
    """monitoring/ and fixes/ import from bot/ only its settings types and its store."""
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in _modules(package)
        for name in _imports(path)
        if (name == "bot" or name.startswith("bot.")) and not name.startswith(ALLOWED_BOT_IMPORTS)
    ]
    assert offenders == []


def test_monitoring_does_not_import_fixes() -> None:
    """The scanner stands alone: fixes may use monitoring's data types, not the other way round."""
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in _modules("monitoring")
        for name in _imports(path)
        if name == "fixes" or name.startswith("fixes.")
    ]
    assert offenders == []


def test_bot_store_imports_nothing_else_of_bot() -> None:
    """bot/store is shared by all three packages, so it must not import the rest of bot/."""
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in _modules("bot/store")
        for name in _imports(path)
        if name.startswith("bot.") and not name.startswith("bot.store")
    ]
    assert offenders == []


def test_only_settings_reads_the_environment() -> None:
    """Configuration is read once: no module but bot/settings.py touches os.environ or os.getenv."""
    offenders = []
    for package in PACKAGES:
        for path in _modules(package):
            if path == ROOT / "bot" / "settings.py":
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
