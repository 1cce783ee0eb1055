"""What a fix may touch: one policy, used by fix generation and by apply alike.

`policy_for(service, ...)` builds a service's `FixPolicy`; `check_fix` is the decision. It refuses,
with a message naming the path, the rule and the setting that would allow it:

- a path that could leave the repository (absolute, `..`, backslash, `.git`), or a symlink that does;
- an edit that lands in the bot's own source tree (the checkout it runs from, its git repository and
  that repository's local remotes, `bot_repository`) or in its data dir. The service's `repo` is
  resolved first (a path or a `file://` URL, symlinks followed), so `file:///srv/fixbot` is the same
  repository as `/srv/fixbot`; a network URL equal to one of the bot's own remotes is refused whole;
- `services.denied_paths`, then what is outside `services.allowed_paths`;
- the files that decide whether a fix passes, unless the service allows them explicitly:
  CI configuration (`allow_ci_edits`), test configuration (`allow_test_config_edits`: `pytest.ini`,
  `tox.ini`, `conftest.py`, `[tool:pytest]` of `setup.cfg`, `[tool.pytest…]` of `pyproject.toml`),
  dependency pins (`allow_dependency_edits`: `requirements*.txt` and lock files, the dependency tables
  of `pyproject.toml`, `install_requires`/`extras_require` of `setup.cfg`);
- a fix over `max_files_per_fix` or `max_lines_per_fix`.

The sections of `pyproject.toml` and `setup.cfg` are judged from the contents before and after the
edit; `check_fix` does that when it is given them (call it once on the paths, before any file is read,
and once more with the contents).

Patterns are repository-relative globs: `*` and `?` stay inside one path segment, `**` spans any
number of segments (`app/**` matches everything under app/, `**/.env*` any .env file at any depth).
`.git/` is always denied, whatever the configuration says.
"""

from __future__ import annotations

import configparser
import functools
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

from core.settings import ServiceSettings
from fixes.errors import PolicyViolation

__all__ = [
    "FixPolicy",
    "Guard",
    "OwnCode",
    "changed_line_count",
    "check_fix",
    "check_paths",
    "check_tree",
    "glob_matches",
    "local_repository",
    "normalize_path",
    "own_code",
    "policy_for",
]


@dataclass(frozen=True)
class Guard:
    """A kind of file that can switch off a fix's own checks: refused unless `setting` is true."""

    kind: str
    setting: str
    why: str
    globs: tuple[str, ...]


CI_CONFIG = Guard(
    "CI configuration",
    "allow_ci_edits",
    "it decides which checks run on the pushed commit",
    (
        ".github/workflows/**",
        ".github/actions/**",
        ".gitlab-ci.yml",
        ".gitlab-ci/**",
        ".circleci/**",
        ".travis.yml",
        "azure-pipelines.yml",
        ".azure-pipelines/**",
        "bitbucket-pipelines.yml",
        "Jenkinsfile",
        ".buildkite/**",
        ".drone.yml",
        ".woodpecker.yml",
        ".woodpecker/**",
        ".ci/**",
        ".pre-commit-config.yaml",
    ),
)
TEST_CONFIG = Guard(
    "test configuration",
    "allow_test_config_edits",
    "it decides which tests run and how their results are read",
    ("**/pytest.ini", "**/tox.ini", "**/conftest.py"),
)
DEPENDENCY_PINS = Guard(
    "dependency pins",
    "allow_dependency_edits",
    "it changes what the code runs against, which the tests of this fix do not show",
    (
        "**/requirements*.txt",
        "**/requirements/*.txt",
        "**/constraints*.txt",
        "**/poetry.lock",
        "**/uv.lock",
        "**/Pipfile",
        "**/Pipfile.lock",
        "**/pdm.lock",
    ),
)
GUARDS = (CI_CONFIG, TEST_CONFIG, DEPENDENCY_PINS)

# Tables of pyproject.toml (dotted paths) and sections/keys of setup.cfg that a guard covers.
_PYPROJECT_TABLES = {
    TEST_CONFIG: ("tool.pytest",),
    DEPENDENCY_PINS: (
        "project.dependencies",
        "project.optional-dependencies",
        "dependency-groups",
        "build-system.requires",
        "tool.poetry.dependencies",
        "tool.poetry.dev-dependencies",
        "tool.poetry.group",
        "tool.uv",
        "tool.pdm.dev-dependencies",
    ),
}
_SETUP_CFG_KEYS = {
    TEST_CONFIG: (("tool:pytest", None),),
    DEPENDENCY_PINS: (
        ("options", "install_requires"),
        ("options", "setup_requires"),
        ("options", "tests_require"),
        ("options.extras_require", None),
    ),
}


