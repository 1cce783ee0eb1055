"""The edit format and how edits become new file contents, a unified diff and a content hash.

An edit is a `{path, search, replace}` block. This module is pure: it takes file contents and
returns file contents.

Matching rules, tried in this order for every edit (`MatchRule` names them):

1. ``exact``: the search text occurs exactly once in the file. Search and replace are first
   converted to the file's line endings (``\\r\\n`` or ``\\n``), so line-ending drift alone never
   prevents a match. A multi-line search must start at a line start or after the line's
   indentation, and end at a line end: a block never matches in the middle of other code.
2. ``whitespace``: the search lines, with leading and trailing blank lines dropped, equal exactly
   one run of consecutive file lines after removing trailing whitespace, allowing one uniform
   indentation offset for the whole block (the model quoted the block dedented or over-indented).
   The replacement is re-indented by the same offset. Nothing else is tolerated: no changes
   inside a line, no per-line indentation differences, no similarity threshold.

Two refinements keep the rules from disagreeing. A one-line exact match that is a whole line
quoted without its indentation gives the replacement's further lines that indentation (refused
when they could be meant at either indentation). A multi-line exact match whose first line was
quoted without indentation is refused if the whitespace rule also matches somewhere else.

If the exact rule finds several occurrences, or the whitespace rule finds several runs, the edit
is refused as ambiguous (with the line numbers). If neither finds anything, the edit is refused
with the closest candidate lines and the first line that differs, so that a model can correct its
search text. Refusals raise `EditDoesNotApply` / `EditIsAmbiguous` (see `fixes.errors`); nothing is
ever returned partially applied.
"""

from __future__ import annotations

import difflib
import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from fixes.errors import EditDoesNotApply, EditIsAmbiguous
from fixes.redacted_edits import restore_redacted
from monitoring.redact import redact

__all__ = [
    "AppliedEdits",
    "Edit",
    "EditMatch",
    "MatchRule",
    "apply_edits",
    "content_hash",
    "unified_diff",
]

# How many candidate locations an ambiguity message lists, and how many lines a candidate shows.
_MAX_LISTED = 5
_MAX_CANDIDATE_LINES = 12


class MatchRule(StrEnum):
    """The declared rule under which an edit matched its target."""

    CREATE = "create"
    EXACT = "exact"
    WHITESPACE = "whitespace"


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
class EditMatch:
    """Where and how edit number `index` (0-based) matched: `line` is 1-based in the file then."""

    index: int
    path: str
    rule: MatchRule
    line: int


@dataclass(frozen=True)
class AppliedEdits:
    """Contents before and after, per touched path (a new file has before == "")."""

    before: Mapping[str, str]
    after: Mapping[str, str]
    matches: tuple[EditMatch, ...] = field(default=())

    @property
    def diff(self) -> str:
        return unified_diff(self.before, self.after)

    @property
    def content_hash(self) -> str:
        return content_hash(self.diff)

    @property
    def changed_paths(self) -> tuple[str, ...]:
        """Paths whose contents differ, sorted."""
        return tuple(sorted(p for p in self.after if self.after[p] != self.before.get(p, "")))


def apply_edits(files: Mapping[str, str], edits: Sequence[Edit]) -> AppliedEdits:
    """Apply `edits` in order to `files` (path → text); every edit must match exactly once.

    An edit with an empty `search` creates the file (it must not exist yet or be empty). Later
    edits see the result of earlier ones.

    Raises:
        EditDoesNotApply: the search text matches nowhere under the declared rules; the message
            names the closest candidate lines.
        EditIsAmbiguous: the search text matches several places; the message lists them.
    """
    before: dict[str, str] = {}
    after: dict[str, str] = {}
    matches: list[EditMatch] = []
    for index, edit in enumerate(edits):
        if edit.path not in after:
            before[edit.path] = files.get(edit.path, "")
            after[edit.path] = before[edit.path]
        current = after[edit.path]
        if edit.search == "":
            if current:
                raise EditIsAmbiguous(
                    f"edit {index + 1} ({edit.path}): the search text is empty but {edit.path} already "
                    "exists; quote the exact lines to replace",
                    path=edit.path,
                    index=index,
                )
            after[edit.path] = edit.replace
            matches.append(EditMatch(index, edit.path, MatchRule.CREATE, 1))
            continue
        if edit.path not in files and not current:
            raise EditDoesNotApply(
                f"edit {index + 1}: {edit.path} does not exist in the repository; use a path from the "
                "code context, or an empty search text to create a new file",
                path=edit.path,
                index=index,
            )
        # The model saw redacted code: lines it quotes with [REDACTED] are put back first.
        after[edit.path], match = _apply_one(current, restore_redacted(current, edit, index), index)
        matches.append(match)
    return AppliedEdits(before=before, after=after, matches=tuple(matches))


