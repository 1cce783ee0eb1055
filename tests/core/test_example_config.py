"""agent.example.toml documents every key the settings model accepts, and nothing else.

The keys come from the model (`core.settings.settings_keys`), so a key added to the model without
a line in the example fails here with its name.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from core.settings import settings_keys

EXAMPLE = Path(__file__).resolve().parents[2] / "agent.example.toml"


def _keys(table: dict[str, Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, value in table.items():
        if isinstance(value, dict):
            keys |= _keys(value, f"{prefix}{name}.")
        elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            for item in value:  # [[services]]
                keys |= _keys(item, f"{prefix}{name}.")
        else:
            keys.add(f"{prefix}{name}")
    return keys


def test_example_documents_every_key_of_the_model() -> None:
    """Missing keys are named (add a commented line to agent.example.toml); so are unknown ones."""
    documented = _keys(tomllib.loads(EXAMPLE.read_text()))
    model = set(settings_keys())
    assert (set(), set()) == (model - documented, documented - model)
