"""Helpers for the validation tests: trees on disk and plans for them."""

from __future__ import annotations

import os
import sys
import tarfile
from pathlib import Path
from typing import Any

from core.settings import ServiceSettings, Settings, ValidationSettings
from fixes.validation import ValidationPlan, ValidationResult, baseline_report, plan_for, validate_worktree

SDISTS = Path(__file__).parent / "sdists"


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def plan(
    root: Path,
    data_dir: Path,
    *,
    command: str = "",
    python: str = sys.executable,
    sandbox: str = "auto",
    **service: Any,
) -> ValidationPlan:
    """The plan for a tree, with this test interpreter (it has pytest) as the target's by default."""
    settings = Settings(
        config_path=None,
        data_dir=data_dir,
        validation=ValidationSettings(sandbox=sandbox),  # type: ignore[arg-type]
        # As load_settings would: the host's pip configuration reaches a bootstrap, nothing else.
        host_env={k: v for k, v in os.environ.items() if k.startswith("PIP_")},
    )
    values: dict[str, Any] = {
        "name": "target",
        "source": "file:/dev/null",
        "repo": str(root),
        "python": python,
        "validation_command": command,
        "validation_timeout_seconds": 120,
    }
    values.update(service)
    return plan_for(settings, ServiceSettings(**values), root)


def judge(root: Path, edits: dict[str, str | None], validation: ValidationPlan) -> ValidationResult:
    """Run the base, write `edits` (None deletes a file), validate against the base, put the base back."""
    originals = {rel: (root / rel).read_text("utf-8") if (root / rel).exists() else None for rel in edits}
    base = baseline_report(root, validation)
    try:
        for rel, text in edits.items():
            if text is None:
                (root / rel).unlink()
            else:
                tree(root, {rel: text})
        return validate_worktree(root, list(edits), validation, baseline=lambda: base, originals=originals)
    finally:
        for rel, text in originals.items():
            if text is None:
                (root / rel).unlink(missing_ok=True)
            else:
                tree(root, {rel: text})


def unpack(name: str, dest: Path) -> Path:
    """Extract a vendored sdist (see sdists/README.md) and return its project folder."""
    with tarfile.open(SDISTS / f"{name}.tar.gz") as archive:
        if hasattr(tarfile, "data_filter"):
            archive.extractall(dest, filter="data")
        else:  # Python before 3.11.4 (Debian's 3.11.2) has no extraction filters: check by hand.
            for member in archive.getmembers():
                parts = Path(member.name).parts
                if member.name.startswith("/") or ".." in parts or not (member.isfile() or member.isdir()):
                    raise ValueError(f"unsafe member in {name}: {member.name!r}")
                # As root, extraction would keep the packager's owner, and git refuses a repository
                # owned by someone else ("dubious ownership"); the data filter drops owners too.
                member.uid, member.gid, member.uname, member.gname = os.getuid(), os.getgid(), "", ""
            archive.extractall(dest)  # noqa: S202 - every member was checked above
    return dest / name