def _apply_one(text: str, edit: Edit, index: int) -> tuple[str, EditMatch]:
    newline = _dominant_newline(text)
    search = _with_newline(edit.search, newline)
    replace = _with_newline(edit.replace, newline)

    positions = _exact_positions(text, search)
    if len(positions) == 1:
        start = positions[0]
        _refuse_competing_windows(text, start, search, edit, index)
        replace = _indent_continuation(text, start, search, replace, newline, edit=edit, index=index)
        line = text.count("\n", 0, start) + 1
        new_text = text[:start] + replace + text[start + len(search) :]
        return new_text, EditMatch(index, edit.path, MatchRule.EXACT, line)
    if len(positions) > 1:
        lines = sorted({text.count("\n", 0, p) + 1 for p in positions})
        raise EditIsAmbiguous(_ambiguous_message(edit, index, lines, "exactly"), path=edit.path, index=index)

    file_lines = _split_lines(text)
    search_lines = _trim_blank([line.rstrip("\r") for line in search.split("\n")])
    windows = _whitespace_windows(file_lines, search_lines)
    if len(windows) > 1:
        lines = [start + 1 for start, _ in windows]
        raise EditIsAmbiguous(
            _ambiguous_message(edit, index, lines, "ignoring indentation and trailing whitespace"),
            path=edit.path,
            index=index,
        )
    if not windows:
        raise EditDoesNotApply(
            _no_match_message(edit, index, file_lines, search_lines), path=edit.path, index=index
        )
    start, offset = windows[0]
    end = start + len(search_lines)
    replacement = _reindent(_trim_blank(replace.replace("\r\n", "\n").split("\n")), offset, newline)
    last = file_lines[end - 1]
    if replacement and not last.endswith(("\n", "\r")):
        replacement[-1] = replacement[-1].rstrip("\r\n")
    new_text = "".join(file_lines[:start] + replacement + file_lines[end:])
    return new_text, EditMatch(index, edit.path, MatchRule.WHITESPACE, start + 1)


def _dominant_newline(text: str) -> str:
    crlf = text.count("\r\n")
    return "\r\n" if crlf and crlf >= text.count("\n") - crlf else "\n"


def _with_newline(value: str, newline: str) -> str:
    unified = value.replace("\r\n", "\n")
    return unified if newline == "\n" else unified.replace("\n", newline)


def _exact_positions(text: str, search: str) -> list[int]:
    """Every occurrence (overlapping too) that is line-aligned when the search spans lines."""
    multiline = "\n" in search.rstrip("\r\n")
    positions: list[int] = []
    start = text.find(search)
    while start != -1:
        if not multiline or _line_aligned(text, start, search):
            positions.append(start)
        start = text.find(search, start + 1)
    return positions


def _line_aligned(text: str, start: int, search: str) -> bool:
    line_start = text.rfind("\n", 0, start) + 1
    if text[line_start:start].strip(" \t"):
        return False
    end = start + len(search)
    return search.endswith("\n") or end == len(text) or text[end] in "\r\n"


