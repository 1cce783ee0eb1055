"""`agent config check` as a user runs it: typos, approver ids, environment overrides, reachability."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.bot.cli.test_cli import agent


def _write(tmp_path: Path, text: str) -> None:
    (tmp_path / "agent.toml").write_text(text)


def _git_remote(path: Path) -> Path:
    """A bare repository with one commit on main."""
    work = path.parent / f"{path.name}-work"
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    (work / "app.py").write_text("x = 1\n")
    subprocess.run(["git", "-C", str(work), "add", "."], check=True)
    subprocess.run(
        ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"],
        check=True,
    )
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(path)], check=True)
    return path


def test_a_misspelt_key_gets_the_nearest_one(tmp_path: Path) -> None:
    """`default_chanel` is unknown; the message suggests `default_channel`."""
    _write(tmp_path, '[slack]\ndefault_chanel = "C0123OPS"\n')
    result = agent(tmp_path, "config", "check", "--offline")
    assert 2 == result.returncode
    assert "slack.default_chanel: unknown key (did you mean 'default_channel'?)" in result.stderr


def test_approvers_must_be_member_ids(tmp_path: Path) -> None:
    """A name instead of a Slack member id is rejected, in [slack] as in a service."""
    _write(tmp_path, '[slack]\napprovers = ["alice"]\n')
    result = agent(tmp_path, "config", "check", "--offline")
    assert 2 == result.returncode
    assert "'alice' is not a Slack user id" in result.stderr


def test_environment_overrides_the_file_by_a_documented_name(tmp_path: Path) -> None:
    """FIXBOT_SLACK__DEFAULT_CHANNEL wins over the file; a misspelt variable is named with a suggestion."""
    _write(tmp_path, '[slack]\ndefault_channel = "C0FILE"\n')
    result = agent(
        tmp_path,
        "config",
        "check",
        "--offline",
        FIXBOT_SLACK__DEFAULT_CHANNEL="C0ENV",
        FIXBOT_LISTEN_HOST="::",
        FIXBOT_APPLY__AUTO_REVERT_ON_CRASH="true",
    )
    assert 0 == result.returncode, result.stderr
    shown = json.loads(result.stdout)
    assert ("C0ENV", "::", True) == (
        shown["slack"]["default_channel"],
        shown["listen_host"],
        shown["apply"]["auto_revert_on_crash"],
    )
    typo = agent(tmp_path, "config", "check", "--offline", FIXBOT_SLACK__DEFAULT_CHANEL="C0ENV")
    assert 2 == typo.returncode
    assert "[from environment variable FIXBOT_SLACK__DEFAULT_CHANEL]" in typo.stderr
    assert "did you mean 'default_channel'" in typo.stderr


def test_no_model_is_a_warning(tmp_path: Path) -> None:
    """Without llm.model the check warns that no fix will be proposed (and still passes)."""
    _write(tmp_path, "")
    result = agent(tmp_path, "config", "check", "--offline")
    assert 0 == result.returncode, result.stderr
    assert "warning: no model configured (llm.model is empty)" in result.stderr


def test_check_tries_repository_source_and_validation(tmp_path: Path) -> None:
    """A reachable service is all ok; a missing repository, log file and test runner each FAIL (exit 1)."""
    remote = _git_remote(tmp_path / "remote.git")
    (tmp_path / "app.log").write_text("2026-10-20 INFO started\n")
    _write(
        tmp_path,
        f"""
[slack]
approvers = ["U0ALICE"]
[[services]]
name = "good"
source = "file:app.log"
repo = "{remote}"
validation_command = "{sys.executable} -m pytest -q"
[[services]]
name = "bad"
source = "file:missing.log"
repo = "{tmp_path / "nowhere.git"}"
validation_command = "no-such-test-runner -q"
""",
    )
    result = agent(tmp_path, "config", "check")
    assert 1 == result.returncode
    lines = result.stderr.splitlines()
    for item in ("good repository", "good log source", "good validation"):
        assert any(line.startswith(f"ok   {item}:") for line in lines), result.stderr
    for item in ("bad repository", "bad log source", "bad validation"):
        assert any(line.startswith(f"FAIL {item}:") for line in lines), result.stderr
    assert "'no-such-test-runner' is not on PATH" in result.stderr
