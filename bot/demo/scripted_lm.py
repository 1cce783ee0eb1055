"""A scripted, OpenAI-compatible chat-completions server on 127.0.0.1.

`ScriptedLMServer` speaks the real wire format (`POST /v1/chat/completions`, `usage` included) so
that DSPy's real LM client can talk to it. It answers from a *script*: a callable that receives the
request JSON and returns a `ScriptedReply` (or just the reply text). The offline demo uses it as its
"scripted" model, and the tests use it to produce well-formed and malformed answers, errors with
`Retry-After`, slow answers and JSON-mode requests. Every request is recorded.

It is not a language model: whatever it says was written in advance, and it is labelled
"scripted" wherever it is used.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = [
    "Script",
    "ScriptedLMServer",
    "ScriptedReply",
    "adapter_reply",
    "chat_reply",
    "json_reply",
    "output_fields",
    "sequence",
    "wants_json",
]


@dataclass(frozen=True)
class ScriptedReply:
    """One answer: content (200), an error status with headers, a delay, or a raw (malformed) body."""

    content: str = ""
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0
    raw_body: bytes | None = None
    finish_reason: str = "stop"
    error_type: str = "server_error"


Script = Callable[[dict[str, Any]], "ScriptedReply | str"]


def chat_reply(fields: Mapping[str, Any]) -> str:
    """`fields` in DSPy's ChatAdapter layout: `[[ ## name ## ]]` sections, then `completed`."""
    parts = [f"[[ ## {name} ## ]]\n{_render(value)}\n" for name, value in fields.items()]
    return "\n".join([*parts, "[[ ## completed ## ]]"])


def json_reply(fields: Mapping[str, Any]) -> str:
    """`fields` as the JSON object DSPy's JSONAdapter expects."""
    return json.dumps(dict(fields))


def wants_json(request: Mapping[str, Any]) -> bool:
    """Whether the request asked for JSON output (DSPy's JSONAdapter).

    The adapter sets `response_format` for models whose metadata allows it (e.g. gpt-4o-mini) and
    otherwise only says so in the last user message.
    """
    if "response_format" in request:
        return True
    messages = request.get("messages") or [{}]
    return "Respond with a JSON object" in str(messages[-1].get("content", ""))


def adapter_reply(request: Mapping[str, Any], fields: Mapping[str, Any]) -> str:
    """`fields` in whichever format the request's adapter expects."""
    return json_reply(fields) if wants_json(request) else chat_reply(fields)


_OUTPUT_FIELDS = re.compile(r"Your output fields are:\n(.*?)(?:\n\n|All interactions)", re.S)
_FIELD_NAME = re.compile(r"^\d+\. `(\w+)`", re.M)


def output_fields(request: Mapping[str, Any]) -> list[str]:
    """The output field names DSPy asked for, read from the system message (empty if none)."""
    for message in request.get("messages", []):
        if message.get("role") == "system":
            found = _OUTPUT_FIELDS.search(str(message.get("content", "")))
            if found:
                return _FIELD_NAME.findall(found.group(1))
    return []


def sequence(replies: Iterable[ScriptedReply | str]) -> Script:
    """A script answering with `replies` in order; past the end it answers 500 with a clear message."""
    pending = list(replies)
    lock = threading.Lock()

    def script(_request: dict[str, Any]) -> ScriptedReply | str:
        with lock:
            if pending:
                return pending.pop(0)
        return ScriptedReply(status=500, content="the script has no more replies")

    return script


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    return json.dumps(value)


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


class ScriptedLMServer:
    """A threaded HTTP server on 127.0.0.1 (a free port) answering chat completions from a script.

    Use as a context manager; `api_base` is what `dspy.LM(..., api_base=...)` needs.
    """

    def __init__(self, script: Script, *, model: str = "scripted", host: str = "127.0.0.1") -> None:
        self.script = script
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = _Server((host, 0), _Handler)
        self._server.owner = self
        self._thread: threading.Thread | None = None

    @property
    def api_base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> ScriptedLMServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="scripted-lm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedLMServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _record(self, request: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(request)

    def _completion(self, request: dict[str, Any], reply: ScriptedReply) -> dict[str, Any]:
        prompt = "".join(str(m.get("content", "")) for m in request.get("messages", []))
        prompt_tokens, completion_tokens = _estimate_tokens(prompt), _estimate_tokens(reply.content)
        return {
            "id": f"chatcmpl-scripted-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.content},
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: ScriptedLMServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests and the demo print what matters themselves."""

    def do_POST(self) -> None:
        owner = self.server.owner
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            request = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError as exc:
            self._send(400, {"error": {"message": f"request body is not JSON: {exc}", "type": "invalid"}})
            return
        owner._record(request)
        try:
            answer = owner.script(request)
        except Exception as exc:  # a broken script must be visible to the client, not hang it
            answer = ScriptedReply(status=500, content=f"script error: {type(exc).__name__}: {exc}")
        reply = ScriptedReply(content=answer) if isinstance(answer, str) else answer
        if reply.delay_seconds:
            time.sleep(reply.delay_seconds)
        if reply.raw_body is not None:
            self._send_bytes(reply.status, reply.raw_body, reply.headers)
        elif reply.status != 200:
            error = {"error": {"message": reply.content or "scripted error", "type": reply.error_type}}
            self._send(reply.status, error, reply.headers)
        else:
            self._send(200, owner._completion(request, reply), reply.headers)

    def _send(self, status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> None:
        self._send_bytes(status, json.dumps(body).encode(), headers or {})

    def _send_bytes(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout): nothing to answer