def _refuse_competing_windows(text: str, start: int, search: str, edit: Edit, index: int) -> None:
    """A multi-line exact match that starts after indentation competes with the whitespace rule.

    Its first line was quoted without indentation, which is the whitespace rule's territory: if
    that rule finds the block elsewhere (e.g. the same block dedented), the edit is ambiguous.
    """
    line_start = text.rfind("\n", 0, start) + 1
    if line_start == start or "\n" not in search.rstrip("\r\n"):
        return
    line = text.count("\n", 0, start) + 1
    search_lines = _trim_blank([part.rstrip("\r") for part in search.split("\n")])
    windows = [w_start + 1 for w_start, _ in _whitespace_windows(_split_lines(text), search_lines)]
    others = [n for n in windows if n != line]
    if others:
        raise EditIsAmbiguous(
            _ambiguous_message(edit, index, sorted({line, *others}), "with or without indentation"),
            path=edit.path,
            index=index,
        )


def _indent_continuation(
    text: str, start: int, search: str, replace: str, newline: str, *, edit: Edit, index: int
) -> str:
    """A whole line quoted without its indentation: indent the replacement's further lines to match.

    The further lines were written either relative to the quoted line (they lack the cut
    indentation) or at their real indentation in the file. When their indentation fits both
    readings, the edit is refused rather than guessed. A search that is only part of a line
    (e.g. one argument) is replaced verbatim.
    """
    if newline in search.rstrip("\r\n") or newline not in replace.rstrip("\r\n"):
        return replace
    line_start = text.rfind("\n", 0, start) + 1
    prefix = text[line_start:start]
    end = start + len(search)
    whole_line = search.endswith("\n") or end == len(text) or text[end] in "\r\n"
    if not prefix or prefix.strip(" \t") or not whole_line:
        return replace
    head, *rest = replace.split(newline)
    further = [line for line in rest if line.strip()]
    full_indent = prefix + _indent(search)
    real_indentation = all(line.startswith(full_indent) for line in further)
    relative = len(_indent(further[0])) <= len(_indent(search)) + 4 if further else True
    if real_indentation and relative:
        raise EditIsAmbiguous(
            f"edit {index + 1} ({edit.path}): the search text is line "
            f"{text.count(chr(10), 0, start) + 1} quoted without its indentation of {len(prefix)} "
            "characters, and the replacement's further lines could be meant at either indentation. "
            "Nothing was changed. Quote the search and replacement lines with their exact indentation.",
            path=edit.path,
            index=index,
        )
    if real_indentation:
        return replace
    return newline.join([head, *[prefix + line if line.strip() else line for line in rest]])


def _split_lines(text: str) -> list[str]:
    """Lines with their endings, split on "\n" only (`str.splitlines` also splits on form feeds)."""
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def _trim_blank(lines: list[str]) -> list[str]:
    first = 0
    while first < len(lines) and not lines[first].strip():
        first += 1
    last = len(lines)
    while last > first and not lines[last - 1].strip():
        last -= 1
    return lines[first:last]


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _whitespace_windows(file_lines: list[str], search_lines: list[str]) -> list[tuple[int, tuple[str, str]]]:
    """(start, (added, removed)) for every run matching under the whitespace rule."""
    if not search_lines:
        return []
    stripped = [line.rstrip() for line in file_lines]
    wanted = [line.rstrip() for line in search_lines]
    anchor = next(i for i, line in enumerate(wanted) if line)
    anchor_text = wanted[anchor].lstrip(" \t")
    found: list[tuple[int, tuple[str, str]]] = []
    for pos in range(anchor, len(stripped) - len(wanted) + anchor + 1):
        if stripped[pos].lstrip(" \t") != anchor_text:
            continue
        start = pos - anchor
        offset = _uniform_offset(stripped[start : start + len(wanted)], wanted)
        if offset is not None:
            found.append((start, offset))
    return found


def _uniform_offset(window: list[str], wanted: list[str]) -> tuple[str, str] | None:
    """(added, removed): file indent == search indent with `removed` cut and `added` prefixed."""
    offset: tuple[str, str] | None = None
    for have, want in zip(window, wanted, strict=True):
        if not want:
            if have:
                return None
            continue
        have_indent, want_indent = _indent(have), _indent(want)
        if have[len(have_indent) :] != want[len(want_indent) :]:
            return None
        if have_indent.endswith(want_indent):
            candidate = (have_indent[: len(have_indent) - len(want_indent)], "")
        elif want_indent.endswith(have_indent):
            candidate = ("", want_indent[: len(want_indent) - len(have_indent)])
        else:
            return None
        if offset is None:
            offset = candidate
        elif offset != candidate:
            return None
    return offset


