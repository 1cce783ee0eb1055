"""ScriptedLMServer speaks the chat-completions wire format and records what it was asked."""

from __future__ import annotations

import httpx

from bot.demo.scripted_lm import ScriptedLMServer, ScriptedReply, chat_reply, sequence


def _post(server: ScriptedLMServer, body: dict[str, object]) -> httpx.Response:
    return httpx.post(f"{server.api_base}/chat/completions", json=body, timeout=5)


def test_reply_has_openai_shape_and_usage() -> None:
    """A text reply comes back as choices[0].message.content with a usage block."""
    with ScriptedLMServer(lambda request: "hello") as server:
        response = _post(server, {"model": "m", "messages": [{"role": "user", "content": "hi there"}]})
    body = response.json()
    assert (200, "hello", "stop") == (
        response.status_code,
        body["choices"][0]["message"]["content"],
        body["choices"][0]["finish_reason"],
    )
    assert (
        body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )
    assert [{"model": "m", "messages": [{"role": "user", "content": "hi there"}]}] == server.requests


def test_errors_headers_and_raw_bodies_are_scriptable() -> None:
    """A sequence can answer 429 with Retry-After, then a malformed body, then runs out with a 500."""
    script = sequence(
        [ScriptedReply(status=429, headers={"Retry-After": "0"}), ScriptedReply(raw_body=b"{not json")]
    )
    with ScriptedLMServer(script) as server:
        limited = _post(server, {"messages": []})
        broken = _post(server, {"messages": []})
        exhausted = _post(server, {"messages": []})
    assert (429, "0") == (limited.status_code, limited.headers["retry-after"])
    assert b"{not json" == broken.content
    assert 500 == exhausted.status_code
    assert "no more replies" in exhausted.json()["error"]["message"]


def test_script_exception_becomes_a_500_with_its_message() -> None:
    """A broken script is reported to the client instead of hanging it."""

    def script(request: dict[str, object]) -> str:
        raise KeyError("missing")

    with ScriptedLMServer(script) as server:
        response = _post(server, {"messages": []})
    assert 500 == response.status_code
    assert "KeyError" in response.json()["error"]["message"]


def test_chat_reply_uses_dspy_markers() -> None:
    """Fields render as [[ ## name ## ]] sections, non-strings as JSON, ending with completed."""
    expected = "[[ ## a ## ]]\nx\n\n[[ ## b ## ]]\n[1, 2]\n\n[[ ## completed ## ]]"
    assert expected == chat_reply({"a": "x", "b": [1, 2]})
