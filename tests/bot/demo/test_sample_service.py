"""The demo's sample service: real git, real tests run with pytest, real logs from the service code."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.demo.sample_service import (
    SAMPLE_ANALYSIS,
    SampleService,
    create_sample_service,
    produce_logs,
    pull_latest,
    remote_log,
    sample_broken_edits,
    sample_fix_edits,
)
from fixes.edits import Edit, apply_edits

GIT = ("git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> SampleService:
    """One sample service per module; tests that change it work on copies."""
    return create_sample_service(tmp_path_factory.mktemp("sample"))


@pytest.fixture
def sample(pristine: SampleService, tmp_path: Path) -> SampleService:
    """A private copy of the sample (checkout, remote and an empty log)."""
    root = tmp_path / "copy"
    shutil.copytree(pristine.root, root, ignore=shutil.ignore_patterns("service.log"))
    workdir = root / "work"
    subprocess.run([*GIT, "remote", "set-url", "origin", str(root / "remote.git")], cwd=workdir, check=True)
    return SampleService(
        root, workdir, root / "remote.git", root / "service.log", pristine.branch, pristine.initial_commit
    )


def _pytest(workdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _apply(workdir: Path, edits: list[dict[str, str]]) -> list[str]:
    parsed = [Edit.from_dict(edit) for edit in edits]
    files = {e.path: (workdir / e.path).read_text(encoding="utf-8") for e in parsed}
    applied = apply_edits(files, parsed)
    for path, text in applied.after.items():
        (workdir / path).write_text(text, encoding="utf-8")
    return sorted(applied.after)


def _checkout(workdir: Path, request: str) -> str:
    code = f"from shop.app import dispatch; print(dispatch('/checkout', {request})['status'])"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=workdir, capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


STALE = "{'order_id': 'o-9', 'items': [{'sku': 'mug', 'price': '10', 'quantity': 1}], 'coupon': 'SUMMER5'}"


def test_sample_is_committed_and_pushed(pristine: SampleService) -> None:
    """The checkout is a clean git repository whose main is on the bare remote."""
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=pristine.workdir, capture_output=True, text=True, check=True
    )
    remote_head = subprocess.run(
        ["git", "--git-dir", str(pristine.remote), "rev-parse", "main"],
        capture_output=True,
        text=True,
        check=True,
    )

    assert "" == status.stdout
    assert pristine.initial_commit == remote_head.stdout.strip()
    assert [f"{pristine.initial_commit[:7]} shop: carts, coupons and checkout"] == remote_log(pristine)


def test_tests_pass_on_the_buggy_code(pristine: SampleService) -> None:
    """The service's own tests do not cover the bug: they pass before any fix."""
    done = _pytest(pristine.workdir)

    assert 0 == done.returncode, done.stdout + done.stderr
    assert "7 passed" in done.stdout


def test_the_bug_really_raises(pristine: SampleService) -> None:
    """A checkout with a stale coupon fails with HTTP 500 on the buggy code."""
    assert "500" == _checkout(pristine.workdir, STALE)


def test_logs_hold_repeated_tracebacks_and_warnings(sample: SampleService) -> None:
    """One run logs three KeyError tracebacks with different codes, INFO lines and both warnings."""
    log = produce_logs(sample).read_text(encoding="utf-8")

    errors = re.findall(r"^KeyError: '(\w+)'$", log, flags=re.MULTILINE)
    assert 3 == len(errors)
    assert 3 == len(set(errors))
    assert 3 == log.count("in discount_percent\n    return COUPONS[code.strip().upper()]")
    assert 3 == len(
        re.findall(r" ERROR shop\.app: checkout failed for order o-\d+$", log, flags=re.MULTILINE)
    )
    assert 1 == log.count("WARNING shop.reviews: response truncated at max_tokens=256")
    assert 1 == log.count("WARNING shop.inventory: slow query took 2350 ms")
    assert 5 <= len(re.findall(r"^\S+ \S+ INFO ", log, flags=re.MULTILINE))


def test_logs_are_appended_across_runs(sample: SampleService) -> None:
    """A second call appends further batches instead of truncating the log."""
    produce_logs(sample, runs=2)
    produce_logs(sample, first_run=2)

    log = sample.log_path.read_text(encoding="utf-8")
    assert 9 == len(re.findall(r"^KeyError: ", log, flags=re.MULTILINE))
    assert [f"batch {n} finished" for n in range(3)] == re.findall(r"batch \d+ finished", log)


def test_correct_fix_keeps_tests_green_and_stops_the_error(sample: SampleService, tmp_path: Path) -> None:
    """The scripted fix applies exactly, the tests pass, and once pushed and pulled the logs are clean."""
    clone = tmp_path / "bot-clone"
    subprocess.run(["git", "clone", "-q", str(sample.remote), str(clone)], check=True)

    assert ["shop/pricing.py"] == _apply(clone, sample_fix_edits())
    done = _pytest(clone)
    assert 0 == done.returncode, done.stdout + done.stderr
    assert "200" == _checkout(clone, STALE)

    subprocess.run([*GIT, "commit", "-qam", "fix_20261020_023300: unknown coupons"], cwd=clone, check=True)
    subprocess.run(["git", "push", "-q", "origin", "main"], cwd=clone, check=True)
    head = pull_latest(sample)
    assert f"{head[:7]} fix_20261020_023300: unknown coupons" == remote_log(sample)[0]
    log = produce_logs(sample).read_text(encoding="utf-8")
    assert "Traceback" not in log
    assert 6 == log.count("checked out")


def test_broken_fix_applies_but_fails_the_tests(sample: SampleService) -> None:
    """The broken fix applies cleanly and makes the case-insensitivity test fail."""
    _apply(sample.workdir, sample_broken_edits())

    done = _pytest(sample.workdir)

    assert 1 == done.returncode
    assert "test_coupon_codes_are_case_insensitive" in done.stdout
    assert "1 failed, 6 passed" in done.stdout


def test_existing_sample_is_not_overwritten(pristine: SampleService) -> None:
    """Creating a sample where one exists fails clearly and leaves the existing files alone."""
    before = (pristine.workdir / "shop" / "pricing.py").read_text(encoding="utf-8")

    with pytest.raises(FileExistsError, match="already exists"):
        create_sample_service(pristine.root)

    assert before == (pristine.workdir / "shop" / "pricing.py").read_text(encoding="utf-8")


def test_zero_runs_is_refused(pristine: SampleService) -> None:
    """produce_logs refuses a run count below one, naming the value."""
    with pytest.raises(ValueError, match="got 0"):
        produce_logs(pristine, runs=0)


def test_scripted_analysis_names_the_buggy_file() -> None:
    """The scripted root cause and the fix point at the same file and function."""
    assert "shop/pricing.py" in SAMPLE_ANALYSIS["affected_components"]
    assert "discount_percent" in SAMPLE_ANALYSIS["root_cause"]
    assert {"shop/pricing.py"} == {edit["path"] for edit in sample_fix_edits() + sample_broken_edits()}
