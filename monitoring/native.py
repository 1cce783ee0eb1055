"""Which code a scan runs: the compiled modules `setup.py` built, or their source when it changed.

`pip install` compiles the scanner's per-line modules with mypyc and records each source's SHA-256
in `native_build.json`. A compiled module next to an edited source (an editable install, another
commit checked out) would run the old code, so when any recorded source differs, every compiled
module of the build loads from its source instead (they call each other inside one library: one
cannot be swapped alone) and a warning says how to compile again. `AGENT_PURE_PYTHON=1` in the
environment loads them from source always (a debugger, a profiler, the tests of the source path).
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

__all__ = ["MANIFEST", "compiled_modules", "use_source_where_stale"]

log = logging.getLogger(__name__)

MANIFEST = Path(__file__).with_name("native_build.json")
_ROOT = Path(__file__).resolve().parent.parent


def compiled_modules(manifest: Path = MANIFEST) -> dict[str, str]:
    """Module name → SHA-256 of the source it was compiled from ({} when nothing was compiled)."""
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    modules = data.get("modules") if isinstance(data, dict) else None
    return {str(k): str(v) for k, v in modules.items()} if isinstance(modules, dict) else {}


def _source(name: str) -> Path:
    return _ROOT.joinpath(*name.split(".")).with_suffix(".py")


def _changed(recorded: dict[str, str]) -> list[str]:
    changed = []
    for name, digest in recorded.items():
        try:
            now = hashlib.sha256(_source(name).read_bytes()).hexdigest()
        except OSError:
            now = ""
        if now != digest:
            changed.append(name)
    return changed


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Finds the listed modules as their `.py` files, ahead of the compiled ones beside them."""

    def __init__(self, names: Sequence[str]) -> None:
        self.sources = {name: _source(name) for name in names}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        source = self.sources.get(fullname)
        if source is None or not source.is_file():
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def use_source_where_stale() -> None:
    """Called once, when `monitoring` is imported (before any compiled module is)."""
    recorded = compiled_modules()
    if not recorded or any(isinstance(finder, _SourceFinder) for finder in sys.meta_path):
        return
    forced = os.environ.get("AGENT_PURE_PYTHON") == "1"
    changed = [] if forced else _changed(recorded)
    if not forced and not changed:
        return
    sys.meta_path.insert(0, _SourceFinder(list(recorded)))
    if changed:
        log.warning(
            "%s changed since it was compiled: the scanner runs from source (slower) until "
            "`pip install -e .` compiles it again",
            ", ".join(str(_source(name).relative_to(_ROOT)) for name in changed),
        )
