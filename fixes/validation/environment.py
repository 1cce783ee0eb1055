"""The target's own Python environment: where its compile, import and test steps run.

Never the bot's interpreter. A service names it one of two ways:

- `python = "/srv/api/.venv/bin/python"`: an interpreter the operator prepared (checked to start);
- `python = ""` (default): a bootstrap. A virtualenv is built from the target's own dependency files
  (`pyproject.toml`/`setup.py`/`setup.cfg` → the project itself with its dependencies, its package
  metadata and the extras it declares for its tests, `test`/`tests`/`testing`; `requirements*.txt`;
  lock files are part of the key) plus pytest, cached under
  `<data_dir>/envs/<service>-<hash>` where the hash covers those files and the base interpreter's
  version, and rebuilt when they change. pip does the work: it ships with every `venv` (no extra
  binary to install on the bot's host), reads the same index configuration (`PIP_*`, pip.conf) as
  the host, and the build happens once per dependency change, so uv's speed buys little here.

The bootstrap runs the project's build backend (the base's `setup.py`, for instance), so it runs in
the sandbox too, with network (it must reach the package index) but with the allow-listed
environment and the data dir hidden.

An environment that cannot be prepared is `TargetEnvironment.error` = "validation environment
unavailable: <reason>": the validation is an error, never a pass.
"""

from __future__ import annotations

import configparser
import contextlib
import hashlib
import os
import shutil
import sys
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fixes.validation.sandbox import Sandbox

__all__ = [
    "TargetEnvironment",
    "declared_test_extras",
    "dependency_files",
    "environment_key",
    "environment_problem",
    "prepare_environment",
]

_UNAVAILABLE = "validation environment unavailable: "
_READY = ".fixbot-ready"
_LOCK_FILES = ("uv.lock", "poetry.lock", "Pipfile", "Pipfile.lock", "pdm.lock")
_PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg")
_TEST_EXTRAS = ("test", "tests", "testing")
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()
_FAILED: dict[str, str] = {}


@dataclass(frozen=True)
class TargetEnvironment:
    """The interpreter of the target (`python`), or why there is none (`error`)."""

    python: str
    origin: str  # "python setting" | "bootstrap <dir>" | "" when unavailable
    error: str = ""

    @property
    def available(self) -> bool:
        return not self.error

    @classmethod
    def unavailable(cls, reason: str) -> TargetEnvironment:
        return cls("", "", _UNAVAILABLE + reason)


def dependency_files(root: Path) -> list[str]:
    """The repository-relative files a bootstrap is built from (sorted; missing ones left out)."""
    names = [*_PROJECT_FILES, *_LOCK_FILES]
    found = [name for name in names if (root / name).is_file()]
    found += [p.name for p in root.glob("requirements*.txt") if p.is_file()]
    return sorted(found)


