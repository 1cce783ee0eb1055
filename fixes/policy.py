"""What a fix may touch: inside the repository, inside the allowed paths, outside the denied ones, small.

`check_paths` is pure (patterns and path strings); `check_tree` adds the filesystem checks (symlinks
that leave the repository). Both raise `PolicyViolation` with a message naming the path and the rule.

Patterns are repository-relative globs: `*` and `?` stay inside one path segment, `**` spans any
number of segments (`app/**` matches everything under app/, `**/.env*` any .env file at any depth).
`.git/` is always denied, whatever the configuration says.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from fixes.errors import PolicyViolation

__all__ = [
    "SELF_DENIED",
    "FixPolicy",
    "changed_line_count",
    "check_paths",
    "check_tree",
    "glob_matches",
    "normalize_path",
]

# When the bot monitors its own repository, it must not rewrite the code that guards its edits.
SELF_DENIED = ("bot/**", "fixes/**", "monitoring/**", "migrations/**", "pyproject.toml", "agent.toml")


@dataclass(frozen=True)
class FixPolicy:
    """The limits for one service (built from `ServiceSettings`)."""

    allowed: tuple[str, ...] = ("**",)
    denied: tuple[str, ...] = ()
    max_files: int = 5
    max_lines: int = 200


@functools.lru_cache(maxsize=512)
def _pattern(glob: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def glob_matches(path: str, glob: str) -> bool:
    """True when repository-relative `path` matches `glob` (see the module docstring)."""
    return _pattern(glob).match(path) is not None


def normalize_path(path: str) -> str:
    """The canonical repository-relative form of `path`, or `PolicyViolation` when it could escape."""
    if not path or path.strip() != path or "\0" in path or "\\" in path:
        raise PolicyViolation(f"refused path {path!r}: empty, padded, or contains a backslash or NUL")
    pure = PurePosixPath(path)
    if pure.is_absolute():
        raise PolicyViolation(
            f"refused path {path!r}: absolute paths are not allowed; use a repo-relative path"
        )
    if ".." in pure.parts:
        raise PolicyViolation(f"refused path {path!r}: '..' could leave the repository")
    if any(part.lower() == ".git" for part in pure.parts):
        raise PolicyViolation(f"refused path {path!r}: nothing under .git/ may be edited")
    return str(pure)


def changed_line_count(diff: str) -> int:
    """Added plus removed lines of a unified diff (headers excluded)."""
    return sum(
        1
        for line in diff.splitlines()
        if (line.startswith("+") and not line.startswith("+++"))
        or (line.startswith("-") and not line.startswith("---"))
    )


def check_paths(paths: Iterable[str], policy: FixPolicy, *, diff: str = "") -> list[str]:
    """Normalised paths, or `PolicyViolation` for a path outside the rules or a fix over the caps."""
    normalized = sorted({normalize_path(p) for p in paths})
    for path in normalized:
        denied = next((g for g in policy.denied if glob_matches(path, g)), None)
        if denied is not None:
            raise PolicyViolation(
                f"refused path {path!r}: denied by the pattern {denied!r} (services.denied_paths); "
                "change it by hand or adjust the configuration"
            )
        if not any(glob_matches(path, g) for g in policy.allowed):
            raise PolicyViolation(
                f"refused path {path!r}: outside the allowed paths {list(policy.allowed)} "
                "(services.allowed_paths)"
            )
    if len(normalized) > policy.max_files:
        raise PolicyViolation(
            f"the fix touches {len(normalized)} files, more than max_files_per_fix={policy.max_files}"
        )
    lines = changed_line_count(diff)
    if lines > policy.max_lines:
        raise PolicyViolation(
            f"the fix changes {lines} lines, more than max_lines_per_fix={policy.max_lines}"
        )
    return normalized


def check_tree(root: Path, paths: Sequence[str]) -> None:
    """Refuse paths that are symlinks, or whose existing parents resolve outside `root`."""
    real_root = root.resolve()
    for rel in paths:
        target = root / rel
        if target.is_symlink():
            raise PolicyViolation(f"refused path {rel!r}: it is a symbolic link; edit the file it points to")
        if not target.resolve().is_relative_to(real_root):
            raise PolicyViolation(
                f"refused path {rel!r}: it resolves to {target.resolve()}, outside the repository"
            )
