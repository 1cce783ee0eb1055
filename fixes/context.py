"""Code context for the model: the service's own code around an incident, within a token budget.

Sources, in priority order:

1. the traceback's frames that are in the repository, innermost first → the enclosing function
   (or a window of lines around the frame's line when the function is long or unparsable);
2. the log statement: the longest literal part of the incident's template (`<*>` and similar
   placeholders removed) searched in the repository's Python files → the function that emits it.

Every path is checked before anything is read: it must resolve (symlinks included) inside the
repository root and must not match a denied pattern; frames from elsewhere (site-packages, the
standard library) are skipped. Reading is the only I/O here; the rest is pure.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from fixes.policy import glob_matches
from monitoring.redact import redact

__all__ = [
    "CodeContext",
    "CodeWindow",
    "ReadPolicy",
    "build_code_context",
    "estimate_tokens",
    "literal_parts",
    "read_repo_file",
    "repo_relative",
]

_PLACEHOLDER = re.compile(r"<[^<>\s]{1,24}>|\{[^{}\s]{0,40}\}")
_MIN_LITERAL = 8
_MAX_FUNCTION_LINES = 80
_AROUND = 15
_MAX_FILE_BYTES = 1_000_000
_MAX_SCANNED_FILES = 5_000


def estimate_tokens(text: str) -> int:
    """A rough token count (4 characters per token), good enough for budgets."""
    return (len(text) + 3) // 4


@dataclass(frozen=True)
class ReadPolicy:
    """Which repository files may be read and sent to the model: anything not denied."""

    denied: tuple[str, ...] = ()

    def permits(self, rel_path: str) -> bool:
        return not any(glob_matches(rel_path, pattern) for pattern in self.denied)


@dataclass(frozen=True)
class CodeWindow:
    """Lines `start`..`end` (1-based, inclusive) of `path`, and why they were chosen."""

    path: str
    start: int
    end: int
    reason: str


@dataclass(frozen=True)
class CodeContext:
    """The rendered context, the windows in it, and what was left out (and why)."""

    text: str
    windows: tuple[CodeWindow, ...]
    skipped: tuple[str, ...] = field(default=())

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(w.path for w in self.windows))


def repo_relative(root: Path, path: str, policy: ReadPolicy) -> str | None:
    """`path` (absolute from a traceback, or relative) as a readable repository path, else None.

    Absolute paths from another machine (`/app/service/x.py`) are matched by their longest suffix
    that exists in the repository. The result resolves inside `root` and is permitted by `policy`.
    """
    real_root = root.resolve()
    pure = PurePosixPath(path.replace("\\", "/"))
    parts = [p for p in pure.parts if p not in ("/", "")]
    if not pure.is_absolute():
        candidates = ["/".join(parts)]
    else:
        try:
            candidates = [str(PurePosixPath(path).relative_to(real_root))]
        except ValueError:
            candidates = []
        candidates += ["/".join(parts[i:]) for i in range(len(parts))]
    for rel in candidates:
        if not rel or ".." in rel.split("/"):
            continue
        checked = _checked(real_root, rel, policy)
        if checked is not None:
            return checked
    return None


def _checked(real_root: Path, rel: str, policy: ReadPolicy) -> str | None:
    if not policy.permits(rel) or any(part == ".git" for part in rel.split("/")):
        return None
    target = real_root / rel
    try:
        resolved = target.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not resolved.is_relative_to(real_root) or not resolved.is_file():
        return None
    real_rel = resolved.relative_to(real_root).as_posix()
    if not policy.permits(real_rel):
        return None  # a symlink pointing at a denied file
    return rel


def read_repo_file(root: Path, rel: str, policy: ReadPolicy) -> str | None:
    """The text of repository file `rel`, or None when it is outside, denied, binary or too big."""
    real_root = root.resolve()
    if _checked(real_root, rel, policy) is None:
        return None
    target = (real_root / rel).resolve()
    if target.stat().st_size > _MAX_FILE_BYTES:
        return None
    try:
        return target.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def literal_parts(template: str) -> list[str]:
    """The literal pieces of a log template, longest first (placeholders like `<*>` removed)."""
    pieces = [p.strip(" :=,;()[]'\"") for p in _PLACEHOLDER.split(template)]
    return sorted((p for p in pieces if len(p) >= _MIN_LITERAL), key=len, reverse=True)


def _function_span(source: str, line: int) -> tuple[int, int, str] | None:
    """(start, end, name) of the innermost function around `line`."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    best: tuple[int, int, str] | None = None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if start <= line <= node.end_lineno and (best is None or start >= best[0]):
                best = (start, node.end_lineno, node.name)
    return best