def environment_key(root: Path, base_python: str = sys.executable) -> str:
    """A hash of the dependency files' names and bytes and the base interpreter's version."""
    digest = hashlib.sha256(f"{sys.version_info[:3]}\0{Path(base_python).name}\0".encode())
    for name in dependency_files(root):
        digest.update(name.encode() + b"\0" + (root / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def declared_test_extras(root: Path) -> list[str]:
    """The extras the project declares for its tests (`[project.optional-dependencies]` in
    pyproject.toml, `[options.extras_require]` in setup.cfg) among test/tests/testing.

    A suite's own imports (freezegun, hypothesis...) are usually declared there, not as dependencies.
    """
    declared: set[str] = set()
    try:
        project = tomllib.loads((root / "pyproject.toml").read_text("utf-8")).get("project", {})
        declared.update(project.get("optional-dependencies", {}))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, AttributeError):
        pass
    config = configparser.ConfigParser(interpolation=None)
    with contextlib.suppress(configparser.Error, UnicodeDecodeError):
        config.read(root / "setup.cfg", encoding="utf-8")
    if config.has_section("options.extras_require"):
        declared.update(config.options("options.extras_require"))
    return [name for name in _TEST_EXTRAS if name in declared]


def _lock_for(key: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


def _check_interpreter(python: str, sandbox: Sandbox, cwd: Path, timeout: float) -> str:
    """'' when `python` starts and runs code in the sandbox; else why not."""
    if not Path(python).is_absolute():
        resolved = shutil.which(python)
        if resolved is None:
            return f"the interpreter {python!r} is not on PATH; give an absolute path"
        python = resolved
    if not os.access(python, os.X_OK):
        return f"the interpreter {python!r} does not exist or is not executable"
    done = sandbox.run([python, "-c", "import sys"], cwd=cwd, timeout=timeout)
    if done.status != 0:
        return f"the interpreter {python!r} does not start: {(done.error or done.output).strip()[-300:]}"
    return ""


def environment_problem(python: str, service: str, cache_dir: Path) -> str:
    """Why the service's environment is known to be unavailable ("" when it is not), without running it."""
    if python:
        path = python if Path(python).is_absolute() else shutil.which(python)
        if path is None or not os.access(path, os.X_OK):
            return _UNAVAILABLE + f"the interpreter {python!r} does not exist or is not executable"
        return ""
    for target, error in list(_FAILED.items()):
        if Path(target).parent == cache_dir and Path(target).name.startswith(f"{service}-"):
            return TargetEnvironment.unavailable(error).error
    return ""


def prepare_environment(
    *,
    service: str,
    python: str,
    root: Path,
    cache_dir: Path,
    sandbox: Sandbox,
    timeout: float = 900,
    host_env: Mapping[str, str] | None = None,
) -> TargetEnvironment:
    """The target's environment for the tree at `root` (see the module docstring)."""
    if python:
        path = python if Path(python).is_absolute() else (shutil.which(python) or python)
        error = _check_interpreter(path, sandbox, root, min(timeout, 60))
        return TargetEnvironment.unavailable(error) if error else TargetEnvironment(path, "python setting")
    host_env = host_env or {}
    files = dependency_files(root)
    key = environment_key(root)
    target = cache_dir / f"{service}-{key}"
    env_python = target / "bin" / "python"
    with _lock_for(str(target)):
        if (target / _READY).is_file():
            return TargetEnvironment(str(env_python), f"bootstrap {target}")
        if str(target) in _FAILED:
            return TargetEnvironment.unavailable(_FAILED[str(target)])
        error = _build(target, root, files, sandbox, timeout, host_env=host_env)
        if error:
            _FAILED[str(target)] = error
            return TargetEnvironment.unavailable(error)
        for old in cache_dir.glob(f"{service}-*"):
            if old != target and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
        return TargetEnvironment(str(env_python), f"bootstrap {target}")


def _pip_environment(host_env: Mapping[str, str]) -> dict[str, str]:
    # The host's index configuration (a mirror, a wheel folder) applies to the bootstrap as well.
    env = {k: v for k, v in host_env.items() if k.startswith("PIP_")}
    user_config = Path.home() / ".config" / "pip" / "pip.conf"
    if "PIP_CONFIG_FILE" not in env and user_config.is_file():
        env["PIP_CONFIG_FILE"] = str(user_config)
    return env


def _build(
    target: Path,
    root: Path,
    files: list[str],
    sandbox: Sandbox,
    timeout: float,
    *,
    host_env: Mapping[str, str],
) -> str:
    # Built at its final path (a venv's scripts record it); only the marker written last makes it
    # usable, so a build that was interrupted is removed and redone.
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    base = getattr(sys, "_base_executable", sys.executable)
    steps: list[list[str]] = [[base, "-m", "venv", str(target)]]
    pip = [str(target / "bin" / "python"), "-m", "pip", "install", "-q"]
    steps += [[*pip, "-r", name] for name in files if name.startswith("requirements")]
    source = target / "project-source"
    if any(name in files for name in _PROJECT_FILES):
        # From a copy: an in-tree build (egg-info, build/) must not dirty the checkout.
        shutil.copytree(root, source, ignore=shutil.ignore_patterns(".git"), symlinks=True)
        extras = declared_test_extras(root)
        steps.append([*pip, f"{source}[{','.join(extras)}]" if extras else str(source)])
    steps.append([*pip, "pytest"])
    for argv in steps:
        done = sandbox.run(
            argv,
            cwd=root,
            timeout=timeout,
            expose=[target.parent],
            extra_env=_pip_environment(host_env),
            network=True,
        )
        if done.status != 0:
            shutil.rmtree(target, ignore_errors=True)
            why = done.error or done.output.strip()[-600:]
            return f"bootstrap step `{' '.join(argv[-3:])}` failed: {why}"
    shutil.rmtree(source, ignore_errors=True)
    (target / _READY).write_text("ok\n", encoding="utf-8")
    return ""
