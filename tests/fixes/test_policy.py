"""Policy: paths inside the repository and the allowed set, denied paths refused, caps enforced."""

from __future__ import annotations

from pathlib import Path

import git
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.settings import ServiceSettings
from fixes.errors import PolicyViolation
from fixes.policy import (
    FixPolicy,
    changed_line_count,
    check_fix,
    check_paths,
    check_tree,
    glob_matches,
    local_repository,
    normalize_path,
    policy_for,
)

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


# ---------------------------------------------------------------------------------------------------
# One policy for generation and apply: where an edit lands, and the checks a fix may not switch off

ROOT = Path(__file__).resolve().parents[2]


def _service(repo: str, **overrides: object) -> ServiceSettings:
    return ServiceSettings(name="api", source="file:x", repo=repo, **overrides)  # type: ignore[arg-type]


def _fake_bot(root: Path) -> Path:
    """A checkout shaped like the bot's own (pyproject.toml, fixes/policy.py); returns its policy.py."""
    (root / "fixes").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'fixbot'\n")
    (root / "fixes" / "policy.py").write_text("DENY = True\n")
    return root / "fixes" / "policy.py"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("file:///srv/x/../repo", Path("/srv/repo")),
        ("file://localhost/srv/repo", Path("/srv/repo")),
        ("file:///srv/my%20repo", Path("/srv/my repo")),
        ("/srv/repo/", Path("/srv/repo")),
        ("https://github.com/acme/api.git", None),
        ("git@github.com:acme/api.git", None),
        ("ssh://git@host/acme/api.git", None),
        ("file://otherhost/srv/repo", None),
    ],
)
def test_local_repository(url: str, expected: Path | None) -> None:
    """Paths and file:// URLs resolve to the same real path; network URLs are not local."""
    assert expected == local_repository(url)


@pytest.mark.parametrize("spelling", ["file://{root}", "file://{root}/", "{root}", "file://{root}/.git"])
def test_the_running_bots_own_repository_is_refused_whole(spelling: str) -> None:
    """A service whose repo is the bot's own checkout, however spelled, gets no edit at all."""
    policy = policy_for(_service(spelling.format(root=ROOT)))
    with pytest.raises(PolicyViolation, match="is the bot's own"):
        check_fix(policy, ["README.md"], root=ROOT)


def test_a_symlinked_spelling_of_the_bots_repository_is_refused(tmp_path: Path) -> None:
    """A symlink to the bot's checkout is resolved before the comparison."""
    (tmp_path / "alias").symlink_to(ROOT)
    policy = policy_for(_service(f"file://{tmp_path}/alias"))
    assert "is the bot's own" in policy.refused_whole


def test_bot_repository_and_its_remotes_are_the_bots_own(tmp_path: Path) -> None:
    """`bot_repository`, the main checkout and every worktree, and a local remote all count as the bot's."""
    main, remote = tmp_path / "main", tmp_path / "origin.git"
    here = _fake_bot(main)
    git.Repo.init(main, initial_branch="main")
    git.Repo.init(remote, bare=True)
    git.Repo(main).create_remote("origin", f"file://{remote}")
    git.Repo(main).git.commit("-q", "--allow-empty", "-m", "x", env=_IDENTITY)
    git.Repo(main).git.worktree("add", "-q", str(tmp_path / "wt"), "-b", "wt")
    (tmp_path / "wt" / "fixes").mkdir(exist_ok=True)
    (tmp_path / "wt" / "pyproject.toml").write_text("")
    in_worktree = tmp_path / "wt" / "fixes" / "policy.py"
    cases = [(main, in_worktree), (tmp_path / "wt", here), (remote, here), (tmp_path / "other", here)]
    for repo, location in cases:
        policy = policy_for(_service(f"file://{repo}"), bot_repository=tmp_path / "other", here=location)
        assert "is the bot's own" in policy.refused_whole


def test_a_network_url_of_the_bots_own_remote_is_refused(tmp_path: Path) -> None:
    """The bot's GitHub remote, as a service repo, is refused: the remote is its own code."""
    here = _fake_bot(tmp_path / "bot")
    repo = git.Repo.init(tmp_path / "bot", initial_branch="main")
    repo.create_remote("origin", "https://github.com/acme/fixbot.git")
    policy = policy_for(_service("https://github.com/Acme/fixbot"), here=here)
    with pytest.raises(PolicyViolation, match="is the bot's own"):
        check_paths(["app.py"], policy)
    assert "" == policy_for(_service("https://github.com/acme/api.git"), here=here).refused_whole