def _window_for(path: str, source: str, line: int, reason: str) -> CodeWindow:
    total = source.count("\n") + 1
    span = _function_span(source, line)
    if span is not None and span[1] - span[0] < _MAX_FUNCTION_LINES:
        return CodeWindow(path, span[0], span[1], f"{reason}, function {span[2]}()")
    return CodeWindow(path, max(1, line - _AROUND), min(total, line + _AROUND), reason)


def _python_files(root: Path, policy: ReadPolicy) -> Iterable[str]:
    real_root = root.resolve()
    for count, path in enumerate(sorted(real_root.rglob("*.py"))):
        if count >= _MAX_SCANNED_FILES:
            return
        rel = path.relative_to(real_root).as_posix()
        if any(part.startswith(".") or part in {"node_modules", "__pycache__"} for part in rel.split("/")):
            continue
        if policy.permits(rel):
            yield rel


def build_code_context(
    root: Path,
    *,
    details: Mapping[str, Any],
    policy: ReadPolicy,
    token_budget: int,
    extra_paths: Sequence[str] = (),
) -> CodeContext:
    """Windows of the repository's code for an incident, rendered within `token_budget`.

    Args:
        root: the checkout of the service's repository at its deploy branch.
        details: `Incident.details` (`frames`, `template`, `traceback`, ...; see COMMON.md).
        policy: what may be read; denied files are never opened.
        token_budget: upper bound for the rendered text (estimated tokens).
        extra_paths: further repository files to include whole if the budget allows (e.g. the
            files a playbook or the analysis named).
    """
    sources: dict[str, str | None] = {}
    skipped: list[str] = []

    def source_of(rel: str) -> str | None:
        if rel not in sources:
            sources[rel] = read_repo_file(root, rel, policy)
        return sources[rel]

    wanted: list[CodeWindow] = []
    for frame in reversed(list(details.get("frames") or [])):
        raw = str(frame.get("file", ""))
        rel = repo_relative(root, raw, policy)
        if rel is None:
            skipped.append(f"{raw}: outside the repository or denied")
            continue
        source = source_of(rel)
        if source is None:
            skipped.append(f"{rel}: unreadable")
            continue
        line = int(frame.get("line") or 1)
        wanted.append(_window_for(rel, source, line, f"traceback frame line {line}"))

    for literal in literal_parts(str(details.get("template", "")))[:2]:
        for rel in _python_files(root, policy):
            source = source_of(rel)
            if source is None or literal not in source:
                continue
            for number, text in enumerate(source.split("\n"), start=1):
                if literal in text:
                    wanted.append(_window_for(rel, source, number, f"emits {literal!r} (line {number})"))
                    break
        if wanted:
            break

    for rel in extra_paths:
        checked = repo_relative(root, rel, policy)
        source = source_of(checked) if checked else None
        if checked is None or source is None:
            skipped.append(f"{rel}: outside the repository or denied")
            continue
        wanted.append(CodeWindow(checked, 1, source.count("\n") + 1, "named by the analysis"))

    return _render(_merge(wanted), sources, token_budget, skipped)


def _merge(windows: Sequence[CodeWindow]) -> list[CodeWindow]:
    """Drop windows already covered by an earlier one; merge overlapping windows of one file."""
    merged: list[CodeWindow] = []
    for window in windows:
        for i, kept in enumerate(merged):
            if kept.path == window.path and window.start <= kept.end + 1 and kept.start <= window.end + 1:
                reason = kept.reason if window.reason in kept.reason else f"{kept.reason}; {window.reason}"
                merged[i] = CodeWindow(
                    kept.path, min(kept.start, window.start), max(kept.end, window.end), reason
                )
                break
        else:
            merged.append(window)
    return merged


def _render(
    windows: Sequence[CodeWindow], sources: Mapping[str, str | None], budget: int, skipped: list[str]
) -> CodeContext:
    chunks: list[str] = []
    used = 0
    kept: list[CodeWindow] = []
    for window in windows:
        # Secrets in the code never reach the model; redaction keeps every line where it was.
        lines = redact(sources.get(window.path) or "").split("\n")
        body = "\n".join(
            f"{n:>5} | {lines[n - 1]}" for n in range(window.start, min(window.end, len(lines)) + 1)
        )
        chunk = f"### {window.path} (lines {window.start}-{window.end}; {window.reason})\n{body}\n"
        cost = estimate_tokens(chunk)
        if used + cost > budget:
            skipped.append(f"{window.path}:{window.start}-{window.end}: over the context token budget")
            continue
        used += cost
        chunks.append(chunk)
        kept.append(window)
    return CodeContext("\n".join(chunks), tuple(kept), tuple(skipped))
