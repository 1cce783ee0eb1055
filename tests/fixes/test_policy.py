"""Policy: paths inside the repository and the allowed set, denied paths refused, caps enforced."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.settings import ServiceSettings
from fixes.errors import PolicyViolation
from fixes.policy import FixPolicy, changed_line_count, check_paths, check_tree, glob_matches, normalize_path

DEFAULT_DENIED = ServiceSettings(name="x", source="file:x", repo=".").denied_paths
POLICY = FixPolicy(allowed=("**",), denied=DEFAULT_DENIED, max_files=2, max_lines=4)


@pytest.mark.parametrize(
    "path",
    [
        ".git/config",
        "sub/.git/hooks/pre-commit",
        ".github/workflows/ci.yml",
        ".env",
        "app/.env.local",
        "Procfile",
        "Dockerfile",
        "deploy/id_rsa",
        "certs/server.pem",
        "railway.json",
        ".gitlab-ci.yml",
    ],
)
def test_denied_by_default(path: str) -> None:
    """Git internals, CI, deployment files and secrets are refused by the default configuration."""
    with pytest.raises(PolicyViolation, match="refused path"):
        check_paths([path], POLICY)


@pytest.mark.parametrize(
    "path", ["../outside.py", "app/../../x.py", "/etc/passwd", "app\\x.py", "", " app.py"]
)
def test_traversal_and_odd_paths_refused(path: str) -> None:
    """Absolute paths, '..' components, backslashes and padded paths are refused."""
    with pytest.raises(PolicyViolation):
        normalize_path(path)


def test_allowed_paths_limit_the_fix() -> None:
    """A path outside the allowed patterns is refused; one inside passes and is normalised."""
    policy = FixPolicy(allowed=("app/**",), denied=(), max_files=5, max_lines=100)
    assert check_paths(["app//x.py"], policy) == ["app/x.py"]
    with pytest.raises(PolicyViolation, match="outside the allowed paths"):
        check_paths(["lib/x.py"], policy)


def test_caps_on_files_and_lines() -> None:
    """More files or more changed lines than configured are refused."""
    with pytest.raises(PolicyViolation, match="max_files_per_fix=2"):
        check_paths(["a.py", "b.py", "c.py"], POLICY)
    diff = "--- a/a.py\n+++ b/a.py\n@@ -1,3 +1,3 @@\n-a\n-b\n-c\n+d\n+e\n"
    assert changed_line_count(diff) == 5
    with pytest.raises(PolicyViolation, match="max_lines_per_fix=4"):
        check_paths(["a.py"], POLICY, diff=diff)


def test_symlinks_refused(tmp_path: Path) -> None:
    """A symlinked file, or a path through a symlinked folder leaving the repository, is refused."""
    repo, outside = tmp_path / "repo", tmp_path / "outside"
    repo.mkdir()
    outside.mkdir()
    (repo / "real.py").write_text("")
    (repo / "link.py").symlink_to(repo / "real.py")
    (repo / "out").symlink_to(outside)
    check_tree(repo, ["real.py", "new.py"])
    with pytest.raises(PolicyViolation, match="symbolic link"):
        check_tree(repo, ["link.py"])
    with pytest.raises(PolicyViolation, match="outside the repository"):
        check_tree(repo, ["out/x.py"])


def test_glob_semantics() -> None:
    """`*` stays in a segment, `**/` spans zero or more folders."""
    assert glob_matches("app/x.py", "app/*.py")
    assert not glob_matches("app/sub/x.py", "app/*.py")
    assert glob_matches("app/sub/x.py", "app/**")
    assert glob_matches(".env", "**/.env*")
    assert glob_matches("a/b/.env.prod", "**/.env*")


_SEGMENT = st.sampled_from(["a", "b", "..", ".", "x.py", ".git", "c"])


@given(st.lists(_SEGMENT, min_size=1, max_size=6))
def test_normalized_paths_never_escape(parts: list[str]) -> None:
    """Whatever segments a path has, an accepted one has no '..' and no .git component."""
    try:
        normalized = normalize_path("/".join(parts))
    except PolicyViolation:
        return
    assert ".." not in normalized.split("/")
    assert ".git" not in normalized.split("/")
