"""The build: the scanner's per-line modules compiled to C with mypyc, everything else plain Python.

A scan's time goes to Python's per-line steps spread over parsing, detection and mining, not to one
hot spot; mypyc compiles these modules from their own type-annotated source (no second copy of the
logic in another language) and makes a whole scan about twice as fast (README, "Architecture";
docs/monitoring.md, "Benchmark: the whole scan").

`AGENT_PURE_PYTHON=1 pip install …` builds without compiling (no C compiler needed; slower scans).
The SHA-256 of every compiled source is written to `monitoring/native_build.json`: a compiled
module is used only while its source is unchanged (`monitoring/native.py`).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent
MANIFEST = ROOT / "monitoring" / "native_build.json"
# What a scan runs for every line: reading, parsing, detection, template mining.
COMPILED = [
    "monitoring/events.py",
    "monitoring/record_fields.py",
    "monitoring/headers.py",
    "monitoring/detect.py",
    "monitoring/pipeline.py",
    "monitoring/templates.py",
    "monitoring/masking.py",
    "monitoring/sources/file.py",
]
GROUP = "fixbot_scanner"  # the compiled modules share one library, `fixbot_scanner__mypyc`


def _module(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def _write_manifest() -> None:
    digests = {_module(path): hashlib.sha256((ROOT / path).read_bytes()).hexdigest() for path in COMPILED}
    MANIFEST.write_text(json.dumps({"group": GROUP, "modules": digests}, indent=2) + "\n", encoding="utf-8")


def _remove_compiled() -> None:
    """An editable build compiles in place: a pure build must not leave an older one importable."""
    for path in COMPILED:
        source = ROOT / path
        for built in source.parent.glob(f"{source.stem}.*.so"):
            built.unlink()
    for built in ROOT.glob(f"{GROUP}__mypyc.*.so"):
        built.unlink()
    MANIFEST.unlink(missing_ok=True)


if os.environ.get("AGENT_PURE_PYTHON") == "1":
    _remove_compiled()
    setup()
else:
    from mypyc.build import mypycify

    _write_manifest()
    setup(
        ext_modules=mypycify(
            # The project's mypy settings load the pydantic plugin, which the isolated build does
            # not have: these modules need none of it. Imports it cannot see are typed Any, and
            # modules not compiled are read for their types only (`mypy` in CI checks them all).
            ["--config-file=", "--ignore-missing-imports", "--follow-imports=silent", *COMPILED],
            group_name=GROUP,
            opt_level="3",
        )
    )
