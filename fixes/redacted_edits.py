"""Edits written against redacted code: put the hidden lines back before matching.

The model sees the repository's code through `monitoring.redact.redact` (`fixes/context.py`), so
a line holding a secret reaches it as `API_KEY = "[REDACTED]"`. Ordinary lines are unchanged by
redaction and match as always. When an edit quotes a redacted line — usually as context around
the line it changes — that line is restored from the real file before matching:

- the search lines are located in the *redacted* file (the same lines, ignoring indentation and
  trailing whitespace, exactly once); each search line with `[REDACTED]` becomes the real line at
  that place, with the model's indentation (the normal matching rules then apply unchanged);
- a replacement line with `[REDACTED]` must be one of those search lines, unchanged: it becomes the
  same real line. A replacement that changes a redacted line, or adds `[REDACTED]` anew, is refused:
  applying it would write the marker into the file in place of the secret.

When the search cannot be located (or only ambiguously), the edit is returned as it is and fails
in the matcher with its usual message — which is itself redacted before it goes back to the model.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from fixes.errors import EditDoesNotApply
from monitoring.redact import REDACTED, redact

if TYPE_CHECKING:
    # fixes.edits calls this module while matching; the type is only needed for checking.
    from fixes.edits import Edit

__all__ = ["restore_redacted"]


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _locate(shown: list[str], wanted: list[str]) -> int | None:
    """The single start where `wanted` equals `shown` (stripped), else None."""
    keys = [line.strip() for line in wanted]
    hits = [
        start
        for start in range(len(shown) - len(keys) + 1)
        if all(shown[start + i].strip() == key for i, key in enumerate(keys))
    ]
    return hits[0] if len(hits) == 1 else None


def restore_redacted(text: str, edit: Edit, index: int) -> Edit:
    """`edit` with its `[REDACTED]` lines replaced by the real lines of `text` (see the module doc).

    Raises:
        EditDoesNotApply: the replacement would write `[REDACTED]` into the file.
    """
    if REDACTED not in edit.search and REDACTED not in edit.replace:
        return edit
    refusal = EditDoesNotApply(
        f"edit {index + 1} ({edit.path}): the replacement contains {REDACTED} where the search text has "
        f"no such line unchanged. {REDACTED} stands for a secret hidden from you; an edit may keep such a "
        "line exactly as shown but may not change, move or add one. Nothing was changed.",
        path=edit.path,
        index=index,
    )
    if REDACTED not in edit.search:
        raise refusal
    real = text.split("\n")
    shown = redact(text).split("\n")
    search = edit.search.split("\n")
    trailing = search[-1] == ""
    body = search[:-1] if trailing else search
    start = _locate(shown, body) if len(real) == len(shown) and body else None
    if start is None:
        return edit
    hidden: dict[str, list[str]] = {}
    restored_search: list[str] = []
    for i, line in enumerate(body):
        if REDACTED in line:
            original = real[start + i].strip()
            hidden.setdefault(line.strip(), []).append(original)
            restored_search.append(_indent(line) + original)
        else:
            restored_search.append(line)
    restored_replace: list[str] = []
    for line in edit.replace.split("\n"):
        if REDACTED not in line:
            restored_replace.append(line)
            continue
        originals = hidden.get(line.strip())
        if not originals:
            raise refusal
        restored_replace.append(_indent(line) + originals.pop(0))
    new_search = "\n".join(restored_search) + ("\n" if trailing else "")
    return dataclasses.replace(edit, search=new_search, replace="\n".join(restored_replace))
