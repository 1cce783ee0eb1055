"""Detectors: grouped log events → `Anomaly`s. Pure functions of events, thresholds and state.

Four detectors (thresholds from `DetectorThresholds`; counts are the most events of one group
inside any `window_seconds` span):

- error_pattern: the same error (template, or traceback fingerprint) `error_repeat`+ times → high;
- performance: truncation warnings (`truncation_repeat`+) or operations slower than `slow_ms`
  (`slow_repeat`+), the duration parsed from the line or its JSON fields → medium;
- unusual: a template's count `spike_factor` times above its own baseline rate (at least
  `spike_min_count`); templates without a baseline count only at warning level or above → low;
- new_error: an error never seen before, once `new_error_baseline_seconds` of history exist → medium.

A Python traceback's fingerprint is its exception type plus the innermost frames of the service's
own code (site-packages and the standard library excluded), without line numbers — so a fix that
moves code keeps the fingerprint, one bug with varying values is one incident, and two exceptions
behind the same log message are two. Other fingerprints hash the logger and the template.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core.settings import DetectorThresholds
from monitoring.events import Frame, LogEvent

__all__ = [
    "Anomaly",
    "DetectorState",
    "Thresholds",
    "detect",
    "duration_ms",
    "incident_title",
    "is_own_frame",
    "traceback_fingerprint",
]

MAX_SAMPLES = 5
MAX_LINE_NUMBERS = 1000
_MAX_STATE_KEYS = 5000
_OWN_FRAMES = 3


# The detectors read the validated settings object itself (frozen, so read-only).
Thresholds = DetectorThresholds


@dataclass(frozen=True)
class Anomaly:
    """Something worth a human's attention, with everything needed to upsert an incident."""

    kind: str  # error_pattern | performance | unusual | new_error | alert
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
    """What the detectors remember between scans of one service (stored as JSON)."""

    started_at: datetime | None = None
    rates: dict[str, float] = field(default_factory=dict)
    known_errors: dict[str, str] = field(default_factory=dict)  # fingerprint -> first seen (ISO)

    def to_json(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "rates": dict(list(self.rates.items())[-_MAX_STATE_KEYS:]),
            "known_errors": dict(list(self.known_errors.items())[-_MAX_STATE_KEYS:]),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> DetectorState:
        data = data or {}
        started = data.get("started_at")
        return cls(
            started_at=datetime.fromisoformat(started) if isinstance(started, str) else None,
            rates={str(k): float(v) for k, v in (data.get("rates") or {}).items()},
            known_errors={str(k): str(v) for k, v in (data.get("known_errors") or {}).items()},
        )


_LIBRARY_PATH = re.compile(r"site-packages|dist-packages|/lib/python\d|<frozen|<string>|\\lib\\")


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


_DURATION = re.compile(
    r"(?i)(?:\b(?:took|in|after|duration|elapsed|latency|time|slow)\b[\s=:]*\(?)"
    r"(\d+(?:\.\d+)?)\s*(ms|msec|milliseconds?|s|secs?|seconds?|m|mins?|minutes?)\b"
)
_UNIT_MS = {"ms": 1.0, "msec": 1.0, "s": 1000.0, "sec": 1000.0, "m": 60000.0, "min": 60000.0}
_DURATION_FIELDS = ("duration_ms", "latency_ms", "elapsed_ms", "response_time_ms", "took_ms")
_TRUNCATION = re.compile(r"(?i)\btruncat")


def duration_ms(event: LogEvent) -> float | None:
    """The duration an event reports, in milliseconds (JSON `*_ms` fields or `took 2.5s` text)."""
    for key in _DURATION_FIELDS:
        value = event.fields.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    match = _DURATION.search(event.message)
    if not match:
        return None
    unit = match.group(2).lower()
    unit = "ms" if unit.startswith("milli") else unit
    unit = {"seconds": "s", "second": "s", "secs": "s", "minutes": "m", "minute": "m", "mins": "m"}.get(
        unit, unit
    )
    return float(match.group(1)) * _UNIT_MS.get(unit, 1.0)


def _max_in_window(times: Sequence[datetime], window: timedelta) -> int:
    ordered = sorted(times)
    best = start = 0
    for end, stamp in enumerate(ordered):
        while stamp - ordered[start] > window:
            start += 1
        best = max(best, end - start + 1)
    return best


@dataclass
class _Bucket:
    key: str
    template: str
    events: list[LogEvent] = field(default_factory=list)


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


def _build(kind: str, severity: str, bucket: _Bucket, events: Sequence[LogEvent], now: datetime) -> Anomaly:
    first = events[0]
    stamps = [e.timestamp or now for e in events]
    samples: list[str] = []
    for event in events:
        if event.message not in samples:
            samples.append(event.message)
        if len(samples) >= MAX_SAMPLES:
            break
    title = incident_title(first.exception_type, first.message, first.traceback)
    return Anomaly(
        kind=kind,
        fingerprint=bucket.key,
        severity=severity,
        count=len(events),
        template=bucket.template,
        first_seen=min(stamps),
        last_seen=max(stamps),
        samples=tuple(samples),
        line_numbers=tuple(e.line_number for e in events if e.line_number)[:MAX_LINE_NUMBERS],
        logger=first.logger,
        exception_type=first.exception_type,
        frames=tuple(f for f in first.frames if is_own_frame(f)) or tuple(first.frames),
        traceback=first.traceback,
        title=title[:200],
    )


def _category(event: LogEvent, template: str, slow_ms: float) -> tuple[str, str]:
    """(detector, fingerprint) of one event."""
    if event.is_error:
        if event.exception_type:
            return "error", traceback_fingerprint(event.exception_type, event.frames)
        return "error", _hash("error", event.logger, template)
    if _TRUNCATION.search(event.message):
        return "truncation", _hash("truncation", event.logger, template)
    took = duration_ms(event)
    if took is not None and took >= slow_ms:
        return "slow", _hash("slow", event.logger, template)
    return "rate", _hash("rate", event.logger, template)


def detect(
    events: Iterable[tuple[LogEvent, str]],
    thresholds: Thresholds,
    state: DetectorState,
    *,
    now: datetime,
) -> list[Anomaly]:
    """Anomalies among `(event, template)` pairs (events already redacted); updates `state`.

    `now` stands in for events without a timestamp. The result is ordered by first line/time.
    """
    buckets: dict[str, dict[str, _Bucket]] = {"error": {}, "truncation": {}, "slow": {}, "rate": {}}
    earliest: datetime | None = None
    for event, template in events:
        stamp = event.timestamp or now
        earliest = stamp if earliest is None or stamp < earliest else earliest
        category, key = _category(event, template, thresholds.slow_ms)
        buckets[category].setdefault(key, _Bucket(key, template)).events.append(event)
    if state.started_at is None or (earliest is not None and earliest < state.started_at):
        state.started_at = earliest or now
    found = [
        *_errors(buckets["error"].values(), thresholds, state, now),
        *_performance(buckets["truncation"].values(), thresholds.truncation_repeat, thresholds, now),
        *_performance(buckets["slow"].values(), thresholds.slow_repeat, thresholds, now),
        *_unusual(buckets["rate"].values(), thresholds, state, now),
    ]
    found.sort(key=lambda a: (a.line_numbers[0] if a.line_numbers else 0, a.first_seen))
    return found


def _count(bucket: _Bucket, thresholds: Thresholds, now: datetime) -> int:
    window = timedelta(seconds=thresholds.window_seconds)
    return _max_in_window([e.timestamp or now for e in bucket.events], window)


def _errors(
    buckets: Iterable[_Bucket], thresholds: Thresholds, state: DetectorState, now: datetime
) -> Iterator[Anomaly]:
    baseline_ready = (state.started_at or now) + timedelta(seconds=thresholds.new_error_baseline_seconds)
    for bucket in buckets:
        first_stamp = min(e.timestamp or now for e in bucket.events)
        critical = any(e.level == "critical" for e in bucket.events)
        if _count(bucket, thresholds, now) >= thresholds.error_repeat:
            yield _build("error_pattern", "critical" if critical else "high", bucket, bucket.events, now)
        elif bucket.key not in state.known_errors and first_stamp >= baseline_ready:
            yield _build("new_error", "medium", bucket, bucket.events, now)
        state.known_errors.setdefault(bucket.key, first_stamp.isoformat())


def _performance(
    buckets: Iterable[_Bucket], repeat: int, thresholds: Thresholds, now: datetime
) -> Iterator[Anomaly]:
    for bucket in buckets:
        if _count(bucket, thresholds, now) >= repeat:
            yield _build("performance", "medium", bucket, bucket.events, now)


def _unusual(
    buckets: Iterable[_Bucket], thresholds: Thresholds, state: DetectorState, now: datetime
) -> Iterator[Anomaly]:
    for bucket in buckets:
        count = _count(bucket, thresholds, now)
        baseline = state.rates.get(bucket.key)
        # Without a baseline of its own, only a loud template (warning and above) can be unusual.
        loud = any(e.level in {"warning", "error", "critical"} for e in bucket.events)
        enough = count >= thresholds.spike_min_count and (baseline is not None or loud)
        if enough and count >= thresholds.spike_factor * max(baseline or 0.0, 1.0):
            yield _build("unusual", "low", bucket, bucket.events, now)
        # Exponential moving average of the per-window count: the template's own baseline.
        state.rates[bucket.key] = count if baseline is None else 0.8 * baseline + 0.2 * count
