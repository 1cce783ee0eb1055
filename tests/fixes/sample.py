"""A sample target repository for pipeline tests: a tiny package with a bug, pytest tests, a bare remote.

Importable by the test process and by the child processes of the crash tests (run from the repo root).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from core.settings import ApplySettings, ServiceSettings, Settings
from core.store import lifecycle
from core.store.proposals import create_proposal
from fixes.edits import Edit, apply_edits

__all__ = ["BREAKING_EDIT", "FIX_EDIT", "SampleRepo", "git", "make_sample", "make_settings", "snapshot"]

OPS = '''"""Arithmetic helpers."""


def average(values):
    return sum(values) / len(values)


def total(values):
    return sum(values)
'''

TESTS = """from calc.ops import average, total


def test_average():
    assert average([1, 2, 3]) == 2


def test_total():
    assert total([1, 2]) == 3
"""

# The fix for the ZeroDivisionError on an empty list, and a "fix" that breaks the tests.
FIX_EDIT = Edit(
    "calc/ops.py",
    "    return sum(values) / len(values)\n",
    "    if not values:\n        return 0.0\n    return sum(values) / len(values)\n",
)
BREAKING_EDIT = Edit("calc/ops.py", "    return sum(values) / len(values)\n", "    return sum(values) / 2\n")

_IDENTITY = ["-c", "user.name=Dev", "-c", "user.email=dev@example.com", "-c", "commit.gpgsign=false"]


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd` as a developer (not the bot); returns stdout."""
    done = subprocess.run(["git", *_IDENTITY, *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr}")
    return done.stdout.strip()


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under `root` except .git/: byte-identity of a working copy."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def make_settings(data_dir: Path, remote: str, *, command: str | None = None, **apply: object) -> Settings:
    """Settings with one service `sample` whose repository is `remote`."""
    service = ServiceSettings(
        name="sample",
        source=f"file:{data_dir}/service.log",
        repo=remote,
        branch="main",
        approvers=("U0LOCALOPS",),
        validation_command=command
        if command is not None
        else f"{sys.executable} -m pytest -q -p no:cacheprovider",
        validation_timeout_seconds=120,
        python=sys.executable,  # the target's interpreter: this one (it has pytest)
    )
    return Settings(
        config_path=None,
        data_dir=data_dir,
        apply=ApplySettings(**apply),  # type: ignore[arg-type]
        services=(service,),
    )


@dataclass
class SampleRepo:
    root: Path
    remote: Path  # bare repository: the deploy target
    seed: Path  # a developer's clone, used to move the branch concurrently

    def remote_head(self) -> str:
        return git(self.remote, "rev-parse", "refs/heads/main")

    def push_change(self, path: str, text: str, message: str = "dev: change") -> str:
        """A developer commits `text` to `path` and pushes it (the branch moves)."""
        git(self.seed, "pull", "-q", "--ff-only", "origin", "main")
        target = self.seed / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        git(self.seed, "add", "-A")
        git(self.seed, "commit", "-q", "-m", message)
        git(self.seed, "push", "-q", "origin", "HEAD:main")
        return git(self.seed, "rev-parse", "HEAD")

    def read_remote(self, path: str, ref: str = "main") -> str:
        return git(self.remote, "show", f"{ref}:{path}")

    def propose(
        self, sessions: sessionmaker[Session], edits: list[Edit], *, approve_as: str | None = "U0LOCALOPS"
    ) -> str:
        """Store a proposal for `edits` computed on the current remote head; approve it unless told not to."""
        git(self.seed, "pull", "-q", "--ff-only", "origin", "main")
        files = {e.path: (self.seed / e.path).read_text() for e in edits if (self.seed / e.path).is_file()}
        applied = apply_edits(files, edits)
        with sessions.begin() as session:
            proposal = create_proposal(
                session,
                service="sample",
                summary="average() of an empty list",
                root_cause="average() divides by len(values), which is 0 for an empty list.",
                edits=[e.to_dict() for e in edits],
                diff=applied.diff,
                content_hash=applied.content_hash,
                base_commit=self.remote_head(),
                branch="main",
            )
            fix_id = proposal.fix_id
            if approve_as:
                lifecycle.approve(session, fix_id, actor=approve_as, content_hash=applied.content_hash)
        return fix_id


def make_sample(root: Path) -> SampleRepo:
    """Create the sample package in a seed clone and push it to a fresh bare remote under `root`."""
    remote, seed = root / "remote.git", root / "seed"
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "--bare", "-b", "main", str(remote))
    git(root, "init", "-q", "-b", "main", str(seed))
    for rel, text in {"calc/__init__.py": "", "calc/ops.py": OPS, "tests/test_ops.py": TESTS}.items():
        (seed / rel).parent.mkdir(parents=True, exist_ok=True)
        (seed / rel).write_text(text)
    (seed / ".gitignore").write_text("__pycache__/\n")
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "initial")
    git(seed, "remote", "add", "origin", str(remote))
    git(seed, "push", "-q", "origin", "main")
    return SampleRepo(root, remote, seed)
