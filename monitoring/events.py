"""Raw log lines → `LogEvent`s: JSON logs, Python logging lines, access lines, tracebacks folded.

`parse_lines(lines)` is a pure function over `RawLine`s (text plus the 1-based line number, or a
timestamp a source already knows). Every line ends up in exactly one event: a line of unknown shape
becomes a message of its own (never dropped), and the lines of a Python traceback — including
chained exceptions — are folded into the event that logged it (or into an event of their own when
the traceback stands alone). Lines carrying `BOT_LOG_MARKER` are the bot's own and are skipped.

Accepted shapes, per line:
- a JSON object (structlog, Railway, python-json-logger, ecs-logging): level/severity/levelname,
  message/event/msg, logger/logger_name/name, timestamp/time/ts/@timestamp, and an exception in
  exception/exc_info/traceback/stack/stack_trace/error; a request and an exception under the other
  keys common setups use are read by `monitoring.record_fields`;
- Python logging: `2026-10-20 02:30:01,123 ERROR app.mcp: text`, `... - app.mcp - ERROR - text`,
  `[2026-10-20T02:30:01Z] ERROR app.mcp: text`, `ERROR:app.mcp:text`, loguru's
  `2026-10-20 02:30:01.123 | ERROR    | app.mcp:charge:42 - text`; an access line as the message
  of any of them is a request;
- uvicorn / gunicorn access lines (`INFO:  1.2.3.4:5 - "GET /x HTTP/1.1" 500`, common log format);
- any line when the source declares a Loghub-style header format (`monitoring.headers`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Final, NamedTuple
from urllib.parse import unquote

import orjson

from monitoring.headers import HeaderFormat
from monitoring.record_fields import (
    REQUEST_HINTS,
    access_request,
    exception_lines,
    request_of,
    traceback_in_message,
)

__all__ = [
    "BOT_LOG_MARKER",
    "DURATION_KEYS",
    "DURATION_SCALES",
    "MAX_LINE_CHARS",
    "NUMBER_AND_UNIT",
    "Frame",
    "LineFolder",
    "LogEvent",
    "OkRequest",
    "RawLine",
    "looks_like_known_shape",
    "parse_json_object",
    "parse_lines",
    "parse_one_line_record",
    "parse_timestamp",
    "parse_traceback",
    "record_starts",
    "without_escapes",
]

# The bot's own log format carries this marker (see bot/runtime.py); lines bearing it are skipped,
# so the bot never reacts to what it logs itself even when a service uses `bot.`-like logger names.
BOT_LOG_MARKER: Final = "[fixbot]"
# Longer lines are cut (the rest is noise for grouping and would bloat storage).
MAX_LINE_CHARS: Final = 16_384


class RawLine(NamedTuple):
    """One line as a source read it: 1-based line number (file sources) or a known timestamp.

    A named tuple, not a dataclass: a scan makes one per line, and a tuple is made several times
    faster than a frozen dataclass."""

    text: str
    number: int = 0
    timestamp: datetime | None = None
    level: str = ""


# Terminal escape sequences: colour (`\x1b[31mERROR\x1b[0m`, uvicorn's and colorlog's output on a
# TTY), cursor moves, titles (OSC, ended by BEL or ST). They hide a line's level and shape from the
# parser, and printed back to a terminal (`agent scan`) they can rewrite what an operator sees.
# An OSC counts only with its terminator: an unterminated `ESC ]` loses the ESC, not the text after.
_ANSI: Final = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


def without_escapes(text: str) -> str:
    """`text` without terminal escape sequences (sources call it when a line holds an ESC)."""
    return _ANSI.sub("", text).replace("\x1b", "")


@dataclass(frozen=True)
class Frame:
    """One `File "...", line N, in f` entry of a traceback."""

    file: str
    line: int
    function: str

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "function": self.function}


@dataclass(slots=True)
class LogEvent:
    """One logical log record. `level` is one of debug|info|warning|error|critical."""

    message: str
    level: str = "info"
    logger: str = ""
    timestamp: datetime | None = None
    line_number: int = 0
    traceback: str = ""
    exception_type: str = ""
    frames: list[Frame] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    # Set by `redact_event`: message and traceback are masked (and need not be masked again).
    redacted: bool = field(default=False, compare=False, repr=False)

    def __init__(  # noqa: PLR0917 - the dataclass's own signature, which callers use positionally
        self,
        message: str,
        level: str = "info",
        logger: str = "",
        timestamp: datetime | None = None,
        line_number: int = 0,
        traceback: str = "",
        exception_type: str = "",
        frames: list[Frame] | None = None,
        fields: dict[str, Any] | None = None,
        redacted: bool = False,
    ) -> None:
        # Written out (the dataclass keeps it) because mypyc compiles it; the one `dataclass` would
        # generate runs as interpreted Python, and a scan makes an event for most lines.
        self.message = message
        self.level = level
        self.logger = logger
        self.timestamp = timestamp
        self.line_number = line_number
        self.traceback = traceback
        self.exception_type = exception_type
        self.frames = [] if frames is None else frames
        self.fields = {} if fields is None else fields
        self.redacted = redacted

    @property
    def is_error(self) -> bool:
        return self.level in {"error", "critical"} or bool(self.traceback)


_LEVELS: Final = {
    "trace": "debug",
    "debug": "debug",
    "info": "info",
    "information": "info",
    "notice": "info",
    "warn": "warning",
    "warning": "warning",
    "err": "error",
    "error": "error",
    "exception": "error",
    "crit": "critical",
    "critical": "critical",
    "fatal": "critical",
    "alert": "critical",
    "emerg": "critical",
    "panic": "critical",
}


_LEVEL_SPELLINGS: Final = {
    spelled: level for name, level in _LEVELS.items() for spelled in (name, name.upper(), name.title())
}


def _level(value: object, default: str = "info") -> str:
    if type(value) is str and (known := _LEVEL_SPELLINGS.get(value)) is not None:
        return known  # `info`, `INFO`, `Info`: every JSON line has one, most in one of these
    if isinstance(value, int):  # python-json-logger levelno
        return "critical" if value >= 50 else "error" if value >= 40 else "warning" if value >= 30 else "info"
    text = str(value).strip().strip('"').lower() if value is not None else ""
    return _LEVELS.get(text, default)


_ISO: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?\s*(Z|[+-]\d{2}:?\d{2})?",
)


def _epoch(seconds: float) -> datetime | None:
    if not math.isfinite(seconds):
        return None  # `inf` from a hostile span would never shrink below the bound below
    while seconds > 1e11:  # milliseconds, microseconds or nanoseconds since the epoch
        seconds /= 1000
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def parse_timestamp(value: object) -> datetime | None:
    """An aware UTC datetime from ISO/RFC 3339 text (naive = UTC) or epoch seconds/ms/ns; else None."""
    if type(value) is not str:  # text first: nearly every time is
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _epoch(float(value))
        if not isinstance(value, str):
            return None
    if value[-1:] == "Z" and len(value) >= 20 and value[10] == "T" and value[13] == ":" and value[16] == ":":
        # `2026-10-20T02:30:01.123456Z` (structlog, most JSON loggers), the standard library's parser
        # in C; the shape is checked first: it also reads week dates and basic times, which the
        # pattern below does not (hostile text reads the same either way).
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is UTC and value[4] == "-" and value[7] == "-":
            return parsed
    if len(value) >= 19 and (value[10] == "T" or value[10] == " "):
        # `2026-10-20 02:30:01,123`: no regex, minutes cached.
        fast = _fast_stamp(value[:19], value[19:])
        if fast is not None:
            return fast
    return _pattern_stamp(value)


def _pattern_stamp(value: str) -> datetime | None:
    """The general reading of an ISO time anywhere in `value` (the shortcuts above give the same)."""
    match = _ISO.search(value)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        stamp = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, UTC)
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 60 + int(digits[2:4] or 0))
        stamp = stamp.replace(tzinfo=None)
        stamp = (stamp - timedelta(minutes=offset)).replace(tzinfo=UTC)
    return stamp


_LEVEL_WORD: Final = r"(?P<level>DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL|TRACE|NOTICE)"
_TS: Final = r"\[?(?P<ts>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)\]?"
_PLAIN: Final = (
    # 2015-10-18 18:01:47,978 INFO [RMCommunicator Allocator] org.apache.hadoop.X: text (log4j's
    # `%d %p [%t] %c: %m`; the thread may hold spaces, the logger is a dotted class name)
    re.compile(rf"^{_TS}\s+{_LEVEL_WORD}\s+\[[^\]]*\]\s+(?P<logger>[\w$]+(?:\.[\w$]+)+):\s+(?P<msg>.*)$"),
    # 2026-10-20 02:30:01,123 ERROR app.mcp: text   |  [ts] [ERROR] app.mcp: text
    re.compile(
        rf"^{_TS}\s+\[?{_LEVEL_WORD}\]?\s+(?:\[?(?P<logger>[\w.$@/-]+)\]?:?\s+)?(?:-\s+)?(?P<msg>.*)$"
    ),
    # 2026-10-20 02:30:01,123 - app.mcp - ERROR - text
    re.compile(rf"^{_TS}\s+-\s+(?P<logger>[\w.$@/-]+)\s+-\s+{_LEVEL_WORD}\s+-\s+(?P<msg>.*)$"),
    # ERROR:app.mcp:text (logging.basicConfig's default format)
    re.compile(rf"^{_LEVEL_WORD}:(?P<logger>[\w.$@-]+):(?P<msg>.*)$"),
    # ERROR 2026-10-20 02:30:01,123 views 7 140 text (Django's documented `verbose` format)
    re.compile(rf"^\[?{_LEVEL_WORD}\]?\s+{_TS}\s+(?P<msg>.*)$"),
    # 2026-10-20 02:30:01.123 | ERROR    | app.mcp:charge:42 - text (loguru's default format)
    re.compile(rf"^{_TS}\s+\|\s+{_LEVEL_WORD}\s+\|\s+(?P<logger>[^\s:|]+):[^\s|]*:\d+\s+-\s(?P<msg>.*)$"),
)
_UVICORN_ACCESS: Final = re.compile(
    rf"^{_LEVEL_WORD}:\s+(?P<client>\S+) - \"(?P<method>[A-Z]+) (?P<path>\S+) [^\"]*\" (?P<status>\d{{3}})"
)
_COMMON_ACCESS: Final = re.compile(
    r"^(?P<client>\S+) \S+ \S+ \[(?P<ts>[^\]]+)\] \"(?P<method>[A-Z]+) (?P<path>\S+)[^\"]*\" "
    r"(?P<status>\d{3}) (?P<size>\S+)(?P<rest>.*)$"
)
_OWN: Final = "_fixbot_own"
_BARE_LEVEL: Final = re.compile(r"\b(CRITICAL|FATAL|ERROR|WARNING|WARN)\b")
_TRACEBACK_START: Final = "Traceback (most recent call last):"
_GROUP_START: Final = "+ Exception Group Traceback (most recent call last):"
_CHAIN_MARKERS: Final = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)
_FRAME: Final = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<function>.+))?')
_EXCEPTION_LINE: Final = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<text>.*))?$")


def _access_level(status: int) -> str:
    return "error" if status >= 500 else "warning" if status >= 400 else "info"


def _message_text(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str) if value is not None else ""


_MESSAGE_KEYS: Final = ("message", "event", "msg", "log")
_LEVEL_KEYS: Final = ("level", "severity", "levelname", "log.level")
_LOGGER_KEYS: Final = ("logger", "logger_name", "name", "log.logger")
_TIME_KEYS: Final = ("timestamp", "time", "ts", "@timestamp", "asctime")
_EXCEPTION_KEYS: Final = (
    "exception",
    "exc_info",
    "traceback",
    "stack",
    "stack_trace",
    "exc_text",
    "error",
    "error.stack_trace",
)
_EXCEPTION_KEY_SET: Final = frozenset(_EXCEPTION_KEYS)
_TIMED_LEVELS: Final = frozenset({"info", "warning"})  # the levels whose durations the detectors time
_UNKEYED_LEVELS: Final = frozenset({"info", "debug"})  # the levels of lines no detector may key
# A duration field and its scale to milliseconds, in the order the detectors look for them.
DURATION_SCALES: Final = (
    *((key, 1.0) for key in ("duration_ms", "latency_ms", "elapsed_ms", "response_time_ms", "took_ms")),
    *((key, 1000.0) for key in ("duration", "duration_s", "elapsed", "elapsed_s", "latency")),
    *((key, 0.001) for key in ("duration_us", "elapsed_us", "latency_us")),
    *((key, 0.000001) for key in ("duration_ns", "elapsed_ns", "latency_ns")),
)
DURATION_KEYS: Final = frozenset(key for key, _ in DURATION_SCALES)
# Every unit of a duration in text starts with m or s right after its number (`12ms`, `2.5 s`): a
# message without a digit followed by one holds no duration (`monitoring.detect.duration_ms`).
NUMBER_AND_UNIT: Final = re.compile(r"\d\s*[mMsS\u017f]").search  # ſ: re's case-blind `s` takes it too
_SCALARS: Final = frozenset({str, int, float, bool})


def _json_dict(text: str) -> dict[str, Any] | None:
    """The JSON object `text` is (None when it is not one, or is nested past the parser's depth).

    Parsed by orjson (a fifth of `json.loads`' time on a log line) where it can; what orjson refuses
    and Python's parser takes (NaN, escaped lone surrogates) goes to `json`."""
    if not text.endswith("}"):
        return None
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            return None
    return data if type(data) is dict else None


def parse_json_object(text: str) -> dict[str, Any] | None:
    """The JSON object a line is, else None (as the parser reads JSON lines)."""
    return _json_dict(text)


class _JsonKeys:
    """What a JSON record's keys say, whatever their values: which key holds its message, logger,
    time and level (the first present, in the order of `_MESSAGE_KEYS` …), its duration keys, and
    whether it has request, exception or limit keys. Worked out once per shape of record (a logger
    writes the same keys in the same order), not for every line."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        present = frozenset(keys)
        self.message = _first_present(present, _MESSAGE_KEYS)
        self.logger = _first_present(present, _LOGGER_KEYS)
        self.time = _first_present(present, _TIME_KEYS)
        self.level = _first_present(present, _LEVEL_KEYS)
        self.nested_log = "log" in present  # Elastic Common Schema nests the logger there
        self.request = not REQUEST_HINTS.isdisjoint(present)
        self.exception = not _EXCEPTION_KEY_SET.isdisjoint(present)
        self.limit = "limit_ms" in present
        self.durations = tuple((key, scale) for key, scale in DURATION_SCALES if key in present)


def _first_present(present: frozenset[str], keys: tuple[str, ...]) -> str | None:
    return next((key for key in keys if key in present), None)


_SHAPES: Final[dict[tuple[str, ...], _JsonKeys]] = {}


def _keys_of(data: dict[str, Any]) -> _JsonKeys:
    shape = tuple(data)
    keys = _SHAPES.get(shape)
    if keys is None:
        if len(_SHAPES) >= 256:
            _SHAPES.clear()  # a source of ever-new keys (hostile, or one key per user) stays bounded
        keys = _SHAPES[shape] = _JsonKeys(shape)
    return keys


def _json_text(data: dict[str, Any], keys: _JsonKeys) -> tuple[str, str, datetime | None]:
    """A JSON record's message, logger and time."""
    message = data[keys.message] if keys.message is not None else ""
    logger = data[keys.logger] if keys.logger is not None else ""
    if logger == "" and keys.nested_log and type(nested := data.get("log")) is dict:
        logger = nested.get("logger", "")  # Elastic Common Schema nests it: `"log": {"logger": …}`
    return (
        message if type(message) is str else _message_text(message),
        logger if type(logger) is str else str(logger),
        parse_timestamp(data[keys.time] if keys.time is not None else None),
    )


def _json_level(data: dict[str, Any], keys: _JsonKeys, raw: RawLine) -> str:
    return _level(data[keys.level] if keys.level is not None else None, raw.level or "info")


_RANK: Final = {"debug": 0, "info": 1, "warning": 2, "error": 3, "critical": 4}


def _from_json(data: dict[str, Any], raw: RawLine) -> LogEvent:
    keys = _keys_of(data)
    return _json_event(data, raw, keys, _json_level(data, keys, raw), _json_text(data, keys))


def _json_event(
    data: dict[str, Any], raw: RawLine, keys: _JsonKeys, level: str, text: tuple[str, str, datetime | None]
) -> LogEvent:
    """The event of a JSON record whose level and text (`_json_text`) are read already."""
    message, logger, stamp = text
    # `type(v) in` rather than isinstance: a scan does this for every field of every JSON line.
    fields = {k: v for k, v in data.items() if type(v) in _SCALARS}
    if keys.request or ' - "' in message:
        level, message = _json_request_fields(data, fields, level, message)
    event = LogEvent(message, level, logger, stamp or raw.timestamp, raw.number, fields=fields)
    if keys.exception:
        for key in _EXCEPTION_KEYS:
            lines = exception_lines(data.get(key))
            if lines:
                _attach_traceback(event, lines)
                return event
    if "\n" in message and (found := traceback_in_message(message)) is not None:
        event.message, lines = found
        _attach_traceback(event, lines)
    return event


def _json_request_fields(
    data: dict[str, Any], fields: dict[str, Any], level: str, message: str
) -> tuple[str, str]:
    """A record that reports a request under other keys than ours (`status_code`, `http.*`, a
    whole `url`), or whose message is an access line: its fields get our `method`, `path` and
    `status`, so every detector reads it as the request it is. A failed request is at least as
    severe as its status says (uvicorn logs a 500 at INFO). Returns (level, message)."""
    request = request_of(data)
    from_message = request is None
    if request is None:
        request = access_request(message)
        if request is None:
            return level, message
    method, path, status = request
    fields.update(method=method, path=path, status=status)
    worse = _access_level(status)
    if _RANK.get(worse, 0) > _RANK.get(level, 0):
        level = worse
    if from_message:
        message = f"{method} {_readable(path)} {status:03d}"  # as a plain access line reads
    return level, message


_JSON_STRING: Final = r'"((?:[^"\\]|\\.)*)(?:"|$)'
_PARTIAL_KEYS: Final = {
    "level": re.compile(r'"(?:level|severity|levelname)"\s*:\s*' + _JSON_STRING),
    "message": re.compile(r'"(?:message|event|msg)"\s*:\s*' + _JSON_STRING),
    "logger": re.compile(r'"(?:logger|logger_name|name)"\s*:\s*' + _JSON_STRING),
    "timestamp": re.compile(r'"(?:timestamp|time|ts|@timestamp)"\s*:\s*' + _JSON_STRING),
    "exception": re.compile(
        r'"(?:exception|exc_info|traceback|stack|stack_trace|exc_text)"\s*:\s*' + _JSON_STRING
    ),
}


_CUT_EXCEPTION_TYPE: Final = re.compile(r'"exc_type"\s*:\s*"((?:[^"\\]|\\.)+)"')


def _unescape(value: str) -> str:
    """A JSON string body that may be cut anywhere (even inside an escape)."""
    for cut in range(4):
        try:
            text = json.loads(f'"{value[: len(value) - cut] if cut else value}"')
        except ValueError:
            continue
        return text if isinstance(text, str) else value
    return value


def _from_partial_json(text: str, raw: RawLine) -> LogEvent | None:
    """A JSON object cut short (a line limit, a crash mid-write): what its first keys say."""
    found = {k: m.group(1) for k, p in _PARTIAL_KEYS.items() if (m := p.search(text))}
    if "message" not in found and "level" not in found:
        return None
    event = LogEvent(
        message=_unescape(found.get("message", "")),
        level=_level(found.get("level"), default=raw.level or "info"),
        logger=_unescape(found.get("logger", "")),
        timestamp=parse_timestamp(found.get("timestamp")) or raw.timestamp,
        line_number=raw.number,
        fields={"truncated": True},
    )
    exception = _unescape(found.get("exception", ""))
    if exception and (_TRACEBACK_START in exception or "\n" in exception):
        _attach_traceback(event, exception.splitlines())
    elif (cut := _CUT_EXCEPTION_TYPE.search(text)) is not None:
        # structlog's `dict_tracebacks`, cut: its first entry is the exception raised last.
        event.exception_type = _unescape(cut.group(1))
        if event.level not in {"error", "critical"}:
            event.level = "error"
    return event


def _structured(text: str, raw: RawLine, header: HeaderFormat | None) -> LogEvent | None:
    stripped = text.strip()
    if stripped.startswith("{"):
        data = _json_dict(stripped)
        if data is not None:
            return _from_json(data, raw)
        cut = _from_partial_json(stripped, raw)
        if cut is not None:
            return cut
    fields = header.split(text) if header is not None else None
    if fields is None:
        return None
    if "Header" in fields:
        # An inferred header has no named fields: its time and level are found in its text.
        head = fields["Header"]
        level = next((_LEVEL_SPELLINGS[word] for word in _words(head) if word in _LEVEL_SPELLINGS), "")
        return LogEvent(
            message=fields["Content"].strip(),
            level=level or _guess_level(f"{head} {fields['Content']}", raw.level),
            timestamp=parse_timestamp(head) or raw.timestamp,
            line_number=raw.number,
        )
    stamp = " ".join(v for k, v in fields.items() if k in {"Date", "Time"})
    return LogEvent(
        message=fields["Content"].strip(),
        level=_level(fields.get("Level", ""), default=_guess_level(fields["Content"], raw.level)),
        logger=fields.get("Component", "") or fields.get("Logger", ""),
        timestamp=parse_timestamp(stamp) or raw.timestamp,
        line_number=raw.number,
        fields={k: v for k, v in fields.items() if k != "Content"},
    )


def _words(text: str) -> list[str]:
    return [word.strip("[](){}<>:|-*,") for word in text.split()]


_LEVEL_WORDS: Final = {
    "DEBUG": "debug",
    "INFO": "info",
    "WARNING": "warning",
    "WARN": "warning",
    "ERROR": "error",
    "CRITICAL": "critical",
    "FATAL": "critical",
    "TRACE": "debug",
    "NOTICE": "info",
}


# Datetimes of whole minutes by `YYYY-MM-DD HH:MM` (lines come in time order: few are live; a
# quiet service logs about one line a second, so whole seconds would seldom repeat).
_MINUTES: Final[dict[str, datetime]] = {}
_SECOND_OF: Final = {f":{s:02d}": timedelta(seconds=s) for s in range(60)}
_FRACTION_OF: Final = {f"{sep}{ms:03d}": timedelta(milliseconds=ms) for sep in ",." for ms in range(1000)}


def _fast_stamp(head: str, tail: str) -> datetime | None:
    """`2026-10-20 02:30:01` (or `…T02:30:01`) + `,123` / `.123456Z` / `` → datetime, no regex.

    `head` is the 19 characters to the whole second, `tail` the fraction. The minute is cached and
    the rest added from tables (an addition costs a tenth of making a datetime)."""
    minute = _MINUTES.get(head[:16])
    if minute is None:
        minute = _whole_minute(head[:16])
        if minute is None:
            return None
    second = _SECOND_OF.get(head[16:])
    if second is None:
        return None
    if tail[-1:] == "Z":
        tail = tail[:-1]
    if not tail:
        return minute + second
    if len(tail) == 4 or (len(tail) == 7 and tail[4:] == "000"):
        # `,123` (logging) or `.123000` (isoformat of a time in milliseconds): the common cases.
        fraction = _FRACTION_OF.get(tail[:4])
        if fraction is not None:
            return minute + (second + fraction)
    if tail[0] not in ".," or not tail[1:].isdecimal():  # `isdigit` takes `²`: `int` refuses it
        return None
    return minute + second + timedelta(microseconds=int(tail[1:7].ljust(6, "0")))


def _whole_minute(head: str) -> datetime | None:
    if len(head) != 16 or head[4] != "-" or head[7] != "-" or head[13] != ":":
        return None
    try:
        minute = datetime(
            int(head[:4]), int(head[5:7]), int(head[8:10]), int(head[11:13]), int(head[14:]), 0, 0, UTC
        )
    except ValueError:
        return None
    if len(_MINUTES) >= 4096:
        _MINUTES.clear()
    _MINUTES[head] = minute
    return minute


class OkRequest(NamedTuple):
    """A request that succeeded (status below 400): what a scan reads of it, without an event.

    Most lines of a web service are these; a scan counts them by route (and times them, when they
    say how long they took) and keeps one only when a detector flags its route: `event()` makes
    the `LogEvent` the folder would have made, then."""

    method: str
    path: str
    status: int
    timestamp: datetime | None
    raw: RawLine
    took: float | None = None  # milliseconds, from a JSON duration field (a timed request)
    logger: str = "access"
    message: str = ""
    source: dict[str, Any] | None = None  # the JSON object of the line

    def event(self) -> LogEvent:
        """The event this line is (made on demand: most requests never need one)."""
        if self.source is not None:
            event = _from_json(self.source, self.raw)
            event.timestamp = self.timestamp  # its own, or the line before's (as the folder does)
            return event
        return _request_event(self.method, self.path, self.status, self.timestamp, self.raw.number)


_new_ok: Final = partial(tuple.__new__, OkRequest)  # tuple.__new__ from C: OkRequest's own __new__ is Python


def _json_record(
    data: dict[str, Any], raw: RawLine, last: datetime | None
) -> LogEvent | OkRequest | datetime:
    """A JSON line as `parse_one_line_record` gives it: a successful request, a time, or an event.
    Its level and text are read once, for the time or the event."""
    keys = _keys_of(data)
    request = _ok_json_request(data, keys, raw, last)
    if request is not None:
        return request
    level = _json_level(data, keys, raw)
    text = _json_text(data, keys)
    if _unkeyed(keys, level, text[0]) and (stamp := text[2] or raw.timestamp) is not None:
        return stamp
    return _json_event(data, raw, keys, level, text)


def _unkeyed(keys: _JsonKeys, level: str, message: str) -> bool:
    """Whether no detector keys a JSON line, as `Detector.reads_template` would judge its event (a
    debug line, or an info line reporting no duration: no duration field, no digit followed by a
    unit in its message) and it is no request and carries no traceback: its time is all it is."""
    if keys.request or keys.exception or keys.durations or level not in _UNKEYED_LEVELS:
        return False
    return not ("\n" in message or ' - "' in message or (level == "info" and NUMBER_AND_UNIT(message)))


def _ok_json_request(
    data: dict[str, Any], keys: _JsonKeys, raw: RawLine, last: datetime | None
) -> OkRequest | None:
    """A JSON line that is a successful request and nothing more (no exception, no own limit), as
    `_from_json` + the detectors would read it; else None (the line becomes an event)."""
    if not keys.request or keys.limit or keys.exception:
        return None
    status = data.get("status")
    path = data.get("path")
    method = data.get("method")
    if (
        type(status) is int
        and 100 <= status < 400
        and type(path) is str
        and path[:1] == "/"
        and type(method) is str
        and method
    ):
        pass  # our own fields, read as `request_of` would read them
    else:
        request = request_of(data)  # a request under other keys (`status_code`, `http.*`, `url`)
        if request is None or request[2] >= 400:
            return None
        method, path, status = request
    level = _json_level(data, keys, raw)
    if level not in _TIMED_LEVELS:
        return None  # an error (its own detector), or a debug line (never timed): an event
    took = None
    for key, scale in keys.durations:
        value = data[key]
        if type(value) is int or type(value) is float:
            took = value * scale
            break
    message, logger, stamp = _json_text(data, keys)
    return _new_ok(
        (
            method,
            path,
            status,
            stamp or raw.timestamp or last,
            raw,
            took,
            logger,
            message,
            data,
        )
    )


def record_starts(lines: list[RawLine]) -> list[bool]:
    """Per line, whether the folder takes it as the start of a new record while no traceback is
    open: its first character is not a space and it is not `Traceback (most recent call last):`."""
    return [bool(raw.text[:1].strip()) and not raw.text.startswith(_TRACEBACK_START) for raw in lines]


def parse_one_line_record(
    text: str, raw: RawLine, last: datetime | None
) -> LogEvent | OkRequest | datetime | None:
    """A record the caller knows is one line (it and the next line start records: `record_starts`),
    in a built-in shape that needs no pattern; None when the line needs the folder (or the patterns).

    A successful request is an `OkRequest`; a line no detector keys (an info line reporting no
    duration, a debug line) is just its time, a `datetime`, as `Detector.reads_template` would
    judge its event; anything else is its `LogEvent`. A line without a time of its own happened
    when the line before did (`last`), as the folder has it."""
    if len(text) > MAX_LINE_CHARS or BOT_LOG_MARKER in text:
        return None
    if text[-1:] in {"\n", "\r"}:
        text = text.rstrip("\r\n")
    if text[:1] == "{":
        data = _json_dict(text)
        if data is None:
            return _structured(text, raw, None)  # a line cut mid-JSON, or not JSON after all
        return _json_record(data, raw, last)
    return _fast_line(text, raw, ok_requests=True, last=last)


def _fast_line(
    text: str, raw: RawLine, *, ok_requests: bool = False, last: datetime | None = None
) -> LogEvent | OkRequest | datetime | None:
    """The common shapes by `str.split` alone (no regex); None sends the line to the patterns."""
    if text[:1].isdigit():
        parts = text.split(" ", 4)
        first = parts[0]
        if len(parts) >= 3 and len(first) == 10 and first[4] == "-":
            return _fast_logging(text, parts, raw, ok_requests)
        return None
    # uvicorn: `INFO:     1.2.3.4:5 - "GET /x HTTP/1.1" 200` or `ERROR:    Exception in ASGI application`:
    # a level word, a colon, at least two spaces (no split: the line may be a long request).
    colon = text.find(":", 1, 10)
    if colon < 0 or text[colon + 1 : colon + 3] != "  " or (level := _LEVEL_WORDS.get(text[:colon])) is None:
        return None
    body = text[colon + 1 :].lstrip(" ")
    stamp = raw.timestamp or last
    access = _uvicorn_access(body, raw, stamp, ok_requests)
    if access is not None:
        return access
    if (
        ok_requests
        and stamp is not None
        and (level == "debug" or (level == "info" and not NUMBER_AND_UNIT(body)))
    ):
        return stamp  # `Started server process [7]`: only its time counts
    return LogEvent(body, level, "uvicorn", stamp, raw.number)


def _fast_logging(
    text: str, parts: list[str], raw: RawLine, ok_requests: bool
) -> LogEvent | OkRequest | datetime | None:
    """`2026-10-20 02:30:01,123 LEVEL logger: message`, split in five."""
    level = _LEVEL_WORDS.get(parts[2])
    if level is None or len(parts) < 5 or not parts[3].endswith(":"):
        return None
    # The line starts with `date time`: its first 19 characters are the whole second.
    stamp = _fast_stamp(text[:19], parts[1][8:]) if len(parts[1]) >= 8 else None
    if stamp is None:
        return None
    message = parts[4]
    if ' - "' in message:
        # uvicorn's access logger behind a logging formatter: `1.2.3.4:5 - "GET /x HTTP/1.1" 200`
        access = _uvicorn_access(message, raw, stamp, ok_requests)
        if access is not None:
            return access
    if ok_requests and (level == "debug" or (level == "info" and not NUMBER_AND_UNIT(message))):
        return stamp  # no detector keys this line: only its time counts
    return LogEvent(message, level, parts[3][:-1], stamp, raw.number)


def _uvicorn_access(
    body: str, raw: RawLine, stamp: datetime | None, ok_requests: bool = False
) -> LogEvent | OkRequest | None:
    """`1.2.3.4:5 - "GET /path HTTP/1.1" 200 [OK]` as a request."""
    request = access_request(body)
    if request is None:
        return None
    method, path, code = request
    if ok_requests and code < 400:
        # tuple.__new__ takes every field (defaults are the Python __new__'s).
        return _new_ok((method, path, code, stamp, raw, None, "access", "", None))
    return _request_event(method, path, code, stamp, raw.number)


def _request_event(method: object, path: str, code: int, stamp: datetime | None, number: int) -> LogEvent:
    """A request line's event: `METHOD /path STATUS` (the status in three digits, as logged), with
    its level from the status."""
    fields: dict[str, Any] = {"method": method, "path": path, "status": code}
    message = f"{method} {_readable(path)} {code:03d}"
    return LogEvent(message, _access_level(code), "access", stamp, number, fields=fields)


def _readable(path: str) -> str:
    # Percent-decoded for people and for redaction: `?q=token%3Dxoxb-…` hides the token from every
    # rule that looks for a word boundary before it.
    return unquote(path) if "%" in path else path


def _from_line(text: str, raw: RawLine, header: HeaderFormat | None) -> LogEvent:
    if header is None and text[:1] not in "{ \t":
        fast = _fast_line(text, raw)
        if isinstance(fast, LogEvent):  # never a request or a bare time: not asked for
            return fast
    structured = _structured(text, raw, header)
    if structured is not None:
        return structured
    stripped = text.strip()
    access = _UVICORN_ACCESS.match(stripped) or _COMMON_ACCESS.match(stripped)
    if access:
        return _access_event(access.groupdict(), raw)
    for pattern in _PLAIN:
        match = pattern.match(stripped)
        if match:
            groups = match.groupdict()
            message = groups["msg"].strip()
            stamp = parse_timestamp(groups.get("ts")) or raw.timestamp
            if ' - "' in message and (request := access_request(message)) is not None:
                # uvicorn's access logger behind this format: `1.2.3.4:5 - "GET /x HTTP/1.1" 200`
                return _request_event(*request, stamp, raw.number)
            return LogEvent(
                message=message,
                level=_level(groups["level"]),
                logger=groups.get("logger") or "",
                timestamp=stamp,
                line_number=raw.number,
            )
    return LogEvent(
        message=stripped,
        level=_guess_level(stripped, raw.level),
        timestamp=parse_timestamp(stripped[:40]) or raw.timestamp,
        line_number=raw.number,
    )


_TRAILING_DURATION: Final = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|us|µs)?\s*$")


def _access_event(groups: Mapping[str, str], raw: RawLine) -> LogEvent:
    status = int(groups["status"])
    fields: dict[str, Any] = {"method": groups["method"], "path": groups["path"], "status": status}
    rest = (groups.get("rest") or "").strip()
    duration = _TRAILING_DURATION.search(rest) if rest else None
    if duration:
        fields["duration"] = duration.group(0)
    stamp = groups.get("ts")
    parsed = None
    if stamp:
        try:
            parsed = datetime.strptime(stamp, "%d/%b/%Y:%H:%M:%S %z").astimezone(UTC)
        except ValueError:
            parsed = None
    return LogEvent(
        message=f"{groups['method']} {_readable(groups['path'])} {status}",
        level=_access_level(status),
        logger="access",
        timestamp=parsed or raw.timestamp,
        line_number=raw.number,
        fields=fields,
    )


def _guess_level(text: str, default: str) -> str:
    match = _BARE_LEVEL.search(text[:200])
    if match:
        return _level(match.group(1))
    return default or "info"


def parse_traceback(lines: Iterable[str]) -> tuple[str, list[Frame]]:
    """(exception type, frames innermost last) of a traceback; the last chained exception wins."""
    exception_type = ""
    frames: list[Frame] = []
    current: list[Frame] = []
    for line in map(_ungroup, lines):
        if line is None:
            continue
        frame = _FRAME.match(line)
        if frame:
            current.append(
                Frame(frame.group("file"), int(frame.group("line")), (frame.group("function") or "").strip())
            )
            continue
        if line.startswith((_TRACEBACK_START, _GROUP_START[2:])):
            current = []
            continue
        if line and not line[0].isspace() and line not in _CHAIN_MARKERS:
            match = _EXCEPTION_LINE.match(line.strip())
            if match and current:
                exception_type = match.group("type")
                frames = current
                current = []
    return exception_type, frames


def _ungroup(line: str) -> str | None:
    """A line of an exception-group traceback (`  |   File …`) as a plain traceback line; None for
    its `+---- 1 ----` separators. Other lines are returned as they are."""
    stripped = line.lstrip(" ")
    if not stripped or stripped[0] not in "|+":
        return line
    if stripped.startswith("+-"):
        return None
    body = stripped[1:]
    return body[1:] if body.startswith(" ") else body


def _attach_traceback(event: LogEvent, lines: list[str]) -> None:
    event.traceback = "\n".join(lines).strip("\n")
    event.exception_type, event.frames = parse_traceback(lines)
    if event.level not in {"error", "critical"}:
        event.level = "error"


def looks_like_known_shape(line: str) -> bool:
    """Whether a line is one of the built-in shapes (JSON, Python logging, access, traceback)."""
    stripped = line.strip()
    if stripped.startswith((_TRACEBACK_START, 'File "')) or (line[:1].isspace() and stripped):
        return True
    return _looks_like_record(line) or bool(_UVICORN_ACCESS.match(stripped))


def _looks_like_record(line: str) -> bool:
    stripped = line.strip()
    if stripped.startswith("{"):
        return True
    first = stripped.split(" ", 1)[0]
    if first.endswith(":") and first[:-1] in _LEVEL_WORDS:
        return True  # uvicorn's `INFO:     …` / `ERROR:    …`
    return any(pattern.match(stripped) for pattern in _PLAIN) or bool(_COMMON_ACCESS.match(stripped))


def _is_exception_line(line: str) -> bool:
    return bool(line) and not line[0].isspace() and bool(_EXCEPTION_LINE.match(line.split(" ", 1)[0]))


def parse_lines(lines: Iterable[RawLine], header: HeaderFormat | None = None) -> Iterator[LogEvent]:
    """Events in order; traceback lines are folded into the event before them.

    A traceback runs from `Traceback (most recent call last):` through its indented frames to the
    exception line; blank lines and the chain markers keep it open for a following traceback.
    """
    folder = LineFolder(header)
    for raw in lines:
        yield from folder.feed(raw)
    yield from folder.close()


# A record longer than this many lines is not carried over to the next scan in full (its first
# lines are, which keeps the message and the start of the traceback).
MAX_CARRY_LINES: Final = 400


class LineFolder:
    """The traceback-folding state machine behind `parse_lines`, fed one line at a time.

    A chunked reader feeds every chunk to the same folder, so a record whose traceback continues in
    the next chunk stays one event. `carry()` hands back the raw lines of the record still open at
    the end of a scan, for the next scan to feed first.
    """

    def __init__(self, header: HeaderFormat | None) -> None:
        self.header = header
        self.pending: LogEvent | None = None
        self.block: list[str] = []
        self.held: list[str] = []
        self.state = "none"  # none | frames | after (exception line seen; a chain may follow)
        # The raw lines of the pending record, for carry(): its first line, then any traceback lines.
        self.head: RawLine | None = None
        self.tail: list[RawLine] = []
        self.last_timestamp: datetime | None = None

    def _emit(self) -> LogEvent | None:
        event = self.pending
        if self.block:
            _finish(event, self.block)
            self.block = []
        if self.held:
            self.held = []
        self.state = "none"
        self.pending = None
        if event is None or event.fields.get(_OWN):
            return None
        return self.stamp(event)

    def stamp(self, event: LogEvent) -> LogEvent:
        """`event` with a time: lines without one (uvicorn's own) happen when the line before did."""
        if event.timestamp is None:
            event.timestamp = self.last_timestamp
        else:
            self.last_timestamp = event.timestamp
        return event

    def flush(self) -> LogEvent | None:
        """The open record, now complete: the caller knows the next line starts a new record.

        For a scanner that reads a one-line record itself (`parse_one_line_record`) between records
        the folder saw; only while no traceback is open (`state == "none"`)."""
        event = self._emit()
        self.head, self.tail = None, []
        return event

    def _record(self, text: str, raw: RawLine) -> LogEvent | None:
        out = self._emit() if (self.pending is not None or self.block) else None
        self.head = raw
        if self.tail:
            self.tail = []
        self.pending = _from_line(text, raw, self.header)
        return out

    def feed(self, raw: RawLine) -> list[LogEvent]:
        """The events completed by `raw` (usually the one before it)."""
        event = self.feed_one(raw)
        return [] if event is None else [event]

    def feed_one(self, raw: RawLine) -> LogEvent | None:
        """The event completed by `raw`, if any (a line completes at most one)."""
        text = raw.text
        if len(text) > MAX_LINE_CHARS:
            text = text[:MAX_LINE_CHARS]
        if text[-1:] in {"\n", "\r"}:
            text = text.rstrip("\r\n")
        first = text[:1]
        if (
            self.state == "none"
            and first
            and not first.isspace()
            and not text.startswith(_TRACEBACK_START)
            and BOT_LOG_MARKER not in text
        ):
            return self._record(text, raw)  # the common case: a new record, no traceback open
        return self._feed_rest(text, raw)

    def _feed_rest(self, text: str, raw: RawLine) -> LogEvent | None:
        if BOT_LOG_MARKER in text and self.state != "frames":
            # The bot's own record: it (and a traceback under it) is dropped when emitted.
            out = self._emit()
            self.pending = LogEvent(message="", fields={_OWN: True})
            self.head, self.tail = raw, []
            return out
        kept = len(self.tail) < MAX_CARRY_LINES
        if kept:
            self.tail.append(raw)
        if text.startswith(_TRACEBACK_START) or (
            text[:1] == " " and text.lstrip(" ").startswith(_GROUP_START) and self.state == "none"
        ):
            self._start_traceback(raw)
            self.block.extend([*self.held, text])
            self.held, self.state = [], "frames"
            return None
        if self.state == "frames" and self._in_frames(text):
            return None
        if self.state == "after" and self._in_tail(text):
            return None
        if kept:
            self.tail.pop()  # not part of the open record after all
        if not text.strip():
            return None
        return self._record(text, raw)

    def _start_traceback(self, raw: RawLine) -> None:
        if self.state == "none" and self.pending is None:
            # A traceback on its own: the event is the traceback (message from its last line).
            self.head = None
            self.pending = LogEvent(
                message="", level="error", timestamp=raw.timestamp, line_number=raw.number
            )
            self.pending.fields["standalone"] = True

    def _in_frames(self, text: str) -> bool:
        if not text.strip() or text[0].isspace():
            self.block.append(text)
            return True
        if _looks_like_record(text):
            # A new log record interrupts a traceback cut short (no exception line).
            self.state = "after"
            return False
        self.block.append(text)
        self.state = "after" if _is_exception_line(text) else "frames"
        return True

    def _in_tail(self, text: str) -> bool:
        if not text.strip() or text.strip() in _CHAIN_MARKERS:
            self.held.append(text)
            return True
        if text[0].isspace() and not self.held:
            # Continuation of a multi-line exception message.
            self.block.append(text)
            return True
        return False

    def close(self) -> list[LogEvent]:
        """The record still open (the input ended)."""
        event = self._emit()
        return [] if event is None else [event]

    def _holdable(self, since: datetime) -> bool:
        event = self.pending
        return (
            event is not None
            and (event.timestamp is None or event.timestamp >= since)
            and self.head is not None
            and not self.block
            and not event.traceback
            and event.level in {"error", "critical"}
            # A request line is whole; the bot's own lines are dropped anyway.
            and not event.fields.get(_OWN)
            and "status" not in event.fields
        )

    def carry(self, *, hold_error_since: datetime | None = None) -> tuple[list[LogEvent], list[RawLine]]:
        """End of a scan: (the events now complete, the raw lines of a record that may go on).

        A record whose traceback has not reached its exception line yet is handed back as raw lines
        for the next scan to feed first (the rest is most likely still being written). So is an error
        record that is the last line read and was written at or after `hold_error_since` (or has no
        time): its traceback is usually the next thing written (`logger.exception` writes the
        message, then the frames), and an older one would have had it by now. The caller passes None
        when that record was already held once, so a service that logs one last error and falls
        silent still has it reported by the next scan. Any other open record is emitted.
        """
        if self.state == "none" and hold_error_since is not None and self._holdable(hold_error_since):
            lines = [self.head] if self.head is not None else []
            self.pending, self.block, self.held, self.head, self.tail = None, [], [], None, []
            return [], lines
        if self.state != "frames":
            return self.close(), []
        lines = [self.head, *self.tail] if self.head is not None and self.pending is not None else self.tail
        self.pending, self.block, self.held, self.state, self.head, self.tail = None, [], [], "none", None, []
        return [], lines


def _finish(event: LogEvent | None, block: list[str]) -> None:
    if event is None or not block:
        return
    _attach_traceback(event, block)
    if event.fields.pop("standalone", False) or not event.message:
        last = next((line for line in reversed(block) if line.strip() and not line[0].isspace()), "")
        event.message = last.strip()