def _reindent(lines: list[str], offset: tuple[str, str], newline: str) -> list[str]:
    added, removed = offset
    out: list[str] = []
    for line in lines:
        body = line.rstrip("\r")
        if not body.strip():
            body = ""  # blank lines carry no indentation
        else:
            if removed and body.startswith(removed):
                body = body[len(removed) :]
            body = added + body
        out.append(body + newline)
    return out


def _ambiguous_message(edit: Edit, index: int, lines: list[int], how: str) -> str:
    listed = ", ".join(str(n) for n in lines[:_MAX_LISTED]) + (" …" if len(lines) > _MAX_LISTED else "")
    return (
        f"edit {index + 1} ({edit.path}): the search text matches {len(lines)} places ({how}), "
        f"starting at lines {listed}. Nothing was changed. Include more surrounding lines in the "
        "search text so that it matches exactly one place."
    )


def _no_match_message(edit: Edit, index: int, file_lines: list[str], search_lines: list[str]) -> str:
    head = (
        f"edit {index + 1} ({edit.path}): the search text matches nowhere, not even ignoring "
        "indentation, trailing whitespace and line endings. Nothing was changed."
    )
    start = _closest_start(file_lines, search_lines)
    if start is None:
        first = search_lines[0].strip() if search_lines else ""
        return (
            f"{head} No line of {edit.path} resembles {first!r}. "
            "Copy the search lines verbatim from the current code."
        )
    shown = file_lines[start : start + min(len(search_lines), _MAX_CANDIDATE_LINES)]
    # Quoted back to the model: as redacted as the code context it was shown.
    numbered = "\n".join(f"{start + i + 1:>5} | {redact(line.rstrip())}" for i, line in enumerate(shown))
    detail = ""
    for i, want in enumerate(search_lines):
        have = redact(file_lines[start + i].rstrip()) if start + i < len(file_lines) else "<end of file>"
        if have.strip() != want.strip():
            detail = (
                f"\nFirst difference: search line {i + 1} is {want.strip()!r} but line {start + i + 1} "
                f"of the file is {have.strip()!r}."
            )
            break
    if not detail:
        detail = (
            "\nThese lines differ from the search text only in indentation, and not by the same amount "
            "on every line; quote them with their exact indentation."
        )
    return (
        f"{head} Did you mean lines {start + 1}-{start + len(shown)}?\n{numbered}{detail}\n"
        "Copy the search lines verbatim from the current code."
    )


def _closest_start(file_lines: list[str], search_lines: list[str]) -> int | None:
    """The start of the run of file lines sharing the most stripped lines with the search."""
    if not search_lines or not file_lines:
        return None
    where: dict[str, list[int]] = {}
    for pos, line in enumerate(file_lines):
        key = line.strip()
        if key:
            where.setdefault(key, []).append(pos)
    votes: Counter[int] = Counter()
    for offset, line in enumerate(search_lines):
        for pos in where.get(line.strip(), ()):
            if pos - offset >= 0:
                votes[pos - offset] += 1
    if votes:
        return min(votes, key=lambda start: (-votes[start], start))
    keys = list(where)
    first = next((line.strip() for line in search_lines if line.strip()), "")
    close = difflib.get_close_matches(first, keys, n=1, cutoff=0.6)
    return where[close[0]][0] if close else None


def unified_diff(before: Mapping[str, str], after: Mapping[str, str]) -> str:
    """A `git apply`-compatible unified diff of every path whose contents changed, sorted by path."""
    chunks: list[str] = []
    for path in sorted(after):
        old, new = before.get(path, ""), after[path]
        if old == new:
            continue
        lines = difflib.unified_diff(
            _split_lines(old),
            _split_lines(new),
            fromfile=f"a/{path}" if old else "/dev/null",
            tofile=f"b/{path}",
        )
        for line in lines:
            chunks.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(chunks)


def content_hash(diff: str) -> str:
    """sha256 of the diff text: what an approver saw is what gets applied."""
    return hashlib.sha256(diff.encode("utf-8")).hexdigest()
