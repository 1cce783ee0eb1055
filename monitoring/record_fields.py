"""What a JSON log record's fields say beyond its message: the request it reports, its exception.

Services spell these differently, and every spelling here is one a common Python logging setup
writes:
- the request: `status`/`path`/`method` (our own structlog fields), `status_code`, `statusCode`,
  `url` (a whole URL), `http.*` and `url.*` (flattened, or nested as Elastic Common Schema and
  OpenTelemetry-style setups nest them), or none at all when the message *is* an access line
  (uvicorn's access logger routed through structlog: `1.2.3.4:5 - "GET /x HTTP/1.1" 200`);
- the exception: a traceback string (structlog's `format_exc_info`, python-json-logger's
  `exc_info`), a mapping holding one (Elastic Common Schema's `error.stack_trace`), structlog's
  `dict_tracebacks` (a list of exceptions, each with its frames), or a traceback appended to the
  message itself (Google Cloud Logging's convention).

Everything here reads hostile input: any value may have any JSON type, and a wrong one means "not
this shape", never an error. Pure functions; `monitoring.events` builds the events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

__all__ = [
    "REQUEST_HINTS",
    "access_request",
    "exception_lines",
    "request_of",
    "traceback_in_message",
]

TRACEBACK_START: Final = "Traceback (most recent call last):"
_CAUSE: Final = "The above exception was the direct cause of the following exception:"
_CONTEXT: Final = "During handling of the above exception, another exception occurred:"
# The most exceptions and frames read from one structured traceback (a record is one line; these
# keep a hostile one from becoming a huge incident text).
_MAX_STACKS: Final = 20
_MAX_FRAMES: Final = 200

# Where a status, a path and a method may be, in order, as dotted paths into the record: a dotted
# key may be one flattened key (`"http.status_code": 200`) or nested objects (`"http": {...}`).
_STATUS_AT: Final = (
    "status",
    "status_code",
    "statusCode",
    "http.status_code",
    "http.response.status_code",
    "response.status_code",
    "http.status",
    "response_status",
)
_PATH_AT: Final = ("path", "url.path", "request_path", "http.target", "http.path", "request.path")
_URL_AT: Final = ("url", "http.url", "url.full", "url.original", "request.url", "uri", "request_uri")
_METHOD_AT: Final = (
    "method",
    "http.method",
    "http.request.method",
    "request.method",
    "http_method",
    "request_method",
)
# The top-level keys a request's status may be under (flattened or the first of nested objects): a
# record without any of them (most lines)
# is no request unless its message is an access line, and costs one set test to tell.
REQUEST_HINTS: Final = frozenset(_STATUS_AT) | frozenset(key.split(".", 1)[0] for key in _STATUS_AT)


def _at(data: Mapping[str, Any], dotted: str) -> Any:
    """The value at a dotted path: the flattened key first, then nested objects."""
    if dotted in data:
        return data[dotted]
    if "." not in dotted:
        return None
    value: Any = data
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _status(value: Any) -> int | None:
    if type(value) is int and 100 <= value <= 599:
        return value
    if type(value) is str and len(value) == 3 and value.isdecimal() and value[0] in "12345":
        return int(value)
    return None


def _path(value: Any) -> str | None:
    if type(value) is not str:
        return None
    if value.startswith("/"):
        return value
    if value.startswith(("http://", "https://")):
        try:
            parts = urlsplit(value)
        except ValueError:
            return None
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return None


def request_of(data: Mapping[str, Any]) -> tuple[str, str, int] | None:
    """(method, path, status) of a record whose fields report a request, else None."""
    status = next((s for key in _STATUS_AT if (s := _status(_at(data, key))) is not None), None)
    if status is None:
        return None
    path = next((p for key in _PATH_AT if (p := _path(_at(data, key))) is not None), None)
    if path is None:
        path = next((p for key in _URL_AT if (p := _path(_at(data, key))) is not None), None)
        if path is None:
            return None
    elif path == _at(data, "url.path") and type(query := _at(data, "url.query")) is str and query:
        path = f"{path}?{query}"
    method = next((m for key in _METHOD_AT if type(m := _at(data, key)) is str and m), "")
    return method, path, status


def access_request(body: str) -> tuple[str, str, int] | None:
    """(method, path, status) of an access line's text, `1.2.3.4:5 - "GET /path HTTP/1.1" 200 [OK]`
    (uvicorn's access format), else None. By partition and split: every access line comes here."""
    client, sep, rest = body.partition(' - "')
    if not sep or " " in client:
        return None
    request, sep, tail = rest.partition('" ')
    pieces = request.split(" ", 2)
    status = tail[:3]
    # `isdecimal`, not `isdigit`: that takes `²`, which `int` refuses (hostile text must not raise).
    if not sep or len(pieces) < 2 or not status.isdecimal() or not pieces[0].isupper():
        return None
    return pieces[0], pieces[1], int(status)


def exception_lines(value: Any) -> list[str] | None:
    """The traceback lines an exception field holds, else None."""
    if type(value) is str:
        return value.splitlines() if TRACEBACK_START in value or "\n" in value else None
    if isinstance(value, Mapping):
        for key in ("stack", "traceback", "stack_trace"):
            inner = value.get(key)
            if type(inner) is str and (TRACEBACK_START in inner or "\n" in inner):
                return _with_ends(inner.splitlines(), value.get("type"), value.get("message"))
        return None
    if isinstance(value, list) and value and all(isinstance(stack, Mapping) for stack in value[:_MAX_STACKS]):
        return _dict_traceback(value[:_MAX_STACKS]) or None
    return None


def _with_ends(lines: list[str], exc_type: Any, message: Any) -> list[str]:
    """Frames as Elastic Common Schema's `error.stack_trace` holds them (ecs-logging writes the
    frames alone, the type and message in fields of their own) made a whole traceback."""
    if type(exc_type) is not str or not exc_type or any(line.startswith(TRACEBACK_START) for line in lines):
        return lines
    last = f"{exc_type}: {message}" if type(message) is str and message else exc_type
    return [TRACEBACK_START, *lines, last]


def _dict_traceback(stacks: list[Mapping[str, Any]]) -> list[str]:
    """structlog's `dict_tracebacks` as the traceback Python prints: the exception raised last
    comes first in the list, so the list is read backwards (the cause first, as Python prints it)."""
    lines: list[str] = []
    frames_left = _MAX_FRAMES
    for index in range(len(stacks) - 1, -1, -1):
        stack = stacks[index]
        exc_type = stack.get("exc_type")
        if type(exc_type) is not str or not exc_type:
            return []  # not a structlog traceback after all
        if lines:
            # The stack after this one (its cause or context) says how they are chained.
            lines += ["", _CAUSE if stacks[index + 1].get("is_cause") is True else _CONTEXT, ""]
        lines.append(TRACEBACK_START)
        frames = stack.get("frames")
        for frame in frames if isinstance(frames, list) else []:
            if frames_left <= 0 or not isinstance(frame, Mapping):
                break
            frames_left -= 1
            filename, lineno, name = frame.get("filename"), frame.get("lineno"), frame.get("name")
            if type(filename) is not str or type(lineno) is not int:
                continue
            lines.append(f'  File "{filename}", line {lineno}, in {name if type(name) is str else "?"}')
            code = frame.get("line")
            if type(code) is str and code.strip():
                lines.append(f"    {code.strip()}")
        value = stack.get("exc_value")
        lines.append(f"{exc_type}: {value}" if type(value) is str and value else exc_type)
    return lines


def traceback_in_message(message: str) -> tuple[str, list[str]] | None:
    """(the message before it, traceback lines) when a message carries a traceback after a newline
    (or is one), else None."""
    start = message.find(TRACEBACK_START)
    if start < 0 or (start > 0 and message[start - 1] != "\n"):
        return None
    lines = message[start:].splitlines()
    head = message[:start].strip()
    if not head:
        last = next((line.strip() for line in reversed(lines) if line.strip()), "")
        head = last  # the exception line says what happened
    return head, lines
