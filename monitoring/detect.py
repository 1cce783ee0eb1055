"""Detectors: log events, one at a time, → `Anomaly`s. Streaming, bounded memory, no I/O.

`Detector.observe(event, group, template)` looks at each event once; `Detector.finish(template_of)`
returns the anomalies. Shortcuts give the same result for the most common lines:
`observe_ok_request` takes a successful request without its event (`OkRequest`), `observe_unkeyed`
an event `reads_template` says no detector keys by template (untimed info, debug), and
`observe_time` such a line read as its time alone.
What is kept does not grow with the number of lines: per error/template key a counter, a few
timestamps, ≤ 5 samples and ≤ 1000 line numbers; per template a per-slot count and a moving baseline;
at most 50,000 keys per table. Thresholds come from `DetectorThresholds` (documented in docs/monitoring.md):

- error_pattern (high; critical when logged as critical): the same error (traceback fingerprint,
  else logger + template) `error_repeat`+ times within `window_seconds`;
- new_error (medium): an error fingerprint never seen, first seen once `new_error_baseline_seconds`
  of history exist (the warm-up);
- new_value (medium): a known template or route (≥ `new_value_min_events` events) whose error field
  takes a value it never had: a new HTTP status ≥ 400, a new exception message, after the warm-up;
- performance (medium): truncation warnings (`truncation_repeat`+ in the window); an operation whose
  typical duration shifts — the median of its last `slow_recent` durations is `slow_factor`× its own
  baseline (a moving average over ≥ `slow_baseline_count` earlier ones) — or a duration over an
  explicit limit (`slow_templates`, or the global `slow_ms` when set);
- unusual (low): a warning-level template whose per-slot count is `spike_factor`× its own baseline
  (and ≥ `spike_min_count`) for at least `sustain_seconds`; or a route whose share of 4xx/5xx
  answers rises `error_share_factor`× (and by `error_share_min_delta`) for `sustain_seconds`.
  Info-level traffic never becomes an incident by its volume alone.

Relative detectors (spikes, error share) start judging after `baseline_seconds` of history.

A Python traceback's fingerprint is its exception type plus the innermost frames of the service's
own code (site-packages and the standard library excluded), without line numbers — so a fix that
moves code keeps the fingerprint, one bug with varying values is one incident, and two exceptions
behind the same log message are two. Other fingerprints hash the logger and the template.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any, Final

from core.settings import DetectorThresholds
from monitoring.events import DURATION_KEYS, DURATION_SCALES, NUMBER_AND_UNIT, Frame, LogEvent, OkRequest
from monitoring.redact import redact, redact_event

__all__ = [
    "Anomaly",
    "Detector",
    "DetectorState",
    "Thresholds",
    "detect",
    "duration_ms",
    "incident_title",
    "is_own_frame",
    "route_for",
    "traceback_fingerprint",
]

MAX_SAMPLES: Final = 5
MAX_LINE_NUMBERS: Final = 1000
_MAX_STATE_KEYS: Final = 5000
MAX_KEYS: Final = 50_000  # live keys inside one scan; beyond it new keys are not tracked
_MAX_VALUES: Final = 50  # distinct error values remembered per template
_OWN_FRAMES: Final = 3
_DURATION_ALPHA: Final = 0.05  # weight of one new duration in an operation's (log-space) baseline
_RATE_ALPHA: Final = 0.1  # weight of one slot in a template's per-slot count baseline

# The detectors read the validated settings object itself (frozen, so read-only).
Thresholds = DetectorThresholds


@dataclass(frozen=True)
class Anomaly:
    """Something worth a human's attention, with everything needed to upsert an incident."""

    kind: str  # error_pattern | performance | unusual | new_error | new_value | alert
    fingerprint: str
    severity: str  # low | medium | high | critical
    count: int
    template: str
    first_seen: datetime
    last_seen: datetime
    samples: tuple[str, ...]
    line_numbers: tuple[int, ...] = ()
    logger: str = ""
    exception_type: str = ""
    frames: tuple[Frame, ...] = ()
    traceback: str = ""
    title: str = ""

    def as_json(self) -> dict[str, Any]:
        """The `agent scan --json` shape."""
        return {
            "kind": self.kind,
            "fingerprint": self.fingerprint,
            "severity": self.severity,
            "count": self.count,
            "template": self.template,
            "title": self.title,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "samples": list(self.samples),
            "line_numbers": list(self.line_numbers),
            "logger": self.logger,
            "exception_type": self.exception_type,
            "frames": [f.as_dict() for f in self.frames],
        }

    def details(self, source: str) -> dict[str, Any]:
        """`Incident.details` as agreed between helpers (see COMMON.md)."""
        return {
            "template": self.template,
            "logger": self.logger,
            "exception_type": self.exception_type,
            "frames": [f.as_dict() for f in self.frames],
            "traceback": self.traceback,
            "line_numbers": list(self.line_numbers),
            "source": source,
        }


