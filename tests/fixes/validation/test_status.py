"""What `agent status` and `/health` say about validation: the sandbox level and each environment."""

from __future__ import annotations

import sys
from pathlib import Path

from bot.status import validation_health
from core.settings import ServiceSettings, Settings, ValidationSettings
from fixes.validation import validation_status
from fixes.validation.sandbox import ISOLATED, probe


def _settings(tmp_path: Path, sandbox: str, python: str) -> Settings:
    service = ServiceSettings(name="api", source="file:/dev/null", repo=str(tmp_path), python=python)
    return Settings(
        config_path=None,
        data_dir=tmp_path,
        validation=ValidationSettings(sandbox=sandbox),  # type: ignore[arg-type]
        services=(service,),
    )


def test_status_names_the_level_and_an_unavailable_environment(tmp_path: Path) -> None:
    """The level in force is the first line; a missing interpreter is a problem, named."""
    lines, problems = validation_status(_settings(tmp_path, "auto", "/nonexistent/python"))
    expected = f"sandbox: {ISOLATED}" if probe()[0] == ISOLATED else "sandbox: env-only (no namespaces here"
    assert lines[0].startswith(expected)
    missing = "the interpreter '/nonexistent/python' does not exist or is not executable"
    assert [f"api: validation environment unavailable: {missing}"] == problems
    health = validation_health(_settings(tmp_path, "auto", "/nonexistent/python"))
    assert health.startswith("ok (sandbox: ")
    assert "validation environment unavailable" in health


def test_off_is_reported_as_env_only(tmp_path: Path) -> None:
    """`sandbox = off` says so; a working interpreter is no problem."""
    lines, problems = validation_status(_settings(tmp_path, "off", sys.executable))
    assert ("sandbox: env-only (sandbox = off)", []) == (lines[0], problems)
    assert f"api: validates with {sys.executable}" in lines
