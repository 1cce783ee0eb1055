"""The CLI as a first week on call meets it: one-line errors, --debug, --version, a fast --help."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.bot.cli.test_cli import REPO, _env, agent

UNREACHABLE = "postgresql://nobody@127.0.0.1:1/fixbot"


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert 1 == result.returncode, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert "(run with --debug for the traceback)" == lines[-1]
    assert 2 == len(lines), result.stderr
    return lines[0]


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    """`db current` and `fixes list` say the database cannot be reached and what to check."""
    for command in (("db", "current"), ("fixes", "list")):
        line = _one_line_error(agent(tmp_path, *command, DATABASE_URL=UNREACHABLE))
        assert line.startswith("Error: cannot reach the database (")
        assert "check DATABASE_URL" in line


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    """--debug brings the traceback back for a bug report."""
    result = agent(tmp_path, "--debug", "db", "current", DATABASE_URL=UNREACHABLE)
    assert 0 != result.returncode
    assert "Traceback" in result.stderr


def test_scan_on_a_fresh_data_dir_says_to_migrate(tmp_path: Path) -> None:
    """Before `db upgrade` there are no tables: the error says which command creates them."""
    line = _one_line_error(agent(tmp_path, "scan"))
    assert "run `agent db upgrade`" in line


def test_commands_work_with_only_the_bot_token(tmp_path: Path) -> None:
    """SLACK_BOT_TOKEN without a signing secret is enough for CLI commands (only `run` needs the pair)."""
    assert 0 == agent(tmp_path, "db", "upgrade").returncode
    listed = agent(tmp_path, "fixes", "list", SLACK_BOT_TOKEN="xoxb-only-this")
    assert 0 == listed.returncode, listed.stderr
    assert "no proposals" in listed.stdout
    served = agent(tmp_path, "run", SLACK_BOT_TOKEN="xoxb-only-this")
    assert 2 == served.returncode
    assert "SLACK_SIGNING_SECRET" in served.stderr


def test_version(tmp_path: Path) -> None:
    """`agent --version` names the installed version."""
    result = agent(tmp_path, "--version")
    assert 0 == result.returncode
    assert result.stdout.startswith("agent (fixbot) ")


def test_help_imports_nothing_heavy(tmp_path: Path) -> None:
    """`agent --help` loads no bot module, database layer, pydantic or DSPy (that is what took seconds)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bot", "--help"],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    heavy = {"dspy", "sqlalchemy", "pydantic", "alembic", "litellm", "core.settings", "bot.operations"}
    assert set() == heavy & imported
    assert "fixes" in result.stdout


def test_litellm_price_map_stays_local_by_default(tmp_path: Path) -> None:
    """Loading the settings defaults LITELLM_LOCAL_MODEL_COST_MAP to True; an explicit value wins."""
    code = (
        "import os; from core.settings import load_settings; load_settings(); "
        "print(os.environ['LITELLM_LOCAL_MODEL_COST_MAP'])"
    )
    run = [sys.executable, "-c", code]
    default = subprocess.run(
        run, cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, check=True
    )
    chosen = subprocess.run(
        run,
        cwd=tmp_path,
        env=_env(tmp_path, LITELLM_LOCAL_MODEL_COST_MAP="False"),
        capture_output=True,
        text=True,
        check=True,
    )
    assert ("True", "False") == (default.stdout.strip(), chosen.stdout.strip())


def test_json_log_lines_on_stdout(tmp_path: Path) -> None:
    """With log_json every record is one JSON line on stdout, traceback inside, marker in the message."""
    code = (
        "import logging\n"
        "from bot.runtime import configure_logging\n"
        "configure_logging(json_lines=True)\n"
        "log = logging.getLogger('fixbot.test')\n"
        "log.warning('slow scan')\n"
        "try:\n    1 / 0\nexcept ZeroDivisionError:\n    log.exception('scan crashed')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=_env(tmp_path), capture_output=True, text=True, check=True
    )
    assert "" == result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [("warn", "[fixbot] slow scan"), ("error", "[fixbot] scan crashed")] == [
        (r["level"], r["message"]) for r in records
    ]
    assert "ZeroDivisionError" in records[1]["traceback"]
