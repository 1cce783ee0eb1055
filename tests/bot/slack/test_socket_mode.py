"""Socket Mode against a local WebSocket server speaking Slack's envelope format.

The bot starts while Slack cannot hand out a Socket Mode URL: it stays up, `/health` says why and
when it retries, and once Slack answers it connects, acks envelopes, answers mentions and follows
a `disconnect` (refresh_requested) to a new connection.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from bot.runtime import Runtime, build_runtime
from core.settings import load_settings
from tests.fakes.slack_api import FakeSlack
from tests.fakes.socket_mode import FakeSocketMode

CHANNEL = "C0OPS"
REPLY = "chat.postEphemeral"  # `help` answers only the asker


def _health(runtime: Runtime) -> dict[str, str]:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=runtime.web)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
            return await client.get("/health")

    body: dict[str, str] = asyncio.run(call()).json()
    return body


def _until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)  # polling a condition another thread makes true


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    fake.add_channel(CHANNEL, "ops")
    yield fake
    fake.stop()
    assert [] == fake.refused


@pytest.fixture
def runtime(tmp_path: Path, slack: FakeSlack) -> Iterator[Runtime]:
    config = tmp_path / "agent.toml"
    config.write_text(
        f"""
data_dir = "data"
[slack]
api_base_url = "{slack.api_url}"
default_channel = "{CHANNEL}"
approvers = ["U0ALICE"]
[[services]]
name = "api"
source = "file:app.log"
repo = "remote.git"
channel = "{CHANNEL}"
"""
    )
    environ = {"SLACK_BOT_TOKEN": slack.token, "SLACK_APP_TOKEN": slack.app_token}
    built = build_runtime(load_settings(config, environ=environ))
    yield built
    built.stop(wait=True)


def _mention(text: str, ts: str) -> dict[str, object]:
    return {"type": "app_mention", "user": "U0ALICE", "text": f"<@UBOT> {text}", "channel": CHANNEL, "ts": ts}


def test_socket_mode_retries_until_slack_answers_then_serves(runtime: Runtime, slack: FakeSlack) -> None:
    """No URL from Slack: the bot stays up and says so; then it connects, acks, answers, refreshes."""
    with FakeSocketMode() as socket:
        runtime.start(scheduled=False)
        _until(lambda: "cannot connect" in _health(runtime).get("socket_mode", ""), "/health to say why")
        assert "next attempt in" in _health(runtime)["socket_mode"]

        slack.socket_url = socket.url  # Slack is reachable again
        socket.wait_for_connections(1)
        _until(lambda: _health(runtime)["socket_mode"].startswith("ok"), "/health to say connected")

        envelope = socket.send_event(_mention("help", "1761900001.000100"))
        socket.wait_for_ack(envelope)
        slack.wait_for(lambda fake: any(c.params.get("user") == "U0ALICE" for c in fake.calls_to(REPLY)))

        socket.ask_to_refresh()
        socket.wait_for_connections(2)
        second = socket.send_event(_mention("help", "1761900002.000100"))
        socket.wait_for_ack(second)
    assert 2 <= len(slack.calls_to("apps.connections.open"))