@dataclass(frozen=True)
class FixPolicy:
    """The limits for one service (built by `policy_for` from `ServiceSettings`).

    `origin` is the real path of the repository fixes are delivered to, when it is local; `forbidden`
    the real paths no edit may land in, each with what it is; `refused_whole` a reason to refuse every
    edit (the service's repository is the bot's own). `allow` holds the settings of the guards the
    service switched off.
    """

    allowed: tuple[str, ...] = ("**",)
    denied: tuple[str, ...] = ()
    max_files: int = 5
    max_lines: int = 200
    service: str = ""
    origin: Path | None = None
    forbidden: tuple[tuple[Path, str], ...] = ()
    refused_whole: str = ""
    allow: frozenset[str] = frozenset()


def local_repository(url: str) -> Path | None:
    """The real path of a repository given as a path or `file://` URL; None for a network URL."""
    if url.startswith("file:"):
        parsed = urlparse(url)
        if parsed.netloc not in ("", "localhost"):
            return None
        return Path(unquote(parsed.path)).expanduser().resolve()
    if "://" in url or re.match(r"^[^/.~][^/]*:", url):
        return None  # https://, ssh://, git://, or scp-like host:path
    return Path(url).expanduser().resolve()


def _comparable_url(url: str) -> str:
    return url.strip().rstrip("/").removesuffix(".git").rstrip("/").lower()


# The bot's code inside a checkout of its repository: what it runs, its checks and its project files.
_OWN_CODE = (
    "core",
    "bot",
    "fixes",
    "monitoring",
    "migrations",
    "tests",
    "benchmarks",
    ".ci",
    ".github",
    "pyproject.toml",
    "agent.toml",
    "Procfile",
)


@dataclass(frozen=True)
class OwnCode:
    """The bot's own code, as real paths: fixes to these repositories or paths are always refused.

    `repositories`: its checkout, the git directory behind it (for a worktree, the main checkout too),
    their local remotes and `bot_repository`; `paths`: its code inside each of those work trees (or the
    installed packages); `urls`: the network remotes of its repository, for comparison.
    """

    repositories: tuple[Path, ...]
    paths: tuple[Path, ...]
    urls: tuple[str, ...]


def own_code(bot_repository: Path | None = None, *, here: Path | None = None) -> OwnCode:
    """What `OwnCode` holds for the running bot (found from this file's location) and `bot_repository`."""
    root = (here or Path(__file__)).resolve().parents[1]
    repositories, urls = _own_repositories(root)
    if bot_repository is not None:
        repositories += (bot_repository.resolve(),)
    trees = [r for r in repositories if not r.name.endswith(".git")]
    paths = [tree / name for tree in trees for name in _OWN_CODE]
    # Installed as a wheel, the packages sit in site-packages: only they are ours, not their folder.
    paths += [root / name for name in ("core", "bot", "fixes", "monitoring", "migrations")]
    return OwnCode(tuple(dict.fromkeys(repositories)), tuple(dict.fromkeys(paths)), urls)


@functools.lru_cache(maxsize=8)
def _own_repositories(root: Path) -> tuple[tuple[Path, ...], tuple[str, ...]]:
    repositories: list[Path] = [root] if (root / "pyproject.toml").is_file() else []
    urls: list[str] = []
    git_dir = _git_common_dir(root)
    if git_dir is not None:
        repositories.append(git_dir)
        if git_dir.name == ".git":
            repositories.append(git_dir.parent)
        # Every worktree of the repository is its code too (each names its checkout in `gitdir`).
        for marker in sorted(git_dir.glob("worktrees/*/gitdir")):
            repositories.append(Path(marker.read_text(encoding="utf-8").strip()).resolve().parent)
        config = git_dir / "config"
        text = config.read_text(encoding="utf-8", errors="replace") if config.is_file() else ""
        for url in re.findall(r"^\s*url\s*=\s*(.+?)\s*$", text, re.MULTILINE):
            local = local_repository(url)
            if local is not None:
                repositories.append(local)
            else:
                urls.append(_comparable_url(url))
    return tuple(dict.fromkeys(repositories)), tuple(urls)


