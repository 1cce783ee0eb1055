"""What people read: report-only items, the audit timeline, incident titles, why no fix was proposed."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.settings import load_settings
from core.store.db import make_engine, make_session_factory, upgrade_database
from core.store.lifecycle import ProposalStatus, transition
from core.store.proposals import create_proposal
from fixes.cause import cause_line
from monitoring.detect import incident_title
from tests.bot.cli.test_cli import agent

PYTEST_OUTPUT = """\
============================= test session starts ==============================
collected 12 items

tests/test_readings.py ..F.........                                      [100%]

=================================== FAILURES ===================================
___________________________ test_format_negative ____________________________

    def test_format_negative():
>       assert format_reading(-1) == "n/a"
E       ValueError: math domain error

app/readings.py:14: ValueError
=========================== short test summary info ============================
FAILED tests/test_readings.py::test_format_negative - ValueError: math domain error
"""


def test_list_says_report_and_show_has_the_timeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A proposal without code lists as `report`; `fixes show` prints who did what, when."""
    monkeypatch.chdir(tmp_path)
    engine = make_engine(load_settings(environ={}).database_url)
    upgrade_database(engine)
    with make_session_factory(engine).begin() as session:
        report = create_proposal(session, service="sample", summary="disk almost full", diff="").fix_id
        fix = create_proposal(
            session, service="sample", summary="guard empty cart", diff="--- a\n+++ b\n"
        ).fix_id
        transition(session, fix, ProposalStatus.APPROVED, actor="U0ALICE", values={"approver": "U0ALICE"})
    engine.dispose()

    listed = agent(tmp_path, "fixes", "list").stdout.splitlines()
    rows = {line.split()[0]: line.split()[1] for line in listed}
    assert {report: "report", fix: "approved"} == rows
    shown = agent(tmp_path, "fixes", "show", fix).stdout
    timeline = shown.split("timeline:", 1)[1].splitlines()
    assert "scanner" in timeline[1]
    assert "U0ALICE" in timeline[2]
    assert "approved (→ approved)" in timeline[2]


def test_incident_title_keeps_the_exception_message() -> None:
    """The logged line and the exception's own text both stay in the title."""
    traceback = (
        'Traceback (most recent call last):\n  File "app/x.py", line 3, in f\nValueError: math domain error'
    )
    assert "ValueError: failed to format reading X: math domain error" == incident_title(
        "ValueError", "failed to format reading X", traceback
    )
    assert "KeyError: 'coupon'" == incident_title("KeyError", "KeyError: 'coupon'", "KeyError: 'coupon'")


def test_no_fix_cause_is_the_telling_line() -> None:
    """From a pytest run the `E` line is the cause, not the session header."""
    assert "ValueError: math domain error" == cause_line(PYTEST_OUTPUT)
    assert "RuntimeError: boom" == cause_line(
        "Traceback (most recent call last):\n  File 'x'\nRuntimeError: boom"
    )


@given(st.text(max_size=2000))
def test_cause_is_always_one_short_line(output: str) -> None:
    """Whatever the output, the cause is a single line of at most 300 characters."""
    cause = cause_line(output)
    assert "\n" not in cause
    assert len(cause) <= 300
