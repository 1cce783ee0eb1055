"""The apply pipeline against real git: a bare remote, a developer clone pushing concurrently."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from core.store import lifecycle
from core.store.proposals import get_proposal
from fixes.apply import run_apply
from fixes.apply.journal import repo_lock
from fixes.edits import Edit
from fixes.git_ops import parse_trailers
from tests.fixes.sample import BREAKING_EDIT, FIX_EDIT, SampleRepo, git, make_settings, snapshot


def _fresh_clone(sample: SampleRepo, dest: Path) -> Path:
    git(sample.root, "clone", "-q", str(sample.remote), str(dest))
    return dest


def _worktree(settings: Settings) -> Path:
    return settings.data_dir / "worktrees" / "sample"


def test_happy_path_pushes_one_commit_with_trailers(
    sample: SampleRepo, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    """An approved fix is validated, committed by the bot with its trailers and pushed."""
    before = sample.remote_head()
    fix_id = sample.propose(sessions, [FIX_EDIT])
    lines: list[str] = []
    report = run_apply(settings, sessions, fix_id, progress=lines.append)

    assert report.ok, report.message
    assert report.commit_sha == sample.remote_head()
    assert before == git(sample.remote, "rev-parse", "main^")
    message = git(sample.remote, "log", "-1", "--format=%B", "main")
    assert message.startswith("fix: average() of an empty list")
    assert parse_trailers(message) == {"Fix-Id": fix_id, "Incident": "none", "Approved-by": "U0LOCALOPS"}
    assert (
        git(sample.remote, "log", "-1", "--format=%an <%ae>|%cn", "main")
        == "fixbot <fixbot@localhost>|fixbot"
    )
    assert "return 0.0" in sample.read_remote("calc/ops.py")
    with sessions() as session:
        proposal = get_proposal(session, fix_id)
        assert (proposal.status, proposal.commit_sha, proposal.validation_status) == (
            "pushed",
            report.commit_sha,
            "passed",
        )
    assert any("validation passed" in line for line in lines)


@pytest.mark.parametrize(
    ("edit", "failing"),
    [
        (Edit("calc/ops.py", "    return sum(values)\n", "    return sum(values\n"), "compile"),
        (
            Edit(
                "calc/ops.py",
                '"""Arithmetic helpers."""\n',
                '"""Arithmetic helpers."""\nimport nope_missing\n',
            ),
            "import",
        ),
        (BREAKING_EDIT, "tests"),
    ],
)
def test_validation_failure_rolls_back(
    *,
    sample: SampleRepo,
    settings: Settings,
    lite_sessions: sessionmaker[Session],
    tmp_path: Path,
    edit: Edit,
    failing: str,
) -> None:
    """A fix failing compile, import or tests leaves the remote and the working copy as they were."""
    before = sample.remote_head()
    fix_id = sample.propose(lite_sessions, [edit])
    report = run_apply(settings, lite_sessions, fix_id)

    assert (report.ok, report.failed_step) == (False, "validate")
    assert before == sample.remote_head()
    assert snapshot(_fresh_clone(sample, tmp_path / "fresh")) == snapshot(_worktree(settings))
    assert git(_worktree(settings), "rev-parse", "HEAD") == before
    with lite_sessions() as session:
        proposal = get_proposal(session, fix_id)
        assert (proposal.status, proposal.failed_step, proposal.validation_status) == (
            "failed",
            "validate",
            "failed",
        )
        assert f"failed at {failing}" in proposal.failure_reason
        assert proposal.validation_output


def test_failure_already_on_base_is_not_new(
    sample: SampleRepo, tmp_path: Path, lite_sessions: sessionmaker[Session]
) -> None:
    """A test failing on the base does not block a fix that does not make it worse."""
    sample.push_change("tests/test_broken.py", "def test_broken():\n    assert False\n")
    settings = make_settings(tmp_path / "d", str(sample.remote))
    fix_id = sample.propose(lite_sessions, [FIX_EDIT])
    report = run_apply(settings, lite_sessions, fix_id)
    assert report.ok, report.message
    assert "tests/test_broken.py::test_broken" in report.output


def test_hash_mismatch_is_refused(
    sample: SampleRepo, settings: Settings, lite_sessions: sessionmaker[Session]
) -> None:
    """The pipeline refuses to apply when the approved hash is not the option's hash."""
    fix_id = sample.propose(lite_sessions, [FIX_EDIT], approve_as=None)
    with lite_sessions.begin() as session:
        lifecycle.approve(session, fix_id, actor="U0LOCALOPS", content_hash="0" * 64)
    before = sample.remote_head()
    report = run_apply(settings, lite_sessions, fix_id)
    assert (report.ok, report.failed_step) == (False, "check")
    assert "approve again" in report.message
    assert before == sample.remote_head()


def test_moved_branch_without_conflict_reapplies(
    sample: SampleRepo, settings: Settings, lite_sessions: sessionmaker[Session]
) -> None:
    """When the branch moved (other file, lines shifted above) the fix lands on the new head."""
    fix_id = sample.propose(lite_sessions, [FIX_EDIT])
    sample.push_change("README.md", "hello\n")
    moved = sample.push_change("calc/ops.py", "# shifted\n" + sample.read_remote("calc/ops.py") + "\n")
    report = run_apply(settings, lite_sessions, fix_id)
    assert report.ok, report.message
    assert moved == git(sample.remote, "rev-parse", "main^")
    assert sample.read_remote("calc/ops.py").startswith("# shifted\n")


