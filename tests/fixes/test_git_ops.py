"""The git adapter: identity per commit, tokens never leak, trailers, rejected pushes, a network remote."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixes.errors import GitError, PushRejected
from fixes.git_ops import GitRepo, Identity, gc_due, parse_trailers, scrub
from tests.fixes.sample import SampleRepo, git

BOT = Identity("fixbot", "fixbot@example.com")


def test_scrub_removes_tokens_and_url_credentials() -> None:
    """Secrets and URL credentials are masked in text shown to people."""
    text = "fatal: https://x-access-token:ghp_SECRET@github.com/a/b.git ghp_SECRET"
    assert scrub(text, ["ghp_SECRET"]) == "fatal: https://***@github.com/a/b.git ***"


def test_parse_trailers() -> None:
    """Trailers come from the last paragraph only."""
    message = "fix: x\n\nRoot cause: Key: not a trailer\n\nFix-Id: fix_1\nApproved-by: U1\n"
    assert parse_trailers(message) == {"Fix-Id": "fix_1", "Approved-by": "U1"}
    assert parse_trailers("fix: only a subject") == {}


def test_commit_identity_is_per_commit(sample: SampleRepo, tmp_path: Path) -> None:
    """The bot's identity is on the commit and the process environment is untouched."""
    environ_before = dict(os.environ)
    repo = GitRepo.open_or_clone(str(sample.remote), tmp_path / "wc", branch="main", token="tok_123")
    (repo.path / "x.txt").write_text("x\n")
    sha = repo.commit("chore: x\n\nFix-Id: fix_9\n", ["x.txt"], identity=BOT, new_paths=["x.txt"])
    assert environ_before == dict(os.environ)
    assert git(repo.path, "log", "-1", "--format=%an <%ae>", sha) == "fixbot <fixbot@example.com>"
    assert "tok_123" not in (repo.path / ".git" / "config").read_text()
    repo.push(sha, "main")
    assert sha == sample.remote_head()
    repo.fetch("main")
    assert sha == repo.find_commit_with_trailer("refs/remotes/origin/main", "Fix-Id", "fix_9")
    assert repo.find_commit_with_trailer("refs/remotes/origin/main", "Fix-Id", "fix_") is None


def test_commit_after_reset_holds_exactly_the_paths(sample: SampleRepo, tmp_path: Path) -> None:
    """After a reset, a commit holds exactly its paths: a changed, a deleted and a new file."""
    repo = GitRepo.open_or_clone(str(sample.remote), tmp_path / "wc", branch="main")
    repo.reset_hard(repo.fetch("main"))
    (repo.path / "calc" / "ops.py").write_text("changed = True\n")
    (repo.path / "tests" / "test_ops.py").unlink()
    (repo.path / "new.py").write_text("new = True\n")
    (repo.path / "unrelated.txt").write_text("not part of the fix\n")
    paths = ["calc/ops.py", "tests/test_ops.py", "new.py"]
    sha = repo.commit("fix: x", paths, identity=BOT, new_paths=["new.py"])
    shown = git(repo.path, "show", "--name-status", "--format=", sha).splitlines()
    assert ["A\tnew.py", "D\ttests/test_ops.py", "M\tcalc/ops.py"] == sorted(shown)
    assert sha == git(repo.path, "rev-parse", "HEAD") == repo.head()


def test_commit_leaves_out_what_something_else_staged(sample: SampleRepo, tmp_path: Path) -> None:
    """A file staged after the reset (say, by a test command) is not part of the commit."""
    repo = GitRepo.open_or_clone(str(sample.remote), tmp_path / "wc", branch="main")
    repo.reset_hard(repo.fetch("main"))
    (repo.path / "calc" / "ops.py").write_text("changed = True\n")
    (repo.path / "staged.txt").write_text("staged by someone else\n")
    git(repo.path, "add", "staged.txt")
    sha = repo.commit("fix: x", ["calc/ops.py"], identity=BOT)
    assert ["calc/ops.py"] == git(repo.path, "show", "--name-only", "--format=", sha).splitlines()


