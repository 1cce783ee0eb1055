"""The `agent templates` and `agent scan --once --json` command-line contracts."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main

LOG = """2026-10-20 02:30:01,123 INFO app.web: started
2026-10-20 02:30:02,000 ERROR app.payments: charge failed for order 42
Traceback (most recent call last):
  File "/app/app/payments.py", line 88, in charge
    raise KeyError("card")
KeyError: 'card'
2026-10-20 02:30:03,000 ERROR app.payments: charge failed for order 43
Traceback (most recent call last):
  File "/app/app/payments.py", line 88, in charge
    raise KeyError("card")
KeyError: 'card'
2026-10-20 02:30:04,000 ERROR app.payments: charge failed for order 44
Traceback (most recent call last):
  File "/app/app/payments.py", line 88, in charge
    raise KeyError("card")
KeyError: 'card'
"""


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGENT_CONFIG", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return CliRunner()


def test_templates_writes_one_row_per_line(runner: CliRunner, tmp_path: Path) -> None:
    """LineId is 1-based, one row per input line, same statement → same EventId."""
    log = tmp_path / "x.log"
    log.write_bytes(
        b"081109 203615 148 INFO dfs.DataNode: PacketResponder 1 for block blk_1 terminating\r\n"
        b"081109 203807 222 INFO dfs.DataNode: PacketResponder 0 for block blk_-2 terminating\r\n"
        b"081109 204005 35 INFO dfs.FSNamesystem: BLOCK* ask 10.0.0.1:50010 to delete blk_3"
    )
    out = tmp_path / "t.csv"
    result = runner.invoke(
        main,
        [
            "templates",
            str(log),
            "--log-format",
            "<Date> <Time> <Pid> <Level> <Component>: <Content>",
            "--out",
            str(out),
        ],
    )
    assert 0 == result.exit_code, result.output
    rows = list(csv.DictReader(out.open()))
    assert ["LineId", "EventId", "EventTemplate"] == list(rows[0])
    assert [("1", "E1"), ("2", "E1"), ("3", "E2")] == [(r["LineId"], r["EventId"]) for r in rows]
    assert "PacketResponder <*> for block <*> terminating" == rows[0]["EventTemplate"]


def test_templates_to_stdout_with_detected_header(runner: CliRunner, tmp_path: Path) -> None:
    """Without --out the CSV goes to stdout; the header is detected."""
    log = tmp_path / "x.log"
    log.write_text(
        "".join(
            f"Jun 14 15:16:0{i} combo sshd(pam_unix)[1993{i}]: session closed for user u{i}\n"
            for i in range(4)
        )
    )
    result = runner.invoke(main, ["templates", str(log)])
    rows = list(csv.reader(io.StringIO(result.output)))
    assert [["LineId", "EventId", "EventTemplate"]] + [
        [str(i), "E1", "session closed for user <*>"] for i in range(1, 5)
    ] == rows


def test_bad_log_format_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    """A format without <Content> exits 2 with a message naming the option."""
    log = tmp_path / "x.log"
    log.write_text("a\n")
    result = runner.invoke(main, ["templates", str(log), "--log-format", "<Date>"])
    assert 2 == result.exit_code
    assert "--log-format" in result.output


def test_scan_once_json(runner: CliRunner, tmp_path: Path) -> None:
    """`scan --source file:… --once --json` prints anomalies with the contract's keys and line numbers."""
    log = tmp_path / "app.log"
    log.write_text(LOG)
    result = runner.invoke(main, ["scan", "--source", f"file:{log}", "--once", "--json"])
    assert 0 == result.exit_code, result.output
    [anomaly] = json.loads(result.output)
    assert {
        "kind",
        "fingerprint",
        "severity",
        "count",
        "template",
        "first_seen",
        "last_seen",
        "samples",
        "line_numbers",
    } <= set(anomaly)
    assert ("error_pattern", 3, [2, 7, 12]) == (anomaly["kind"], anomaly["count"], anomaly["line_numbers"])
    assert "KeyError" == anomaly["exception_type"]
    assert not (tmp_path / "data" / "agent.db").exists()


def test_scan_once_of_missing_file_fails_clearly(runner: CliRunner, tmp_path: Path) -> None:
    """A source that cannot be read exits non-zero with the reason."""
    result = runner.invoke(main, ["scan", "--source", f"file:{tmp_path / 'none.log'}", "--once", "--json"])
    assert 1 == result.exit_code
    assert "does not exist" in result.output
