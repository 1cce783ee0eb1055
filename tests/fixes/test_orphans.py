"""A killed bot's children do not live on (real killed process trees).

Its `git push` does not land its commit later; its validation run's processes, down to a test's
grandchild that left the session, are gone by the time startup reconciles.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import git
import pytest
from sqlalchemy.engine import Engine

from core.settings import Settings
from core.store.db import make_session_factory
from fixes.apply import reconcile_unfinished
from fixes.children import OWNER_ENV, RUN_OWNER_ENV, end_run_orphans
from fixes.git_ops import GitRepo
from fixes.validation.sandbox import ISOLATED, probe
from tests.fixes.llm_support import GIT_IDENTITY

REPO_ROOT = Path(__file__).resolve().parents[2]

# The remote holds every push in its pre-receive hook for 60 s, long enough to kill the pusher
# mid-push; had it finished, the commit would land.
HOOK = """#!/bin/sh
echo $$ > "{pidfile}"
sleep 60
exit 0
"""


def _processes(environment_matches: Callable[[list[bytes]], bool]) -> dict[int, str]:
    """pid → command line of every process whose environment entries match."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if environment_matches(environ):
            found[int(entry.name)] = cmdline.strip()
    return found


def _marked(tag: str) -> dict[int, str]:
    """pid → command line of every process carrying `OWNER_ENV=<tag>`."""
    return _processes(lambda environ: f"{OWNER_ENV}={tag}".encode() in environ)


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


# The test command of a target whose test starts a helper that leaves the session and double-forks
# (as a daemonising test server would): the grandchild is no longer the test process's child or in
# its session, so neither the parent-death signal nor a session kill reaches it.
SPAWNER = """\
import os, sys, time
ready, parent_file = sys.argv[1], sys.argv[2]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        with open(ready + ".tmp", "w") as handle:
            handle.write(str(os.getpid()))
        os.rename(ready + ".tmp", ready)
        time.sleep(120)
    os._exit(0)
with open(parent_file, "w") as handle:
    handle.write(str(os.getpid()))
time.sleep(120)
"""


def _validating_bot(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[bytes], Path, Path, Path]:
    """A 'bot' process validating with a test command that spawns an escaping grandchild."""
    spawner = tmp_path / "spawner.py"
    spawner.write_text(SPAWNER)
    ready, parent_file = tmp_path / "grandchild.pid", tmp_path / "test.pid"
    runner = (
        "import sys; from pathlib import Path; from fixes.validation import run_tests; "
        "from fixes.validation.environment import TargetEnvironment; "
        "from fixes.validation.sandbox import Sandbox; "
        "run_tests(Path(sys.argv[1]), command=sys.argv[2], timeout=120, "
        "environment=TargetEnvironment(sys.executable, 'test'), sandbox=Sandbox(mode=sys.argv[3]))"
    )
    command = f"{sys.executable} {spawner} {ready} {parent_file}"
    bot = subprocess.Popen(
        [sys.executable, "-c", runner, str(tmp_path), command, mode],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return bot, spawner, ready, parent_file


def _gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "\nState:\tZ" in status  # killed, waiting only to be reaped


def _run_processes(marker: str) -> dict[int, str]:
    """pid → command line of every process of a validation run whose command line has `marker`."""
    prefix = f"{RUN_OWNER_ENV}=".encode()
    runs = _processes(lambda environ: any(item.startswith(prefix) for item in environ))
    return {pid: cmdline for pid, cmdline in runs.items() if marker in cmdline}


def test_a_grandchild_that_escaped_the_run_is_ended_by_the_startup_sweep_before_reconcile(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    """Without namespaces: kill -9 the bot mid-validation; the setsid+double-forked grandchild of the
    test command outlives it (nothing else reaches it), and startup ends it before reconciling."""
    bot, _, ready, parent_file = _validating_bot(tmp_path, "off")
    _wait_for(lambda: ready.exists() and parent_file.exists(), "the test and its grandchild to start")
    grandchild, test_process = int(ready.read_text()), int(parent_file.read_text())
    try:
        os.kill(bot.pid, signal.SIGKILL)
        bot.wait(10)
        _wait_for(lambda: _gone(test_process), "the test process to die with the bot")
        assert not _gone(grandchild)  # only the sweep can end it now

        settings = Settings(config_path=None, data_dir=tmp_path / "data", services=())
        said: list[str] = []
        assert [] == reconcile_unfinished(settings, make_session_factory(sqlite_engine), progress=said.append)

        assert _gone(grandchild)
        assert [f"ended validation process {grandchild} left running by a killed bot"] == [
            line for line in said if str(grandchild) in line
        ]
    finally:
        if not _gone(grandchild):
            os.kill(grandchild, signal.SIGKILL)


def test_the_sweep_leaves_a_live_bots_validation_alone(tmp_path: Path) -> None:
    """While the bot runs, its test command's grandchild is its business, not an orphan."""
    bot, _, ready, parent_file = _validating_bot(tmp_path, "off")
    _wait_for(lambda: ready.exists() and parent_file.exists(), "the test and its grandchild to start")
    grandchild = int(ready.read_text())
    try:
        end_run_orphans()
        assert not _gone(grandchild)
    finally:
        os.kill(bot.pid, signal.SIGKILL)
        bot.wait(10)
        end_run_orphans()
    assert _gone(grandchild)


def test_a_new_process_with_the_dead_bots_pid_does_not_shelter_its_orphans(tmp_path: Path) -> None:
    """The marker names the bot's pid *and* start time: the same pid started later is another bot."""
    ready = tmp_path / "ready"
    orphan = subprocess.Popen(
        [sys.executable, "-c", f"open({str(ready)!r}, 'w').close(); import time; time.sleep(120)"],
        env={"PATH": "/usr/bin:/bin", RUN_OWNER_ENV: f"{os.getpid()}:1"},  # our pid, another start
    )
    try:
        _wait_for(ready.exists, "the marked process to start")
        assert orphan.pid in end_run_orphans()
        assert orphan.wait(10) == -signal.SIGKILL
    finally:
        orphan.kill()
        orphan.wait(10)


@pytest.mark.skipif(probe()[0] != ISOLATED, reason="needs user and PID namespaces (unshare)")
def test_with_namespaces_every_descendant_dies_with_the_bot(tmp_path: Path) -> None:
    """With the PID namespace, kill -9 of the bot takes even the escaped grandchild, without a sweep."""
    bot, spawner, ready, parent_file = _validating_bot(tmp_path, "auto")
    _wait_for(lambda: ready.exists() and parent_file.exists(), "the test and its grandchild to start")
    running = _run_processes(str(spawner))
    assert len(running) >= 2  # the test process and its grandchild (pids as the host sees them)
    try:
        os.kill(bot.pid, signal.SIGKILL)
        bot.wait(10)
        _wait_for(lambda: all(_gone(pid) for pid in running), "every process of the run to die")
    finally:
        for pid in running:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)
