"""Pre-validation in a scratch checkout: the base is restored and old failures do not count."""

from __future__ import annotations

from pathlib import Path

import git

from fixes.edits import Edit, apply_edits
from fixes.prevalidate import ScratchCheckout, prevalidate
from tests.fixes.llm_support import GIT_IDENTITY, make_sample_repo
from tests.fixes.validation.support import plan

FLAKY = "def test_already_broken():\n    assert False\n"
COMMAND = "python -m pytest -q tests"


def _checkout_files(checkout: ScratchCheckout) -> dict[str, str]:
    return {"service/app.py": (checkout.path / "service" / "app.py").read_text()}


def test_failure_already_on_the_base_does_not_count(tmp_path: Path) -> None:
    """A test failing on the base commit does not fail a fix; a new failure does."""
    remote = make_sample_repo(tmp_path / "s")
    work = git.Repo.clone_from(str(remote), str(tmp_path / "w"))
    (tmp_path / "w" / "tests" / "test_old.py").write_text(FLAKY)
    work.git.add("-A")
    work.git.commit("-q", "-m", "broken test", env=GIT_IDENTITY)
    work.git.push("-q", "origin", "HEAD:main")
    with ScratchCheckout(str(remote), "main") as checkout:
        files = _checkout_files(checkout)
        good = apply_edits(
            files, [Edit("service/app.py", 'payload.get("items")', 'payload.get("items") or []')]
        )
        bad = apply_edits(files, [Edit("service/app.py", "    return sum(", "    return -1 + sum(")])
        validation = plan(checkout.path, tmp_path / "data", command=COMMAND)
        passed = prevalidate(checkout, good, plan=validation)
        failed = prevalidate(checkout, bad, plan=validation)
        restored = _checkout_files(checkout)
    assert ("passed", "failed") == (passed.status, failed.status)
    assert ("tests/test_app.py::test_total",) == failed.new_failures
    assert files == restored
