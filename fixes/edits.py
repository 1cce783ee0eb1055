"""The edit format and how edits become new file contents, a unified diff and a content hash.

An edit is a `{path, search, replace}` block. This module is pure: it takes file contents and
returns file contents. Matching rules (exact first; fuzzy rules are declared and bounded) refuse an
edit that matches nowhere or in several places — it is never guessed.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fixes.errors import EditDoesNotApply, EditIsAmbiguous

__all__ = ["AppliedEdits", "Edit", "apply_edits", "content_hash", "unified_diff"]


@dataclass(frozen=True)
class Edit:
    """Replace `search` with `replace` in the file at repository-relative `path`."""

    path: str
    search: str
    replace: str

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Edit:
        return cls(path=str(data["path"]), search=str(data["search"]), replace=str(data["replace"]))

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "search": self.search, "replace": self.replace}


@dataclass(frozen=True)
class AppliedEdits:
    """Contents before and after, per touched path (a new file has before == "")."""

    before: Mapping[str, str]
    after: Mapping[str, str]

    @property
    def diff(self) -> str:
        return unified_diff(self.before, self.after)

    @property
    def content_hash(self) -> str:
        return content_hash(self.diff)


def apply_edits(files: Mapping[str, str], edits: Sequence[Edit]) -> AppliedEdits:
    """Apply `edits` in order to `files` (path → text); every edit must match exactly once.

    An edit with an empty `search` creates the file (it must not exist yet).

    Raises:
        EditDoesNotApply, EditIsAmbiguous: nothing is returned partially applied.
    """
    before: dict[str, str] = {}
    after: dict[str, str] = {}
    for index, edit in enumerate(edits):
        if edit.path not in after:
            before[edit.path] = files.get(edit.path, "")
            after[edit.path] = before[edit.path]
        current = after[edit.path]
        if edit.search == "":
            if current:
                raise EditIsAmbiguous(
                    f"edit {index + 1} has an empty search text but {edit.path} is not empty; "
                    "quote the lines to replace",
                    path=edit.path,
                    index=index,
                )
            after[edit.path] = edit.replace
            continue
        occurrences = current.count(edit.search)
        if occurrences == 0:
            raise EditDoesNotApply(
                f"edit {index + 1}: the search text does not occur in {edit.path}",
                path=edit.path,
                index=index,
            )
        if occurrences > 1:
            raise EditIsAmbiguous(
                f"edit {index + 1}: the search text occurs {occurrences} times in {edit.path}; "
                "include more surrounding lines so it matches exactly once",
                path=edit.path,
                index=index,
            )
        after[edit.path] = current.replace(edit.search, edit.replace, 1)
    return AppliedEdits(before=before, after=after)


def unified_diff(before: Mapping[str, str], after: Mapping[str, str]) -> str:
    """A `git apply`-compatible unified diff of every path whose contents changed, sorted by path."""
    chunks: list[str] = []
    for path in sorted(after):
        old, new = before.get(path, ""), after[path]
        if old == new:
            continue
        lines = difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{path}" if old else "/dev/null",
            tofile=f"b/{path}",
        )
        for line in lines:
            chunks.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(chunks)


def content_hash(diff: str) -> str:
    """sha256 of the diff text: what an approver saw is what gets applied."""
    return hashlib.sha256(diff.encode("utf-8")).hexdigest()
