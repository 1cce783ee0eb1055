"""The terminal chat: scripted lines through the same parser and Operations, printed as text."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine

from bot.operations import Operations
from bot.terminal_chat import TerminalChat, TerminalNotifier
from core.store.db import make_session_factory
from tests.bot.slack.conftest import ALICE, FakePipeline, add_proposal, make_settings


def test_scripted_session_lists_implements_and_shows(sqlite_engine: Engine) -> None:
    """A scripted conversation applies a fix and prints progress and the final status."""
    sessions = make_session_factory(sqlite_engine)
    out = io.StringIO()
    pipeline = FakePipeline(sessions)
    created: list[str] = []

    def scan(service: str, progress: Any) -> list[Any]:
        progress(f"reading {service}…")
        created.append(add_proposal(sessions))
        return []

    notifier = TerminalNotifier(out, sessions)
    notifier.mark_all_shown()
    with ThreadPoolExecutor(2) as executor:
        operations = Operations(
            make_settings(), sessions, executor, pipeline.apply, pipeline.revert, scan, notifier
        )
        chat = TerminalChat(operations, out, user=ALICE)
        chat.run_script(["# the demo", "@Agent scan api", "", "@Agent list"])
        fix_id = created[0]
        chat.run_script([f"@Agent implement {fix_id}", f"@Agent show {fix_id}", "@Agent dance"])
    text = out.getvalue()
    assert "> @Agent scan api" in text
    assert "  reading api…" in text
    assert f"== Fix proposal {fix_id} [HIGH] service=api ==" in text
    assert f"Applying {fix_id}, approved by @{ALICE}." in text
    assert f"  [{fix_id}] pushed abc1234" in text
    assert f"  [{fix_id}] status: pushed" in text
    assert "Pushed abc1234def" in text
    assert "I don't know the command 'dance'" in text
    assert "the demo" not in text
    assert [fix_id] == pipeline.applied


def test_interactive_reads_until_quit(sqlite_engine: Engine) -> None:
    """Interactive mode answers each line and stops at `quit`."""
    sessions = make_session_factory(sqlite_engine)
    out = io.StringIO()
    pipeline = FakePipeline(sessions)
    with ThreadPoolExecutor(1) as executor:
        operations = Operations(
            make_settings(),
            sessions,
            executor,
            pipeline.apply,
            pipeline.revert,
            pipeline.scan,
            TerminalNotifier(out, sessions),
        )
        TerminalChat(operations, out, user=ALICE).run_interactive(io.StringIO("list\nquit\nlist\n"))
    assert 1 == out.getvalue().count("No open proposals.")