def _git_common_dir(root: Path) -> Path | None:
    dot_git = root / ".git"
    if dot_git.is_dir():
        return dot_git.resolve()
    if not dot_git.is_file():
        return None
    # A worktree: ".git" is a file naming its git dir, whose "commondir" names the shared one.
    match = re.match(r"gitdir:\s*(.+)", dot_git.read_text(encoding="utf-8", errors="replace").strip())
    if match is None:
        return None
    git_dir = (root / match.group(1)).resolve()
    common = git_dir / "commondir"
    if common.is_file():
        return (git_dir / common.read_text(encoding="utf-8").strip()).resolve()
    return git_dir


def _same_repository(origin: Path, repository: Path) -> bool:
    """`origin` is `repository`, or lies inside its git directory (`…/.git`, or a bare `x.git`)."""
    git_dir = repository if repository.name.endswith(".git") else repository / ".git"
    return origin == repository or origin.is_relative_to(git_dir)


def policy_for(
    service: ServiceSettings,
    *,
    data_dir: Path | None = None,
    bot_repository: Path | None = None,
    here: Path | None = None,
) -> FixPolicy:
    """The policy of `service`: its settings, plus where no edit may land (the bot itself, its data).

    `here` stands for the location of the running code (tests point it at a copy of the bot).
    """
    own = own_code(bot_repository, here=here)
    forbidden = [(path, "the bot's own code") for path in own.paths]
    if data_dir is not None:
        forbidden.append((data_dir.resolve(), "the bot's data dir"))
    origin = local_repository(service.repo)
    refused_whole = ""
    if origin is not None:
        mine = next((r for r in own.repositories if _same_repository(origin, r)), None)
        if mine is not None:
            refused_whole = (
                f"the repository {service.repo!r} is the bot's own ({mine}); the bot never edits its own code"
            )
    elif _comparable_url(service.repo) in own.urls:
        refused_whole = f"the repository {service.repo!r} is the bot's own; the bot never edits its own code"
    return FixPolicy(
        allowed=tuple(service.allowed_paths),
        denied=tuple(service.denied_paths),
        max_files=service.max_files_per_fix,
        max_lines=service.max_lines_per_fix,
        service=service.name,
        origin=origin,
        forbidden=tuple(forbidden),
        refused_whole=refused_whole,
        allow=frozenset(guard.setting for guard in GUARDS if getattr(service, guard.setting)),
    )


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


def _guard_of(path: str, policy: FixPolicy) -> Guard | None:
    return next(
        (
            guard
            for guard in GUARDS
            if guard.setting not in policy.allow and any(glob_matches(path, g) for g in guard.globs)
        ),
        None,
    )


def _guard_refusal(path: str, guard: Guard, policy: FixPolicy, part: str = "") -> PolicyViolation:
    where = f" ({part})" if part else ""
    service = f"[[services]] {policy.service!r}" if policy.service else "the service"
    return PolicyViolation(
        f"refused path {path!r}{where}: {guard.kind} may not be changed by a fix, because {guard.why}; "
        f"change it by hand, or set {guard.setting} = true for {service} to allow it"
    )


def check_paths(paths: Iterable[str], policy: FixPolicy, *, diff: str = "") -> list[str]:
    """Normalised paths, or `PolicyViolation` for a path outside the rules or a fix over the caps.

    Pure: patterns and path strings only (`check_fix` adds the filesystem and the contents).
    """
    normalized = sorted({normalize_path(p) for p in paths})
    if policy.refused_whole:
        raise PolicyViolation(f"refused: {policy.refused_whole}")
    for path in normalized:
        denied = next((g for g in policy.denied if glob_matches(path, g)), None)
        if denied is not None:
            raise PolicyViolation(
                f"refused path {path!r}: denied by the pattern {denied!r} (services.denied_paths); "
                "change it by hand or adjust the configuration"
            )
        guard = _guard_of(path, policy)
        if guard is not None:
            raise _guard_refusal(path, guard, policy)
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