def test_moved_branch_with_conflict_fails(
    sample: SampleRepo, settings: Settings, lite_sessions: sessionmaker[Session]
) -> None:
    """When the edited lines changed on the branch, the fix fails: "the code changed"."""
    fix_id = sample.propose(lite_sessions, [FIX_EDIT])
    moved = sample.push_change(
        "calc/ops.py", sample.read_remote("calc/ops.py").replace("len(values)", "max(len(values), 1)")
    )
    report = run_apply(settings, lite_sessions, fix_id)
    assert (report.ok, report.failed_step) == (False, "check")
    assert "the code changed since this proposal" in report.message
    assert moved == sample.remote_head()


def test_moved_branch_with_different_diff_needs_new_approval(
    sample: SampleRepo, settings: Settings, lite_sessions: sessionmaker[Session]
) -> None:
    """Edits that apply but yield a different diff need a new approval, after which they apply."""
    fix_id = sample.propose(lite_sessions, [FIX_EDIT])
    text = sample.read_remote("calc/ops.py").replace("def average(values):", "def average(values):  # mean")
    sample.push_change("calc/ops.py", text + "\n")
    report = run_apply(settings, lite_sessions, fix_id)
    assert (report.ok, report.failed_step) == (False, "check")
    assert "approve again" in report.message
    with lite_sessions.begin() as session:
        proposal = get_proposal(session, fix_id)
        assert "# mean" in proposal.diff
        lifecycle.approve(session, fix_id, actor="U0LOCALOPS", content_hash=proposal.content_hash)
    assert run_apply(settings, lite_sessions, fix_id).ok


def test_push_rejected_then_retried(
    sample: SampleRepo, settings: Settings, lite_sessions: sessionmaker[Session]
) -> None:
    """A push rejected because a developer pushed meanwhile is retried on the new head and succeeds."""
    fix_id = sample.propose(lite_sessions, [FIX_EDIT])
    moved: list[str] = []

    def developer_pushes_once(step: str) -> None:
        if step == "commit" and not moved:
            moved.append(sample.push_change("NOTES.md", "concurrent\n"))

    lines: list[str] = []
    report = run_apply(
        settings, lite_sessions, fix_id, progress=lines.append, after_step=developer_pushes_once
    )
    assert report.ok, report.message
    assert moved[0] == git(sample.remote, "rev-parse", "main^")
    assert any("push rejected" in line for line in lines)


def test_push_rejected_every_time_fails_cleanly(
    sample: SampleRepo, tmp_path: Path, lite_sessions: sessionmaker[Session]
) -> None:
    """When the branch keeps moving, the apply fails after the bounded retries and pushes nothing."""
    settings = make_settings(tmp_path / "d", str(sample.remote), push_retries=1)
    fix_id = sample.propose(lite_sessions, [FIX_EDIT])
    pushed: list[str] = []

    def developer_always_pushes(step: str) -> None:
        if step == "commit":
            pushed.append(sample.push_change("NOTES.md", f"change {len(pushed)}\n"))

    report = run_apply(settings, lite_sessions, fix_id, after_step=developer_always_pushes)
    assert (report.ok, report.failed_step) == (False, "push")
    assert pushed[-1] == sample.remote_head()
    assert len(pushed) == 2
    assert git(_worktree(settings), "status", "--porcelain", "--ignored") == ""


def test_second_apply_waits_for_the_lock(
    sample: SampleRepo, settings: Settings, lite_sessions: sessionmaker[Session]
) -> None:
    """While another apply holds the repository, a second one says whom it waits for, then proceeds."""
    fix_id = sample.propose(lite_sessions, [FIX_EDIT])
    waiting = threading.Event()
    lines: list[str] = []

    def progress(line: str) -> None:
        lines.append(line)
        if line.startswith("waiting for"):
            waiting.set()

    results = []
    lock = settings.data_dir / "worktrees" / "sample.lock"
    with repo_lock(lock, "fix_other", lambda _: None):
        worker = threading.Thread(
            target=lambda: results.append(run_apply(settings, lite_sessions, fix_id, progress=progress))
        )
        worker.start()
        assert waiting.wait(30)
    worker.join(60)
    assert "waiting for fix_other to finish" in lines[0]
    assert results[0].ok


def test_denied_path_is_refused(
    sample: SampleRepo, settings: Settings, lite_sessions: sessionmaker[Session]
) -> None:
    """A fix touching a denied path (CI configuration) is refused before anything is written."""
    fix_id = sample.propose(lite_sessions, [Edit(".github/workflows/ci.yml", "", "on: push\n")])
    before = sample.remote_head()
    report = run_apply(settings, lite_sessions, fix_id)
    assert (report.ok, report.failed_step) == (False, "check")
    assert ".github/**" in report.message
    assert before == sample.remote_head()


def test_symlink_leaving_the_repository_is_refused(
    sample: SampleRepo, settings: Settings, lite_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """An edit through a symlink pointing outside the repository is refused."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.py").write_text("x = 1\n")
    (sample.seed / "escape").symlink_to(outside)
    git(sample.seed, "add", "escape")
    git(sample.seed, "commit", "-q", "-m", "symlink")
    git(sample.seed, "push", "-q", "origin", "main")
    fix_id = sample.propose(lite_sessions, [Edit("escape/x.py", "x = 1\n", "x = 2\n")])
    report = run_apply(settings, lite_sessions, fix_id)
    assert (report.ok, report.failed_step) == (False, "check")
    assert "outside the repository" in report.message
    assert (outside / "x.py").read_text() == "x = 1\n"
