"""`agent demo`, run as a newcomer runs it: a subprocess, no tokens, stdin not a terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from core.store.db import make_engine, make_session_factory
from core.store.models import Proposal
from fixes.git_ops import parse_trailers

REPO = Path(__file__).resolve().parents[3]


def test_demo_runs_the_whole_loop_offline_and_exits_0(tmp_path: Path) -> None:
    """One fix ends verified with its trailers on the remote, one rejected, one failed and not pushed."""
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}}
    workdir = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--workdir", str(workdir)],
        cwd=tmp_path,
        env={**keep, "PYTHONPATH": str(REPO), "COLUMNS": "120"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert 0 == result.returncode, result.stdout[-4000:] + result.stderr[-4000:]
    assert "the demo plays the human's part itself" in result.stdout
    assert "SCRIPTED" in result.stdout

    engine = make_engine(f"sqlite:///{workdir / 'data' / 'agent.db'}")
    with make_session_factory(engine)() as session:
        outcomes = {
            p.diff.split("+++ b/", 1)[1].split("\n", 1)[0]: p for p in session.scalars(select(Proposal))
        }
    engine.dispose()
    assert {"shop/pricing.py", "shop/reviews.py", "shop/inventory.py"} == set(outcomes)
    assert "verified" == outcomes["shop/pricing.py"].status
    node = "tests/test_stale_coupon.py::test_stale_coupon_charges_the_subtotal"
    assert f"proven: `{node}` fails on the base, passes with the fix" == outcomes["shop/pricing.py"].proof
    assert "not proven: the fix adds or changes no test" == outcomes["shop/reviews.py"].proof
    assert "rejected" == outcomes["shop/reviews.py"].status
    failed = outcomes["shop/inventory.py"]
    assert ("failed", "validate") == (failed.status, failed.failed_step)

    remote = workdir / "shop" / "remote.git"
    log = subprocess.run(
        ["git", "--git-dir", str(remote), "log", "--format=%B%x00", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    fixes = [parse_trailers(message) for message in log.split("\x00") if "Fix-Id" in message]
    assert [outcomes["shop/pricing.py"].fix_id] == [t["Fix-Id"] for t in fixes]

    # The demo tells the truth: the scripted model's first coupon fix breaks
    # test_coupon_codes_are_case_insensitive and is refused; what was pushed passes the sample's tests.
    assert "-    return COUPONS[code.strip().upper()]" in outcomes["shop/pricing.py"].diff
    assert "COUPONS.get(code.strip().upper(), 0)" in outcomes["shop/pricing.py"].diff
    pushed = tmp_path / "pushed"
    subprocess.run(["git", "clone", "-q", str(remote), str(pushed)], check=True)
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=pushed,
        env={**keep, "PY_COLORS": "0"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert 0 == tests.returncode, tests.stdout[-2000:]
    # The sample's 7 tests and the regression test that came with the fix (GenerateProvenFix).
    assert "8 passed" in tests.stdout
    assert (pushed / "tests" / "test_stale_coupon.py").is_file()