def check_fix(
    policy: FixPolicy,
    paths: Iterable[str],
    *,
    root: Path,
    diff: str = "",
    before: Mapping[str, str] | None = None,
    after: Mapping[str, str] | None = None,
) -> list[str]:
    """The one policy decision, for fix generation and apply alike: the normalised paths, or a refusal.

    Args:
        policy: from `policy_for`.
        paths: the repository-relative paths the fix touches.
        root: the checkout the edits are applied in (symlinks in it must not leave it).
        diff: the fix's unified diff, for the line cap.
        before, after: the touched files' contents; with them, the guarded sections of
            `pyproject.toml` and `setup.cfg` are judged too.

    Raises:
        PolicyViolation: naming the path, the rule, and the setting that would allow it.
    """
    normalized = check_paths(paths, policy, diff=diff)
    _check_landing(policy, normalized)
    check_tree(root, normalized)
    if after is not None:
        for path in normalized:
            if path in after:
                _check_contents(path, (before or {}).get(path, ""), after[path], policy)
    return normalized


def _check_landing(policy: FixPolicy, paths: Sequence[str]) -> None:
    """Where each path lands in the delivered-to repository, when it is local: never in the bot itself.

    A bare repository has no work tree: a push lands in its objects, not as files (the embedded sample
    service keeps one in the data dir). The bot's own bare repositories are refused whole instead.
    """
    if policy.origin is None or _is_bare(policy.origin):
        return
    for rel in paths:
        target = (policy.origin / rel).resolve()
        if not target.is_relative_to(policy.origin):
            raise PolicyViolation(
                f"refused path {rel!r}: in {policy.origin} it resolves to {target}, outside the repository"
            )
        for forbidden, what in policy.forbidden:
            if target == forbidden or target.is_relative_to(forbidden):
                raise PolicyViolation(
                    f"refused path {rel!r}: it lands in {what} ({forbidden}); the bot never edits it, "
                    "whatever the configuration says"
                )


def _is_bare(repository: Path) -> bool:
    return (
        (repository / "HEAD").is_file()
        and (repository / "objects").is_dir()
        and not (repository / ".git").exists()
    )


def _check_contents(path: str, before: str, after: str, policy: FixPolicy) -> None:
    name = PurePosixPath(path).name
    changed: set[Any]
    if name == "pyproject.toml":
        changed = _changed_toml_tables(path, before, after)
        rules: Mapping[Guard, tuple[Any, ...]] = _PYPROJECT_TABLES
    elif name == "setup.cfg":
        changed = _changed_cfg_keys(path, before, after)
        rules = _SETUP_CFG_KEYS
    else:
        return
    for guard, parts in rules.items():
        if guard.setting in policy.allow:
            continue
        for part in parts:
            if part in changed:
                label = part if isinstance(part, str) else f"[{part[0]}] {part[1] or ''}".strip()
                raise _guard_refusal(path, guard, policy, label)


def _changed_toml_tables(path: str, before: str, after: str) -> set[str]:
    old, new = _parse_toml(path, before, "before"), _parse_toml(path, after, "after")
    return {
        dotted
        for tables in _PYPROJECT_TABLES.values()
        for dotted in tables
        if _lookup(old, dotted) != _lookup(new, dotted)
    }


def _parse_toml(path: str, text: str, when: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text) if text.strip() else {}
    except tomllib.TOMLDecodeError as exc:
        raise PolicyViolation(
            f"refused path {path!r}: it is not valid TOML {when} the edit ({exc}), so the bot cannot "
            "tell whether the fix changes the test configuration or the dependencies"
        ) from None


def _lookup(data: Mapping[str, Any], dotted: str) -> Any:
    value: Any = data
    for key in dotted.split("."):
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def _changed_cfg_keys(path: str, before: str, after: str) -> set[tuple[str, str | None]]:
    old, new = _parse_cfg(path, before, "before"), _parse_cfg(path, after, "after")
    changed: set[tuple[str, str | None]] = set()
    for parts in _SETUP_CFG_KEYS.values():
        for section, key in parts:
            if key is None:
                same = old.get(section) == new.get(section)
            else:
                same = old.get(section, {}).get(key) == new.get(section, {}).get(key)
            if not same:
                changed.add((section, key))
    return changed


def _parse_cfg(path: str, text: str, when: str) -> dict[str, dict[str, str]]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        raise PolicyViolation(
            f"refused path {path!r}: it cannot be read as an INI file {when} the edit ({exc}), so the "
            "bot cannot tell whether the fix changes the test configuration or the dependencies"
        ) from None
    return {name: dict(parser[name]) for name in parser.sections()}


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