@dataclass
class DetectorState:
    """What the detectors remember between scans of one service (stored as JSON, bounded)."""

    started_at: datetime | None = None
    rates: dict[str, float] = field(default_factory=dict)  # template key -> per-slot count baseline
    known_errors: dict[str, str] = field(default_factory=dict)  # fingerprint -> first seen (ISO)
    durations: dict[str, list[float]] = field(default_factory=dict)  # key -> [log-ms baseline, n]
    values: dict[str, list[str]] = field(default_factory=dict)  # key -> error values seen
    shares: dict[str, float] = field(default_factory=dict)  # route -> baseline error share
    carry: list[dict[str, Any]] = field(default_factory=list)  # raw lines of an unfinished record
    # key -> [slot, count, bad, run, spiking, baseline, share or -1] of a slot a scan ended inside
    open_slots: dict[str, list[float]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        def tail(mapping: Mapping[str, Any]) -> dict[str, Any]:
            return dict(list(mapping.items())[-_MAX_STATE_KEYS:])

        return {
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "rates": tail(self.rates),
            "known_errors": tail(self.known_errors),
            "durations": tail(self.durations),
            "values": tail(self.values),
            "shares": tail(self.shares),
            "carry": list(self.carry),
            "open_slots": tail(self.open_slots),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> DetectorState:
        data = data or {}
        started = data.get("started_at")
        return cls(
            started_at=datetime.fromisoformat(started) if isinstance(started, str) else None,
            rates={str(k): float(v) for k, v in (data.get("rates") or {}).items()},
            known_errors={str(k): str(v) for k, v in (data.get("known_errors") or {}).items()},
            durations={str(k): [float(x) for x in v][:2] for k, v in (data.get("durations") or {}).items()},
            values={str(k): [str(x) for x in v] for k, v in (data.get("values") or {}).items()},
            shares={str(k): float(v) for k, v in (data.get("shares") or {}).items()},
            carry=[dict(x) for x in (data.get("carry") or []) if isinstance(x, Mapping)],
            open_slots={
                str(k): [float(x) for x in v]
                for k, v in (data.get("open_slots") or {}).items()
                if isinstance(v, list) and len(v) == 7
            },
        )


_LIBRARY_PATH: Final = re.compile(r"site-packages|dist-packages|/lib/python\d|<frozen|<string>|\\lib\\")


def is_own_frame(frame: Frame) -> bool:
    """Whether a frame is the service's own code (not a library, not the standard library)."""
    return not _LIBRARY_PATH.search(frame.file)


def _short_path(path: str) -> str:
    # The deploy root differs between machines (/app, /srv/app, /home/x/src): keep the tail.
    parts = [p for p in re.split(r"[\\/]", path) if p]
    return "/".join(parts[-2:])


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:24]


def traceback_fingerprint(exception_type: str, frames: Sequence[Frame]) -> str:
    """Exception type + innermost own frames (file tail and function, no line numbers)."""
    own = [f for f in frames if is_own_frame(f)] or list(frames)
    inner = own[-_OWN_FRAMES:]
    return _hash("traceback", exception_type, *(f"{_short_path(f.file)}:{f.function}" for f in inner))


_DURATION_TEXT: Final = (
    r"(?:\b(?:took|in|after|duration|elapsed|latency|time|slow)\b[\s=:]*\(?)"
    r"(\d+(?:\.\d+)?)\s*(ms|msec|milliseconds?|s|secs?|seconds?|m|mins?|minutes?)\b"
)
_DURATION: Final = re.compile("(?i)" + _DURATION_TEXT)
# Case-blind, `re` tries every word at every position: on ASCII text (nearly every line) the same
# match is found in half the time in the lowercased text (ASCII letters only change case; the
# non-ASCII letters a case-blind pattern also takes, `ſ` for `s` and `K` for `k`, are not ASCII).
_DURATION_LOWER: Final = re.compile(_DURATION_TEXT)
_RUN_BEFORE: Final = re.compile(r"[\s=:(\d.]*").match  # read backwards from a number
_UNIT_MS: Final = {"ms": 1.0, "msec": 1.0, "s": 1000.0, "sec": 1000.0, "m": 60000.0, "min": 60000.0}
_UNIT_ALIASES: Final = {
    "seconds": "s",
    "second": "s",
    "secs": "s",
    "minutes": "m",
    "minute": "m",
    "mins": "m",
}


def duration_ms(event: LogEvent) -> float | None:
    """The duration an event reports, in milliseconds (JSON `*_ms` fields or `took 2.5s` text)."""
    fields = event.fields
    if fields and not DURATION_KEYS.isdisjoint(fields):
        for key, scale in DURATION_SCALES:
            value = fields.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value) * scale
    if fields and "status" in fields:
        return None  # a request: its duration is a field or there is none (paths hold digits)
    message = event.message
    # Every unit starts with m or s right after the number: most lines with digits have none, and
    # this scan costs a fraction of the full pattern's (case-blind, with word boundaries).
    first = NUMBER_AND_UNIT(message)
    if first is None:
        return None
    # Every match of the pattern covers the first digit followed by a unit, or starts after it; one
    # that covers it starts with its keyword (at most 8 letters) right before the run of spaces,
    # `=:(`, digits and dots that leads to that digit. The search starts there, not at the start.
    at = first.start()
    run = _RUN_BEFORE(message[at - 1 :: -1]) if at else None
    start = max(0, at - run.end() - 8) if run else 0
    if message.isascii():
        match = _DURATION_LOWER.search(message.lower(), start)
    else:
        match = _DURATION.search(message, start)
    return _milliseconds(match) if match else None


