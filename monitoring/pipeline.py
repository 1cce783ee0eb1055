"""The pure middle of a scan: raw lines → events → redacted → templates → anomalies.

`analyze` is what both `agent scan --once` and the scheduled scan call; it does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from monitoring.detect import Anomaly, DetectorState, Thresholds, detect
from monitoring.events import LogEvent, RawLine, parse_lines
from monitoring.headers import HeaderFormat
from monitoring.redact import redact
from monitoring.templates import TemplateMiner

__all__ = ["Analysis", "analyze", "redact_event"]


@dataclass(frozen=True)
class Analysis:
    """What one pass found: the anomalies and how many events it read."""

    anomalies: list[Anomaly]
    events: int


def redact_event(event: LogEvent) -> LogEvent:
    """The event with secrets masked in its message and traceback (in place, returned)."""
    event.message = redact(event.message)
    if event.traceback:
        event.traceback = redact(event.traceback)
    return event


def analyze(
    lines: Iterable[RawLine],
    thresholds: Thresholds,
    state: DetectorState,
    *,
    now: datetime,
    header: HeaderFormat | None = None,
    progress: Callable[[int], None] | None = None,
) -> Analysis:
    """Parse, redact, mine templates and detect; `state` is updated for the next scan.

    `progress`, when given, is called with the number of events read so far every 10,000 events.
    """
    miner = TemplateMiner()
    pending: list[tuple[LogEvent, int]] = []
    for event in parse_lines(lines, header):
        redact_event(event)
        pending.append((event, miner.add(event.message).id))
        if progress is not None and len(pending) % 10_000 == 0:
            progress(len(pending))
    # Groups merge as evidence accumulates: resolve each event's group at the end.
    pairs: list[tuple[LogEvent, str]] = []
    for event, group_id in pending:
        group = miner.resolve(group_id)
        pairs.append((event, group.template if group is not None else event.message))
    return Analysis(detect(pairs, thresholds, state, now=now), len(pending))
