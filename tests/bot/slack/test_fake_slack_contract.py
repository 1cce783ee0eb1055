"""The fake Slack refuses what slack.com refuses, per slack_sdk's own method table."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.fakes.slack_api import FakeSlack


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    yield server
    server.stop()


def test_a_misspelt_method_is_unknown(fake: FakeSlack) -> None:
    """`chat.postMesage` is not a Web API method: `unknown_method`, not `ok: true`."""
    client = WebClient(token=fake.token, base_url=fake.api_url)
    with pytest.raises(SlackApiError, match="unknown_method"):
        client.api_call("chat.postMesage", json={"channel": "C1", "text": "hi"})
    assert [("chat.postMesage", "unknown_method")] == fake.refused


@pytest.mark.parametrize(
    ("method", "arguments"),
    [
        ("chat.update", {"channel": "C1", "text": "no ts"}),  # a required argument is missing
        ("chat.postMessage", {"channel": "C1", "text": "hi", "thread": "1.2"}),  # not an argument
    ],
)
def test_wrong_arguments_are_refused(fake: FakeSlack, method: str, arguments: dict[str, str]) -> None:
    """Arguments are checked against the WebClient method's signature."""
    client = WebClient(token=fake.token, base_url=fake.api_url)
    with pytest.raises(SlackApiError, match="invalid_arguments"):
        client.api_call(method, json=arguments)


def test_a_well_formed_call_passes(fake: FakeSlack) -> None:
    """The real client's own method with real arguments is answered normally."""
    client = WebClient(token=fake.token, base_url=fake.api_url)
    answer = client.chat_postMessage(channel="C1", text="hi", thread_ts="1.2")
    assert answer["ok"]
    assert [] == fake.refused