def _milliseconds(match: re.Match[str]) -> float:
    unit = match.group(2).lower()
    unit = "ms" if unit.startswith("milli") else _UNIT_ALIASES.get(unit, unit)
    return float(match.group(1)) * _UNIT_MS.get(unit, 1.0)


_HAS_DIGIT: Final = re.compile(r"\d").search
_DIGIT_SEGMENT: Final = re.compile(r"(?<=/)[^/]*\d[^/]*")
_ROUTES: Final[dict[tuple[object, bytes], str]] = {}
_ZERO_DIGITS: Final = bytes.maketrans(b"123456789", b"000000000")
ROUTE_CHARS: Final = 240  # a longer `METHOD /path` is cut: routes are keys the detectors keep
_REDACTED_ROUTES: Final[dict[str, str]] = {}


def _route(event: LogEvent) -> str:
    """`METHOD /path` of a request event (digit-bearing path segments masked), else ''."""
    fields = event.fields
    path = fields.get("path") if fields else None
    if not isinstance(path, str) or "status" not in fields:
        return ""
    return route_for(fields.get("method", ""), path)


def route_for(method: object, path: str) -> str:
    """`METHOD /path` with digit-bearing path segments masked, redacted (cached: routes are few)."""
    bare = path.partition("?")[0]
    # Which digits a path holds never changes its route, only where they are: with every digit a
    # `0`, `/api/orders/61544` and `/api/orders/80964` are one cache key (`bytes.translate` runs in
    # C; `str.translate` looks each character up in a dict, ten times slower).
    key = (method, bare.encode("utf-8", "surrogatepass").translate(_ZERO_DIGITS))
    route = _ROUTES.get(key)
    if route is None:
        masked = f"{method} {_DIGIT_SEGMENT.sub('<*>', bare) if _HAS_DIGIT(bare) else bare}".strip()
        if len(masked) > ROUTE_CHARS:
            # A path no route has (a scanner's probe, a hostile client): the detectors keep routes as
            # keys, so it is cut (after redaction: no secret is cut in half) and cached nowhere.
            return redact(masked)[:ROUTE_CHARS] + "…"
        # Paths are many (ids in them), routes few: each route is redacted once.
        route = _REDACTED_ROUTES.get(masked)
        if route is None:
            if len(_REDACTED_ROUTES) > 10_000:
                _REDACTED_ROUTES.clear()
            route = _REDACTED_ROUTES[masked] = redact(masked)
        if len(bare) <= ROUTE_CHARS:
            if len(_ROUTES) > 50_000:
                _ROUTES.clear()
            _ROUTES[key] = route
    return route


def _whole(event: LogEvent | OkRequest) -> LogEvent:
    """The event itself, or the one a request read without an event is (for a detector keeping it)."""
    return event if isinstance(event, LogEvent) else event.event()


def _status(event: LogEvent) -> int:
    value = event.fields.get("status") if event.fields else None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdecimal():  # `isdigit` takes `²`, which `int` refuses
        return int(value)
    return 0


def _exception_text(event: LogEvent) -> str:
    """The exception line of a traceback, variables masked (`KeyError: <*>`)."""
    from monitoring.masking import mask

    lines = [line for line in event.traceback.splitlines() if line.strip()]
    last = lines[-1].strip() if lines else ""
    return mask(last)[:200] if last.startswith(event.exception_type) else event.exception_type


def incident_title(exception_type: str, message: str, traceback: str = "") -> str:
    """`Type: logged message: exception message`, each part once.

    The logged line ("failed to format reading X") and the exception's own text ("math domain
    error", the traceback's last line) both say what happened; the title used to drop the second.
    """
    if not exception_type:
        return message
    if message.startswith(f"{exception_type}:"):
        return message
    detail = ""
    for line in reversed(traceback.splitlines()):
        head, sep, rest = line.strip().partition(":")
        if sep and (head == exception_type or head.endswith(f".{exception_type}")):
            detail = rest.strip()
            break
    parts = [message.strip()] if message.strip() else []
    if detail and detail not in message:
        parts.append(detail)
    return f"{exception_type}: {': '.join(parts)}" if parts else exception_type


@dataclass
class _Acc:
    """What one key (an error fingerprint, a template, a route) accumulates: bounded."""

    key: tuple[Hashable, ...]
    first: LogEvent
    count: int = 0
    first_seen: float = 0.0
    last_seen: float = 0.0
    samples: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    recent: deque[float] = field(default_factory=deque)
    kind: str = ""
    severity: str = ""
    title: str = ""
    critical: bool = False
    new_at: float = 0.0  # when an error key was first seen in this scan (for new_error)
    quiet: bool = False  # never a new_error (failed requests: a new status is a new_value)

    def add(self, event: LogEvent, at: float) -> None:
        if not self.count:
            self.first_seen = at
        self.count += 1
        self.last_seen = max(self.last_seen, at)
        if len(self.samples) < MAX_SAMPLES and (message := redact_event(event).message) not in self.samples:
            self.samples.append(message)
        if event.line_number and len(self.lines) < MAX_LINE_NUMBERS:
            self.lines.append(event.line_number)
        if event.level == "critical":
            self.critical = True

    def flag(self, kind: str, severity: str, title: str = "") -> None:
        if not self.kind:
            self.kind, self.severity, self.title = kind, severity, title


