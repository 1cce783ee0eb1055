"""An unexpected error in a command reaches the person who asked, with the reference in the log."""

from __future__ import annotations

import logging
import re

import pytest
from sqlalchemy import text

from bot.slack.failures import Asker, asker_of
from tests.bot.slack.conftest import ALICE, CHANNEL, Served


def test_a_crashing_command_tells_the_asker_its_reference(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    """`list` with the proposals table gone: the asker gets an ephemeral with the ref the log has."""
    with served.sessions.begin() as session:
        session.execute(text("DROP TABLE audit_events"))
        session.execute(text("DROP TABLE pull_requests"))  # its foreign key would keep proposals
        session.execute(text("DROP TABLE proposals"))
    with caplog.at_level(logging.ERROR):
        assert 200 == served.send.mention("list", user=ALICE, event_id="EvBroken").status_code
        served.drain()

    told = [c for c in served.fake.calls_to("chat.postEphemeral") if c.params.get("user") == ALICE]
    assert 1 == len(told)
    assert CHANNEL == told[0].params["channel"]
    ref = re.search(r"ref `([0-9a-f]{8})`", str(told[0].params["text"]))
    assert ref is not None
    assert any(f"(ref {ref.group(1)})" in record.getMessage() for record in caplog.records)
    assert any(ref.group(1) in line for line in served.stack.errors.recent())


def test_asker_of_event_and_button_bodies() -> None:
    """Events API bodies answer in the event's thread; button payloads in the message's."""
    event = {"event": {"type": "app_mention", "user": "U1", "channel": "C1", "ts": "1.1", "thread_ts": "0.9"}}
    button = {
        "type": "block_actions",
        "user": {"id": "U2"},
        "channel": {"id": "C2"},
        "message": {"ts": "2.2"},
    }
    assert Asker("C1", "U1", "0.9") == asker_of(event)
    assert Asker("C2", "U2", "2.2") == asker_of(button)
    assert asker_of({"type": "url_verification"}) is None
