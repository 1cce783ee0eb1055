"""The `agent` command line, run as a user runs it: a subprocess with its own environment."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.settings import load_settings
from core.store.db import make_engine, make_session_factory, upgrade_database
from core.store.proposals import create_proposal

REPO = Path(__file__).resolve().parents[3]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "SYSTEMROOT"}}
    return {**keep, "PYTHONPATH": str(REPO), "NO_PROXY": "127.0.0.1,localhost", **extra}


def agent(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,
        env=_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_help_lists_the_commands(tmp_path: Path) -> None:
    """`agent --help` names every top-level command."""
    result = agent(tmp_path, "--help")
    assert 0 == result.returncode
    for command in ("run", "db", "config", "fixes"):
        assert f"  {command} " in result.stdout


def test_config_check_prints_masked_effective_configuration(tmp_path: Path) -> None:
    """`config check` prints JSON with defaults filled in and secrets masked."""
    result = agent(
        tmp_path, "config", "check", "--offline", SLACK_BOT_TOKEN="xoxb-secret", SLACK_SIGNING_SECRET="s3"
    )
    assert 0 == result.returncode, result.stderr
    shown = json.loads(result.stdout)
    assert "sample" == shown["services"][0]["name"]
    assert "xoxb-secret" not in result.stdout
    assert shown["secrets"]["SLACK_BOT_TOKEN"].startswith("set (xoxb-")


def test_config_error_exits_2_and_names_the_key(tmp_path: Path) -> None:
    """A bad config file makes every command exit 2 with the key in the message."""
    (tmp_path / "agent.toml").write_text('[[services]]\nname = "api"\nsource = "nope"\nrepo = "."\n')
    result = agent(tmp_path, "config", "check")
    assert 2 == result.returncode
    assert "services[0].source" in result.stderr


def test_db_upgrade_then_current_reports_head(tmp_path: Path) -> None:
    """`db upgrade` migrates the default SQLite file; `db current` then exits 0."""
    assert 0 == agent(tmp_path, "db", "upgrade").returncode
    assert (tmp_path / "data" / "agent.db").is_file()
    current = agent(tmp_path, "db", "current")
    assert 0 == current.returncode, current.stdout


def test_fixes_list_and_show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`fixes list` shows stored proposals; `fixes show` prints the diff; unknown ids exit 1."""
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    engine = make_engine(settings.database_url)
    upgrade_database(engine)
    with make_session_factory(engine).begin() as session:
        fix_id = create_proposal(
            session, service="sample", summary="guard empty cart", diff="--- a/x.py\n+++ b/x.py\n"
        ).fix_id
    engine.dispose()

    listed = agent(tmp_path, "fixes", "list")
    assert fix_id in listed.stdout
    shown = agent(tmp_path, "fixes", "show", fix_id)
    assert "+++ b/x.py" in shown.stdout
    missing = agent(tmp_path, "fixes", "show", "fix_19990101_000000")
    assert 1 == missing.returncode
    assert "no proposal 'fix_19990101_000000'" in missing.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def running_agent(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--host", "127.0.0.1"],
        cwd=tmp_path,
        env=_env(tmp_path, PORT=str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield process, port
    process.terminate()
    process.wait(timeout=30)


def test_run_migrates_and_serves_health_on_port(running_agent: tuple[subprocess.Popen[str], int]) -> None:
    """`agent run` on embedded defaults answers /health with 200 and the database status."""
    process, port = running_agent
    deadline = time.monotonic() + 60
    response = None
    while time.monotonic() < deadline and process.poll() is None:
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
            break
        except httpx.TransportError:
            time.sleep(0.2)  # polling for startup, not for a race
    assert response is not None, process.stdout.read() if process.stdout else "no output"
    assert 200 == response.status_code
    assert "ok" == response.json()["database"]


def test_run_stops_cleanly_on_sigterm(running_agent: tuple[subprocess.Popen[str], int]) -> None:
    """SIGTERM (what Railway sends an old deployment) ends `agent run` with exit 0 after a clean stop."""
    import signal

    process, port = running_agent
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)  # polling for startup, not for a race
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert 0 == process.returncode, output[-3000:]
    assert "waiting for running applies to finish" in output
    assert output.rstrip().endswith("stopped")
