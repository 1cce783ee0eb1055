"""Backups: the base commit and a byte copy of every file a fix touches, written before any change.

A backup is a folder `<backups>/<fix_id>/<n>/` holding `manifest.json` (base commit, and for each
path its sha256 or null when the file did not exist) and `files/<path>` copies. It is kept for audit.
`restore` writes the copies back (deleting files that did not exist) and verifies every hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fixes.errors import FixError

__all__ = ["Backup", "BackupMismatch", "load_backup", "restore", "take_backup", "verify"]


class BackupMismatch(FixError):
    """After a restore, a file's bytes do not hash to what the backup recorded."""


@dataclass(frozen=True)
class Backup:
    location: Path
    base_commit: str
    hashes: Mapping[str, str | None]  # path → sha256 of the original bytes; None: did not exist


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def take_backup(root: Path, paths: Sequence[str], *, base_commit: str, directory: Path) -> Backup:
    """Copy `paths` of the tree at `root` into a new numbered folder under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    number = 1 + max((int(p.name) for p in directory.iterdir() if p.name.isdigit()), default=0)
    location = directory / str(number)
    files = location / "files"
    hashes: dict[str, str | None] = {}
    for rel in paths:
        source = root / rel
        if source.is_file():
            data = source.read_bytes()
            copy = files / rel
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_bytes(data)
            hashes[rel] = _sha(data)
        else:
            hashes[rel] = None
    location.mkdir(parents=True, exist_ok=True)
    manifest = {"base_commit": base_commit, "files": hashes}
    # Written last: a manifest exists only for a complete backup.
    (location / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return Backup(location, base_commit, hashes)


def load_backup(location: Path) -> Backup:
    manifest = json.loads((location / "manifest.json").read_text())
    return Backup(location, manifest["base_commit"], manifest["files"])


def verify(backup: Backup, root: Path) -> None:
    """Raise `BackupMismatch` unless every backed-up path in `root` is byte-identical to the backup."""
    for rel, expected in backup.hashes.items():
        path = root / rel
        actual = _sha(path.read_bytes()) if path.is_file() else None
        if actual != expected:
            raise BackupMismatch(
                f"{rel} in {root} does not match the backup in {backup.location} "
                f"(expected {expected or 'absent'}, found {actual or 'absent'})"
            )


def restore(backup: Backup, root: Path) -> None:
    """Put every backed-up path back byte for byte (removing files that did not exist), then `verify`."""
    for rel, expected in backup.hashes.items():
        path = root / rel
        if expected is None:
            if path.is_file() or path.is_symlink():
                path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes((backup.location / "files" / rel).read_bytes())
    verify(backup, root)
