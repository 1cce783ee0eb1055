"""An unexpected error in a command reaches the person who asked, with the reference in the log."""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import urlencode

import pytest
from sqlalchemy import text

from bot.slack.dedupe import delivery_key
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


def _told(served: Served, user: str) -> list[str]:
    return [
        str(call.params["text"])
        for call in served.fake.calls_to("chat.postEphemeral")
        if call.params.get("user") == user
    ]


def _reference(text: str) -> str:
    found = re.search(r"ref `([0-9a-f]{8})`", text)
    assert found is not None, text
    return found.group(1)


def test_an_error_inside_a_bolt_listener_reaches_the_asker_through_app_error(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    """A signed mention without `ts` breaks the listener itself; bolt's @app.error tells the asker.

    The listener raises before anything is handed to the command runner, so only bolt's global
    error handler can answer: the asker gets an ephemeral with a reference, the log has it with
    the traceback, and `status`'s error list has it too.
    """
    event = {"type": "app_mention", "user": ALICE, "text": "<@UBOT> list", "channel": CHANNEL}
    with caplog.at_level(logging.ERROR):
        assert 200 == served.send.event(event, event_id="EvNoTs").status_code
        served.drain()

    [text] = _told(served, ALICE)
    ref = _reference(text)
    [record] = [r for r in caplog.records if f"(ref {ref})" in r.getMessage()]
    assert record.exc_info is not None
    assert KeyError is record.exc_info[0]
    assert "Slack event_callback failed" in record.getMessage()
    assert any(ref in line for line in served.stack.errors.recent())
    assert [] == served.fake.calls_to("chat.postMessage")  # one answer, to the asker only


def test_an_error_inside_the_button_listener_reaches_the_presser(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    """A signed button payload whose `container` is null breaks the action listener after its ack."""
    payload = {
        "type": "block_actions",
        "user": {"id": ALICE, "username": "alice", "team_id": "T0001"},
        "api_app_id": "A0001",
        "token": "legacy",
        "trigger_id": "1.2.3",
        "team": {"id": "T0001", "domain": "acme"},
        "container": None,
        "channel": {"id": CHANNEL, "name": "ops"},
        "message": None,
        "state": {"values": {}},
        "response_url": f"{served.base_url}/actions/T0001/1/x",
        "actions": [
            {
                "type": "button",
                "action_id": "implement_fix",
                "block_id": "actions:fix_x",
                "value": "fix_x:1",
                "action_ts": "1761900200.000100",
            }
        ],
    }
    with caplog.at_level(logging.ERROR):
        answer = served.send.post(
            urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
        )
        served.drain()

    assert 200 == answer.status_code
    [text] = _told(served, ALICE)
    ref = _reference(text)
    assert any(f"(ref {ref})" in r.getMessage() and r.exc_info for r in caplog.records)
    assert [] == served.pipeline.applied


@pytest.mark.parametrize(
    "body",
    [
        {"type": "event_callback", "event_id": "Ev1", "event": "not an object"},
        {"type": "block_actions", "user": "UALICE", "actions": ["not an object"]},
        {"type": "block_actions", "user": None, "actions": "not a list"},
    ],
    ids=["event-string", "user-and-action-strings", "actions-string"],
)
def test_the_duplicate_check_keys_hostile_shapes_without_raising(body: dict[str, object]) -> None:
    """Our middleware never turns a signed body of the wrong shape into an exception (a 500)."""
    key = delivery_key(body)

    assert key is not None
    assert key == delivery_key(dict(body))  # the same body is the same delivery