def test_an_edit_landing_in_the_bots_code_or_data_is_refused(tmp_path: Path) -> None:
    """In a repository that holds the bot (a monorepo), or its data dir, the bot's parts are off limits."""
    mono = tmp_path / "mono"
    here = _fake_bot(mono / "fixbot")
    (mono / "app").mkdir()
    (mono / "app" / "sneaky").symlink_to(mono / "fixbot" / "fixes")
    data = mono / "var" / "data"
    policy = policy_for(_service(f"file://{mono}"), data_dir=data, here=here)
    assert ["app/x.py"] == check_fix(policy, ["app/x.py"], root=mono)
    for path, what in [
        ("fixbot/fixes/policy.py", "the bot's own code"),
        ("fixbot/pyproject.toml", "the bot's own code"),
        ("app/sneaky/policy.py", "the bot's own code"),
        ("var/data/programs/fixer.json", "the bot's data dir"),
    ]:
        with pytest.raises(PolicyViolation, match=what):
            check_fix(policy, [path], root=mono)


def test_a_repository_inside_the_data_dir_is_refused(tmp_path: Path) -> None:
    """The bot's own clones live in its data dir: a service pointing there gets no edit.

    A bare repository there (the embedded sample service's remote) holds no files to overwrite.
    """
    clone = tmp_path / "data" / "worktrees" / "api"
    git.Repo.init(clone, initial_branch="main")
    policy = policy_for(_service(str(clone)), data_dir=tmp_path / "data")
    with pytest.raises(PolicyViolation, match="the bot's data dir"):
        check_fix(policy, ["app.py"], root=clone)
    bare = tmp_path / "data" / "sample-service" / "remote.git"
    git.Repo.init(bare, bare=True)
    policy = policy_for(_service(str(bare)), data_dir=tmp_path / "data")
    assert ["app.py"] == check_fix(policy, ["app.py"], root=clone)


@pytest.mark.parametrize(
    ("path", "setting"),
    [
        (".github/workflows/ci.yml", "allow_ci_edits"),
        (".gitlab-ci.yml", "allow_ci_edits"),
        (".circleci/config.yml", "allow_ci_edits"),
        ("pytest.ini", "allow_test_config_edits"),
        ("tox.ini", "allow_test_config_edits"),
        ("conftest.py", "allow_test_config_edits"),
        ("tests/unit/conftest.py", "allow_test_config_edits"),
        ("requirements.txt", "allow_dependency_edits"),
        ("requirements-dev.txt", "allow_dependency_edits"),
        ("poetry.lock", "allow_dependency_edits"),
        ("uv.lock", "allow_dependency_edits"),
        ("Pipfile.lock", "allow_dependency_edits"),
    ],
)
def test_checks_a_fix_may_not_switch_off(tmp_path: Path, path: str, setting: str) -> None:
    """CI, test configuration and dependency pins are refused, naming the setting; allowed when it is set."""
    policy = policy_for(_service(str(tmp_path), denied_paths=()))
    with pytest.raises(PolicyViolation, match=f"set {setting} = true for \\[\\[services\\]\\] 'api'"):
        check_fix(policy, [path], root=tmp_path)
    allowed = policy_for(_service(str(tmp_path), denied_paths=(), **{setting: True}))
    assert [path] == check_fix(allowed, [path], root=tmp_path)


PYPROJECT = """\
[project]
name = "api"
dependencies = ["httpx==0.27.0"]

[tool.pytest.ini_options]
addopts = "-q"

[tool.ruff]
line-length = 100
"""


SETUP_CFG = "[metadata]\nname = api\n\n[options]\ninstall_requires = httpx\n\n[tool:pytest]\naddopts = -q\n"


@pytest.mark.parametrize(
    ("name", "old", "new", "setting"),
    [
        ("pyproject.toml", 'addopts = "-q"', 'addopts = "-q --deselect t.py"', "allow_test_config_edits"),
        ("pyproject.toml", '"httpx==0.27.0"', '"httpx==0.20.0"', "allow_dependency_edits"),
        ("pyproject.toml", "line-length = 100", "line-length = 110", None),
        ("pyproject.toml", "[tool.ruff]", "[tool.ruff", "not valid TOML"),
        ("setup.cfg", "addopts = -q", "addopts = -q -k 'not slow'", "allow_test_config_edits"),
        ("setup.cfg", "install_requires = httpx", "install_requires = httpx<0.20", "allow_dependency_edits"),
        ("setup.cfg", "name = api", "name = api2", None),
    ],
)
def test_project_files_are_judged_by_content(
    tmp_path: Path, name: str, old: str, new: str, setting: str | None
) -> None:
    """In pyproject.toml and setup.cfg only the pytest and dependency sections are guarded."""
    policy = policy_for(_service(str(tmp_path)))
    text = {"pyproject.toml": PYPROJECT, "setup.cfg": SETUP_CFG}[name]
    before, after = {name: text}, {name: text.replace(old, new)}
    if setting is None:
        assert [name] == check_fix(policy, [name], root=tmp_path, before=before, after=after)
        return
    with pytest.raises(PolicyViolation, match=setting):
        check_fix(policy, [name], root=tmp_path, before=before, after=after)


_IDENTITY = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@localhost",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@localhost",
}