@dataclass
class _Series:
    """Per-slot counts of one template (spikes) or one route (error share)."""

    slot: int
    count: int = 0
    bad: int = 0
    baseline: float = 0.0
    share: float | None = None
    run: int = 0
    spiking: bool = False


@dataclass
class _Durations:
    """An operation's typical duration (a moving average of log-milliseconds) and its recent ones."""

    baseline: float = 0.0
    seen: int = 0
    recent: deque[float] = field(default_factory=deque)
    peak: float = -math.inf  # the largest of `recent`, kept as values come and go

    def push(self, value: float) -> None:
        """`value` into `recent` (the oldest drops out at `maxlen`), `peak` kept without a scan of
        `recent` unless the value dropped was the peak."""
        recent = self.recent
        dropped = recent[0] if recent and len(recent) == recent.maxlen else None
        recent.append(value)
        if value >= self.peak:
            self.peak = value
        elif dropped is not None and dropped >= self.peak:
            self.peak = max(recent)


class Detector:
    """Every detector over a stream of events; see the module docstring. One per scan."""

    def __init__(self, thresholds: Thresholds, state: DetectorState, *, now: datetime) -> None:
        self.t = thresholds
        self.state = state
        self.now = now
        self.max_keys = MAX_KEYS  # per table: beyond it new keys are not tracked (hostile variety)
        self._now_epoch = now.timestamp()
        self._started = state.started_at.timestamp() if state.started_at else None
        self._accs: dict[tuple[Hashable, ...], _Acc] = {}
        self._series: dict[tuple[Hashable, ...], _Series] = {}
        self._durations: dict[tuple[Hashable, ...], _Durations] = {}
        self._values: dict[tuple[Hashable, ...], list[str]] = {}
        self._seen: dict[tuple[Hashable, ...], int] = {}
        self._templates: dict[Hashable, str] = {}  # group -> template text when first seen
        self._timeless: set[Hashable] = set()  # groups whose events report no duration
        self._known = set(state.known_errors)
        self._slot = float(thresholds.slot_seconds)
        self._slow_limits = [(k, v) for k, v in thresholds.slow_templates.items()]
        self._slow_log = math.log(thresholds.slow_factor)
        self._limits = bool(thresholds.slow_ms or self._slow_limits)  # an explicit limit to check
        self._shifted: set[tuple[Hashable, ...]] = set()  # duration keys with a ("shift", key) acc
        self._settled: set[tuple[str, int]] = set()  # (route, status) that `_note_status` can skip
        self._last = self._now_epoch
        self._last_stamp: datetime | None = None  # the time `_last` was read from
        self._read: tuple[LogEvent | None, float | None] = (None, None)  # reads_template's duration

    # -- the one pass ---------------------------------------------------------------------------

    def observe(self, event: LogEvent, group: Hashable, template: str, route: str | None = None) -> None:
        """Look at one (redacted) event; `group` is its template group, `template` its text now.

        `route` is `route_of(event)` when the caller has it already (requests need no template)."""
        at = self._at(event.timestamp)
        level = event.level
        if route is None:
            route = _route(event) if event.fields and "status" in event.fields else ""
        if level in {"error", "critical"} or event.traceback:
            # Failed requests group by route (a new status there is new_value's, not new_error's).
            self._error(event, route or group, route or template, at, quiet=bool(route))
        elif route:
            pass  # a request's 4xx counts towards its route's error share, not a template spike
        elif level == "warning":
            message = event.message
            if ("runcat" in message or "RUNCAT" in message) and "truncat" in message.lower():
                self._remember(group, template)
                self._repeat(("truncation", event.logger, group), event, at, self.t.truncation_repeat)
            else:
                self._spike(("rate", event.logger, group), event, template, at)
        if route:
            self._request(event, route, at)
        took = self._duration_of(event, group) if level in {"info", "warning"} else None
        if took is not None and took > 0 and not (route and _status(event) >= 400):
            # Failed requests are fast or slow for reasons of their own: only successes time a route.
            # Requests are timed per route; other operations per template.
            operation: Hashable = route or group
            self._duration(("slow", event.logger, operation), event, route or template, took, at)

    def _at(self, timestamp: datetime | None) -> float:
        if timestamp is None:
            return self._last  # `now` until a line with a time comes
        if timestamp is self._last_stamp:
            return self._last  # lines without a time of their own carry the one before's
        self._last_stamp = timestamp
        at = self._last = timestamp.timestamp()
        if self._started is None or at < self._started:
            self._started = at
        return at

    def observe_ok_request(self, request: OkRequest, route: str) -> None:
        """What `observe` does for a request that succeeded (status < 400), without its event unless
        a detector keeps one: it counts towards its route's slot and statuses, and is timed."""
        at = self._at(request.timestamp)
        key = ("route", route)
        series = self._series.get(key)
        if series is None or series.slot != int(at // self._slot):
            series = self._slot_series(key, at)  # a new route, or its slot ended
        if series is not None:
            series.count += 1
        status = request.status
        settled = self._settled
        known = (route, status) in settled
        if not known and self._note_status(route, status) and len(settled) < self.max_keys:
            settled.add((route, status))
        took = request.took
        if took is not None and took > 0:
            self._duration(("slow", request.logger, route), request, route, took, at)

    def reads_template(self, event: LogEvent) -> bool:
        """Whether a detector keys this event (not a request) by its template: errors, warnings,
        and info lines that report a duration (a timed operation). Others need no template."""
        level = event.level
        if level in {"warning", "error", "critical"} or event.traceback:
            return True
        if level != "info":
            return False
        took = duration_ms(event)
        self._read = (event, took)  # `observe` of this event reads it from here
        return took is not None

    def observe_unkeyed(self, event: LogEvent) -> None:
        """What `observe` does with an event `reads_template` says no detector keys: note its time."""
        self._at(event.timestamp)

    def observe_time(self, stamp: datetime) -> None:
        """`observe_unkeyed` for a line read as its time alone (`parse_one_line_record` gave a
        `datetime`: a plain info line reporting no duration, or a debug line)."""
        self._at(stamp)

    @staticmethod
    def route_of(event: LogEvent) -> str:
        """A request's route (`GET /api/orders/<*>`), which every detector keys it by; else ''."""
        return _route(event) if event.fields and "status" in event.fields else ""

    def _duration_of(self, event: LogEvent, group: Hashable) -> float | None:
        # One statement either reports a duration or it does not: a group whose first event has
        # none is not searched again (the duration pattern is the costliest test of a plain line).
        if group in self._timeless:
            return None
        read, took = self._read
        if read is not event:
            took = duration_ms(event)
        if took is None and not event.fields and len(self._timeless) < self.max_keys:
            self._timeless.add(group)
        return took

    def _remember(self, group: Hashable, template: str) -> None:
        # Templates are mined from messages as they were logged: what is kept of one is redacted.
        if group not in self._templates:
            self._templates[group] = redact(template)

    def template_seen(self, group: Hashable) -> str:
        """The text a group had when this detector first saw it (routes are their own text)."""
        return self._templates.get(group, str(group))

    def _warm(self, at: float, seconds: float) -> bool:
        return self._started is not None and at - self._started >= seconds

    def _acc(self, key: tuple[Hashable, ...], event: LogEvent) -> _Acc | None:
        acc = self._accs.get(key)
        if acc is None:
            if len(self._accs) >= self.max_keys:
                return None
            acc = self._accs[key] = _Acc(key, redact_event(event))
        return acc

    def _repeat(self, key: tuple[Hashable, ...], event: LogEvent, at: float, repeat: int) -> _Acc | None:
        """Count an event of `key`; flag it once `repeat` of them fall inside `window_seconds`."""
        acc = self._acc(key, event)
        if acc is None:
            return None
        acc.add(event, at)
        if not acc.kind:
            recent = acc.recent
            recent.append(at)
            if len(recent) > repeat:
                recent.popleft()
            if len(recent) >= repeat and recent[-1] - recent[0] <= self.t.window_seconds:
                kind = "performance" if key[0] in {"truncation", "limit"} else "error_pattern"
                severity = "medium" if kind == "performance" else "high"
                acc.flag(kind, severity)
        return acc

    def _error(self, event: LogEvent, group: Hashable, template: str, at: float, *, quiet: bool) -> None:
        if event.exception_type:
            fingerprint = traceback_fingerprint(event.exception_type, event.frames)
            key: tuple[Hashable, ...] = ("traceback", fingerprint)
        else:
            fingerprint = ""
            key = ("error", event.logger, group)
        self._remember(group, template)
        fresh = key not in self._accs
        acc = self._repeat(key, event, at, self.t.error_repeat)
        if acc is None:
            return
        if fresh:
            acc.new_at = at
            acc.quiet = quiet
        if event.traceback:
            # A known template whose exception message is new: a signal of its own (a new exception
            # type or place is a new fingerprint, which new_error and error_pattern cover).
            known = not fresh or fingerprint in self._known
            value_key: tuple[Hashable, ...] = ("value", event.logger, group)
            self._value(value_key, event, _exception_text(event), at, known_error=known, min_events=1)
            self._count(value_key)

    def _value(
        self,
        key: tuple[Hashable, ...],
        event: LogEvent,
        value: str,
        at: float,
        *,
        known_error: bool,
        min_events: int,
    ) -> None:
        values = self._known_values(key, min_events)
        seen = self._seen.get(key, 0)
        if value not in values:
            ready = self._warm(at, self.t.new_error_baseline_seconds)
            if values and known_error and ready and seen >= min_events:
                acc = self._acc((*key, value), event)
                if acc is not None:
                    acc.add(event, at)
                    acc.flag("new_value", "medium", f"new value {value!r} of a known template")
            if len(values) < _MAX_VALUES:
                values.append(value)
        elif (acc := self._accs.get((*key, value))) is not None:
            acc.add(event, at)

    def _request(self, event: LogEvent, route: str, at: float) -> None:
        status = _status(event)
        bad = status >= 400
        series = self._slot_series(("route", route), at)
        if series is not None:
            series.count += 1
            series.bad += bad
            if series.spiking and bad:
                acc = self._acc(("share", route), event)
                if acc is not None:
                    acc.add(event, at)
        if status >= 500:
            # A new 5xx on a known route is news; a new 4xx alone is not (clients and scanners send
            # odd requests all the time): a rise in the route's 4xx share is the share detector's.
            value_key: tuple[Hashable, ...] = ("value", "", route)
            min_events = self.t.new_value_min_events
            self._value(value_key, event, str(status), at, known_error=True, min_events=min_events)
            self._count(value_key)
        else:
            self._note_status(route, status)

    def _note_status(self, route: str, status: int) -> bool:
        """A status below 500 on `route`: known from now on (a new 4xx alone is no news). Whether
        noting it again could change nothing: the status is known and the route seen often enough
        for every test of its count (`_value`'s `seen >= min_events`)."""
        value_key: tuple[Hashable, ...] = ("value", "", route)
        if status:
            values = self._known_values(value_key, self.t.new_value_min_events)
            if len(values) < _MAX_VALUES and (text := str(status)) not in values:
                values.append(text)
        return self._count(value_key) >= max(1, self.t.new_value_min_events)

    def _count(self, key: tuple[Hashable, ...]) -> int:
        """One more event of a value key (up to `max_keys` keys: beyond, new keys are not counted)."""
        seen = self._seen.get(key)
        if seen is None and len(self._seen) >= self.max_keys:
            return 0
        seen = self._seen[key] = (seen or 0) + 1
        return seen

    def _known_values(self, key: tuple[Hashable, ...], min_events: int) -> list[str]:
        values = self._values.get(key)
        if values is None:
            stored = self.state.values.get(_state_key(key, self._templates))
            if len(self._values) >= self.max_keys:
                return list(stored or [])  # beyond the cap a key is not tracked (nor remembered)
            values = self._values[key] = list(stored or [])
            if stored:
                # Values remembered from earlier scans make the template known already.
                self._seen[key] = max(self._seen.get(key, 0), min_events)
        return values

    def _slot_series(self, key: tuple[Hashable, ...], at: float) -> _Series | None:
        slot = int(at // self._slot)
        series = self._series.get(key)
        if series is None:
            if len(self._series) >= self.max_keys:
                return None
            # A template not seen before starts from a baseline of zero (its earlier slots were empty).
            name = _state_key(key, self._templates)
            series = self._series[key] = _Series(slot=slot, baseline=self.state.rates.get(name, 0.0))
            series.share = self.state.shares.get(name)
            opened = self.state.open_slots.pop(name, None)
            if opened is not None and slot - 2 <= opened[0] <= slot:
                # The previous scan ended inside this series' slot: go on counting it from before its
                # early judgement (run of high slots and baseline too), so a spike straddling two scans
                # is judged as one pass would judge it.
                series.slot, series.count, series.bad, series.run = (int(v) for v in opened[:4])
                series.spiking, series.baseline = bool(opened[4]), opened[5]
                series.share = None if opened[6] < 0 else opened[6]
        if slot < series.slot - 2:
            # Time went back by minutes (a series started on a line without a time of its own, a
            # source that mixes writers): start again at the new time, without judging the old slot.
            series.slot, series.count, series.bad, series.run, series.spiking = slot, 0, 0, 0, False
        elif slot > series.slot:
            self._close(key, series, at)
            gap = slot - series.slot - 1
            if gap > 0:
                series.baseline *= (1 - _RATE_ALPHA) ** min(gap, 1000)
                series.run = 0
                series.spiking = False
            series.slot, series.count, series.bad = slot, 0, 0
        return series

    def _close(self, key: tuple[Hashable, ...], series: _Series, at: float) -> None:
        """Judge a finished slot against the series' baseline, then fold it into the baseline."""
        t = self.t
        ready = self._warm(at, t.baseline_seconds)
        if key[0] == "route":
            share = series.bad / series.count if series.count else 0.0
            base = series.share
            high = (
                base is not None
                and series.count >= t.error_share_min_events
                and share >= base * t.error_share_factor
                and share >= base + t.error_share_min_delta
            )
            self._run(key, series, high and ready, at, "error share rose")
            if series.count and not high:
                series.share = share if base is None else base + _RATE_ALPHA * (share - base)
            return
        high = series.count >= t.spike_min_count and series.count >= t.spike_factor * max(
            series.baseline, 1.0
        )
        self._run(key, series, high and ready, at, "rate spike")
        # A spike barely moves the baseline (else it would hide itself within two slots); a lasting
        # new level still becomes the normal over an hour or so.
        weight = _RATE_ALPHA / 20 if high else _RATE_ALPHA
        series.baseline += weight * (series.count - series.baseline)

    def _run(self, key: tuple[Hashable, ...], series: _Series, high: bool, at: float, what: str) -> None:
        series.run = series.run + 1 if high else 0
        series.spiking = high
        if high and series.run * self._slot >= self.t.sustain_seconds:
            acc = self._accs.get(("share", key[1]) if key[0] == "route" else key)
            if acc is not None and acc.count:
                acc.flag("unusual", "low", what)

    def _spike(self, key: tuple[Hashable, ...], event: LogEvent, template: str, at: float) -> None:
        self._remember(key[2], template)
        series = self._slot_series(key, at)
        if series is None:
            return
        series.count += 1
        acc = self._acc(key, event)
        if acc is not None:
            acc.add(event, at)

    def _over_limit(
        self, key: tuple[Hashable, ...], event: LogEvent | OkRequest, template: str, took: float, at: float
    ) -> bool:
        """Whether an explicit limit applies and is exceeded: the event's own `limit_ms` (a source
        that judged the duration against the operation's history, e.g. Phoenix spans), a per-template
        limit, or the global `slow_ms`."""
        limit = self.t.slow_ms or 0.0
        for needle, ms in self._slow_limits:
            if needle in template or needle in event.message:
                limit = ms
                break
        # A request read without an event never has a limit of its own (such lines are events).
        own = event.fields.get("limit_ms") if isinstance(event, LogEvent) and event.fields else None
        if isinstance(own, int | float) and not isinstance(own, bool) and own > 0:
            limit = float(own)
        if limit and took >= limit:
            self._remember(key[2], template)
            self._repeat(("limit", *key[1:]), _whole(event), at, self.t.slow_repeat)
            return True
        return False

    def _duration(
        self, key: tuple[Hashable, ...], event: LogEvent | OkRequest, template: str, took: float, at: float
    ) -> None:
        t = self.t
        # A limit of the event's own comes with its fields (spans judged at the source).
        own_limit = isinstance(event, LogEvent) and "limit_ms" in event.fields
        if (self._limits or own_limit) and self._over_limit(key, event, template, took, at):
            return
        history = self._durations.get(key)
        if history is None:
            if len(self._durations) >= self.max_keys:
                return
            self._remember(key[2], template)
            stored = self.state.durations.get(_state_key(key, self._templates))
            history = self._durations[key] = _Durations(recent=deque(maxlen=t.slow_recent))
            if stored:
                history.baseline, history.seen = stored[0], int(stored[1])
        value = math.log(max(took, 0.001))
        history.push(value)
        recent = history.recent
        if history.seen >= t.slow_baseline_count and len(recent) >= t.slow_recent:
            slow = self._slow_log
            # The median is at most the largest: most operations are nowhere near slow, unsorted.
            shifted = history.peak - history.baseline >= slow and _median(recent) - history.baseline >= slow
            if shifted or key in self._shifted:
                fresh = key not in self._shifted
                event = _whole(event)
                acc = self._acc(("shift", key), event)
                if acc is not None:
                    self._shifted.add(key)
                if acc is not None and value - history.baseline >= slow:
                    acc.add(event, at)
                if acc is not None and fresh:
                    # The slow runs before this one made the shift visible: they count too.
                    acc.count += sum(1 for v in list(recent)[:-1] if v - history.baseline >= slow)
                if acc is not None and shifted:
                    typical = math.exp(history.baseline)
                    acc.flag("performance", "medium", f"typical duration {typical:,.0f} ms shifted")
        if history.seen == 0:
            history.baseline = value
        else:
            # Early on the plain mean, then a moving average, so a lasting shift becomes the new normal.
            weight = max(_DURATION_ALPHA, 1.0 / (history.seen + 1))
            history.baseline += weight * (value - history.baseline)
        history.seen += 1

    # -- the end of the scan ----------------------------------------------------------------------

    def finish(
        self, template_of: Callable[[Hashable], str] | None = None, *, keep_open: bool = False
    ) -> list[Anomaly]:
        """The anomalies found; `template_of(group)` gives a group's final template text.

        Every series' last slot is judged, full or not. With `keep_open` (a scheduled scan, which the
        next one continues) a slot that has not ended by `now` is also stored in the state as it was
        before that judgement, so the next scan goes on counting it and judges the whole slot again.
        """

        @cache
        def text(group: Hashable) -> str:
            if template_of is not None:
                return redact(template_of(group))
            return self._templates.get(group, str(group))

        for key, series in list(self._series.items()):
            if keep_open and (series.slot + 1) * self._slot > self._now_epoch:
                share = -1.0 if series.share is None else series.share
                opened = [
                    series.slot,
                    series.count,
                    series.bad,
                    series.run,
                    series.spiking,
                    series.baseline,
                    share,
                ]
                self.state.open_slots[_state_key(key, text)] = [float(v) for v in opened]
            self._close(key, series, self._last)
        self._update_state(text)
        merged: dict[str, tuple[_Acc, str, str]] = {}
        for key, acc in self._accs.items():
            if not acc.kind and not acc.quiet and key[0] in {"traceback", "error"}:
                # An error seen once or twice: new if the service has a history and never had it.
                ready = self._warm(acc.new_at, self.t.new_error_baseline_seconds)
                if ready and self._fingerprint(key, acc, text) not in self.state.known_errors:
                    acc.flag("new_error", "medium")
            if not acc.kind:
                continue
            fingerprint = self._fingerprint(key, acc, text)
            template = self._template(key, acc, text)
            previous = merged.get(fingerprint)
            if previous is not None:
                _absorb(previous[0], acc)
                continue
            merged[fingerprint] = (acc, fingerprint, template)
        for key, acc in self._accs.items():
            if key[0] in {"traceback", "error"}:
                fp = self._fingerprint(key, acc, text)
                stamp = datetime.fromtimestamp(acc.first_seen, UTC).isoformat()
                self.state.known_errors.setdefault(fp, stamp)
        found = [self._build(acc, fingerprint, template) for acc, fingerprint, template in merged.values()]
        found.sort(key=lambda a: (a.line_numbers[0] if a.line_numbers else 0, a.first_seen))
        return found

    def _fingerprint(self, key: tuple[Hashable, ...], acc: _Acc, text: Callable[[Hashable], str]) -> str:
        kind = key[0]
        if kind == "traceback":
            return str(key[1])
        if kind in {"error", "truncation", "rate", "limit"}:
            return _hash(str(kind), str(key[1]), text(key[2]))
        if kind == "shift":
            inner = key[1]
            assert isinstance(inner, tuple)
            return _hash("slow", str(inner[1]), text(inner[2]))
        if kind == "share":
            return _hash("share", str(key[1]))
        if kind == "value":
            group = key[2]
            base = str(group) if key[1] == "" else text(group)
            return _hash("value", str(key[1]), base, str(key[3]))
        return _hash(*map(str, key))

    def _template(self, key: tuple[Hashable, ...], acc: _Acc, text: Callable[[Hashable], str]) -> str:
        kind = key[0]
        if kind in {"error", "truncation", "rate", "limit"}:
            return text(key[2])
        if kind == "shift":
            inner = key[1]
            assert isinstance(inner, tuple)
            return text(inner[2])
        if kind == "value":
            return str(key[2]) if key[1] == "" else text(key[2])
        if kind == "share":
            return str(key[1])
        return acc.first.message

    def _build(self, acc: _Acc, fingerprint: str, template: str) -> Anomaly:
        first = acc.first
        if acc.title:
            title = f"{acc.title}: {template}"
        elif first.exception_type:
            title = incident_title(first.exception_type, first.message, first.traceback)
        else:
            title = first.message
        severity = "critical" if acc.kind == "error_pattern" and acc.critical else acc.severity
        return Anomaly(
            kind=acc.kind,
            fingerprint=fingerprint,
            severity=severity,
            count=acc.count,
            template=template,
            first_seen=datetime.fromtimestamp(acc.first_seen, UTC),
            last_seen=datetime.fromtimestamp(acc.last_seen, UTC),
            samples=tuple(acc.samples),
            line_numbers=tuple(acc.lines),
            logger=first.logger,
            exception_type=first.exception_type,
            frames=tuple(f for f in first.frames if is_own_frame(f)) or tuple(first.frames),
            traceback=first.traceback,
            title=title[:200],
        )

    def _update_state(self, text: Callable[[Hashable], str]) -> None:
        state = self.state
        if self._started is not None:
            started = datetime.fromtimestamp(self._started, UTC)
            if state.started_at is None or started < state.started_at:
                state.started_at = started
        for key, series in self._series.items():
            name = _state_key(key, text)
            if key[0] == "route":
                if series.share is not None:
                    state.shares[name] = series.share
            else:
                state.rates[name] = series.baseline
        for key, history in self._durations.items():
            state.durations[_state_key(key, text)] = [history.baseline, float(history.seen)]
        for key, values in self._values.items():
            state.values[_state_key(key, text)] = values[:_MAX_VALUES]


def _state_key(key: tuple[Hashable, ...], text: Callable[[Hashable], str] | Mapping[Hashable, str]) -> str:
    """A key that means the same thing in the next scan (group ids do not; template texts do)."""

    def resolve(group: Hashable) -> str:
        if isinstance(text, Mapping):
            return text.get(group, str(group))
        return text(group)

    if key[0] == "route":
        return f"route\x1f{key[1]}"
    if len(key) >= 3 and key[1] != "":
        return _hash(str(key[0]), str(key[1]), resolve(key[2]))
    return _hash(*map(str, key))


def _median(values: Iterable[float]) -> float:
    # statistics.median, without its checks: every timed event of a warm operation asks for one.
    ordered = sorted(values)
    half = len(ordered) // 2
    return ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2


def _absorb(into: _Acc, other: _Acc) -> None:
    """Fold `other` (the same fingerprint under another group id) into `into`."""
    into.count += other.count
    into.first_seen = min(into.first_seen, other.first_seen)
    into.last_seen = max(into.last_seen, other.last_seen)
    for sample in other.samples:
        if len(into.samples) < MAX_SAMPLES and sample not in into.samples:
            into.samples.append(sample)
    into.lines = sorted(into.lines + other.lines)[:MAX_LINE_NUMBERS]
    into.critical = into.critical or other.critical


def detect(
    events: Iterable[tuple[LogEvent, str]],
    thresholds: Thresholds,
    state: DetectorState,
    *,
    now: datetime,
) -> list[Anomaly]:
    """Anomalies among `(event, template)` pairs (events already redacted); updates `state`.

    The list form of `Detector`, for callers that hold a few events; the template text is the group.
    `now` stands in for events without a timestamp. The result is ordered by first line/time.
    """
    detector = Detector(thresholds, state, now=now)
    for event, template in events:
        detector.observe(event, template, template)
    return detector.finish(None)