def test_gc_due_follows_gits_estimate(tmp_path: Path) -> None:
    """Due above 27 loose objects in objects/17 (6700 / 256, rounded up) or above 50 packs."""
    objects = tmp_path / "objects"
    assert gc_due(objects) is False
    (objects / "17").mkdir(parents=True)
    for number in range(27):
        (objects / "17" / f"{number:038x}").write_bytes(b"")
    (objects / "17" / "tmp_obj_not_counted").write_bytes(b"")
    assert gc_due(objects) is False
    (objects / "17" / f"{27:038x}").write_bytes(b"")
    assert gc_due(objects) is True
    (objects / "pack").mkdir()
    for number in range(51):
        (objects / "pack" / f"pack-{number}.pack").write_bytes(b"")
    assert gc_due(objects, loose_limit=10_000) is True


def test_housekeeping_packs_loose_objects_when_due(sample: SampleRepo, tmp_path: Path) -> None:
    """Commits leave loose objects; housekeeping packs them once git's threshold is reached."""
    repo = GitRepo.open_or_clone(str(sample.remote), tmp_path / "wc", branch="main")
    bucket = repo.path / ".git" / "objects" / "17"
    for batch in range(20):  # until two loose objects land in objects/17 (git's sample folder)
        for number in range(100):
            (repo.path / f"f{batch}_{number}.txt").write_text(f"{batch} {number}\n")
        git(repo.path, "add", "-A")
        git(repo.path, "commit", "-q", "-m", f"batch {batch}")
        if bucket.is_dir() and len(list(bucket.iterdir())) >= 2:
            break
    # Set after the commits above, whose own automatic gc would otherwise have packed already.
    git(repo.path, "config", "gc.auto", "1")
    git(repo.path, "config", "gc.autoDetach", "false")  # in the foreground, so the test can look
    assert repo.housekeeping(loose_limit=6700) is False
    assert repo.housekeeping(loose_limit=1) is True
    assert "count: 0" in git(repo.path, "count-objects", "-v")


def test_push_rejected_when_branch_moved(sample: SampleRepo, tmp_path: Path) -> None:
    """A non-fast-forward push raises PushRejected; a missing remote raises GitError."""
    repo = GitRepo.open_or_clone(str(sample.remote), tmp_path / "wc", branch="main")
    sample.push_change("other.txt", "moved\n")
    (repo.path / "x.txt").write_text("x\n")
    sha = repo.commit("chore: x", ["x.txt"], identity=BOT, new_paths=["x.txt"])
    with pytest.raises(PushRejected):
        repo.push(sha, "main")
    with pytest.raises(GitError, match="could not clone"):
        GitRepo.open_or_clone(str(tmp_path / "missing.git"), tmp_path / "wc2", branch="main")


@pytest.fixture
def git_daemon(sample: SampleRepo) -> Iterator[str]:
    """`git daemon` on 127.0.0.1 serving the sample's remote with push enabled."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = sample.remote.parent
    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--listen=127.0.0.1",
            f"--port={port}",
            "--export-all",
            "--enable=receive-pack",
            f"--base-path={base}",
            "--informative-errors",
            str(base),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        # Ready when it answers a real ls-remote (no sleeping: retry until the port accepts).
        for _ in range(200):
            if (
                subprocess.run(
                    ["git", "ls-remote", f"git://127.0.0.1:{port}/remote.git"],
                    capture_output=True,
                    check=False,
                ).returncode
                == 0
            ):
                break
        yield f"git://127.0.0.1:{port}/remote.git"
    finally:
        daemon.terminate()
        daemon.wait(10)


def test_network_remote_round_trip(git_daemon: str, sample: SampleRepo, tmp_path: Path) -> None:
    """Clone, commit and push over the git protocol on loopback."""
    repo = GitRepo.open_or_clone(git_daemon, tmp_path / "wc", branch="main")
    (repo.path / "net.txt").write_text("over the network\n")
    sha = repo.commit("chore: net", ["net.txt"], identity=BOT, new_paths=["net.txt"])
    repo.push(sha, "main")
    assert sha == sample.remote_head()
