"""A killed bot's `git push` does not live on and land its commit later (a real killed process tree)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import git
import pytest

from fixes.children import OWNER_ENV
from fixes.git_ops import GitRepo
from tests.fixes.llm_support import GIT_IDENTITY

REPO_ROOT = Path(__file__).resolve().parents[2]

# The remote holds every push in its pre-receive hook for 60 s, long enough to kill the pusher
# mid-push; had it finished, the commit would land.
HOOK = """#!/bin/sh
echo $$ > "{pidfile}"
sleep 60
exit 0
"""


def _marked(tag: str) -> dict[int, str]:
    """pid → command line of every process carrying `OWNER_ENV=<tag>`."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if f"{OWNER_ENV}={tag}".encode() in environ:
            found[int(entry.name)] = cmdline.strip()
    return found


def _wait_for(predicate: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)  # polling real processes; the condition, not the sleep, decides


def _start_pusher(clone: Path, sha: str, pidfile: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A 'bot' process pushing `sha`, once the push is held in the remote's hook; and its owner tag."""
    bot = subprocess.Popen(
        [sys.executable, "-m", "tests.fixes.push_child", str(clone), sha, "main"],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for(pidfile.exists, "the push to reach the remote's hook")
    return bot, f"{clone.resolve()}:{bot.pid}"


@pytest.fixture
def held_push(tmp_path: Path) -> tuple[Path, Path, str, Path]:
    """(remote, clone, sha of a new commit in the clone, hook pid file)."""
    remote = tmp_path / "remote.git"
    git.Repo.init(remote, bare=True, initial_branch="main")
    work = tmp_path / "work"
    repo = git.Repo.init(work, initial_branch="main")
    (work / "app.py").write_text("x = 1\n")
    repo.git.add("-A")
    repo.git.commit("-q", "-m", "base", env=GIT_IDENTITY)
    repo.git.push(str(remote), "main")
    pidfile = tmp_path / "hook.pid"
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(HOOK.format(pidfile=pidfile))
    hook.chmod(0o755)
    clone = tmp_path / "clone"
    cloned = git.Repo.clone_from(str(remote), clone, branch="main")
    (clone / "app.py").write_text("x = 2\n")
    cloned.git.add("-A")
    cloned.git.commit("-q", "-m", "fix", env=GIT_IDENTITY)
    return remote, clone, cloned.head.commit.hexsha, pidfile


def test_killed_bot_push_dies_and_its_orphans_are_ended_before_reconcile(
    held_push: tuple[Path, Path, str, Path],
) -> None:
    """kill -9 the pushing process: git push dies with it; the sweep ends the rest; nothing lands."""
    remote, clone, sha, pidfile = held_push
    base = git.Repo(remote).heads.main.commit.hexsha
    bot, tag = _start_pusher(clone, sha, pidfile)
    try:
        assert any(" push " in f" {cmd} " for cmd in _marked(tag).values())
        os.kill(bot.pid, signal.SIGKILL)
        bot.wait(10)

        # The parent-death signal ends `git push` itself at once...
        _wait_for(lambda: not any(" push " in f" {c} " for c in _marked(tag).values()), "git push to die")
        # ...but the remote side (receive-pack and its hook) is git's child and still holds the push.
        assert _marked(tag)

        ended = GitRepo(git.Repo(clone)).end_orphans()
        assert ended
        assert {} == _marked(tag)
    finally:
        for pid in _marked(tag):
            os.kill(pid, signal.SIGKILL)
    # Nothing lands later: the remote still has its base, and no process is left to change that.
    assert base == git.Repo(remote).heads.main.commit.hexsha


def test_live_bot_children_are_not_orphans(held_push: tuple[Path, Path, str, Path]) -> None:
    """The sweep leaves alone the git processes of a bot that is still running."""
    _remote, clone, sha, pidfile = held_push
    bot, tag = _start_pusher(clone, sha, pidfile)
    try:
        assert [] == GitRepo(git.Repo(clone)).end_orphans()
        assert _marked(tag)
    finally:
        bot.kill()
        bot.wait(10)
        GitRepo(git.Repo(clone)).end_orphans()


def test_killed_bot_test_run_dies_with_it(tmp_path: Path) -> None:
    """kill -9 a process running validation tests: the test process does not live on."""
    pidfile = tmp_path / "test.pid"
    script = f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    # Sandbox "off" (env-only): the test process's pid is then the host's, which this test reads.
    runner = (
        "import sys; from pathlib import Path; from fixes.validation import run_tests; "
        "from fixes.validation.environment import TargetEnvironment; "
        "from fixes.validation.sandbox import Sandbox; "
        "run_tests(Path(sys.argv[1]), command=sys.argv[2], timeout=120, "
        "environment=TargetEnvironment(sys.executable, 'test'), sandbox=Sandbox(mode='off'))"
    )
    bot = subprocess.Popen(
        [sys.executable, "-c", runner, str(tmp_path), f'{sys.executable} -c "{script}"'],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for(lambda: pidfile.exists() and pidfile.read_text().isdigit(), "the test run to start")
    test_pid = int(pidfile.read_text())
    os.kill(bot.pid, signal.SIGKILL)
    bot.wait(10)

    def gone() -> bool:
        try:
            status = Path(f"/proc/{test_pid}/status").read_text()
        except OSError:
            return True
        return "\nState:\tZ" in status  # killed, waiting only to be reaped by init

    _wait_for(gone, "the orphaned test process to die")
