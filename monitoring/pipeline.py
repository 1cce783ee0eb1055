"""The pure middle of a scan: raw lines → events → templates → anomalies (redacted), streamed.

`Scanner` is what both `agent scan --once` and the scheduled scan use: feed it chunks of lines as a
source returns them, then `finish()`. It keeps only what detection needs (the open record of the
traceback folder, the miner's groups, the detectors' per-key counters), so memory does not grow with
the size of the source, and a traceback split across two chunks is still one event. It does no I/O.
`analyze` is the one-call form for a list of lines.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Final

from monitoring.detect import Anomaly, Detector, DetectorState, Thresholds, route_for
from monitoring.events import LineFolder, LogEvent, OkRequest, RawLine, parse_one_line_record, record_starts
from monitoring.headers import HeaderFormat
from monitoring.redact import redact, redact_event
from monitoring.templates import TemplateMiner

__all__ = ["HOLD_ERROR_LINE", "Analysis", "Scanner", "analyze"]

# An error line read last waits one scan for its traceback only if it is this recent: frames follow
# their message within milliseconds, so an older line without them has none coming.
HOLD_ERROR_LINE: Final = timedelta(seconds=30)
_SLICE: Final = 10_000  # lines of an iterable (not a list) handled at a time


@dataclass(frozen=True)
class Analysis:
    """What one pass found: the anomalies and how many events it read."""

    anomalies: list[Anomaly]
    events: int


class Scanner:
    """One scan as a stream: `feed` chunks of lines, then `finish` (or `suspend` to continue later)."""

    def __init__(
        self,
        thresholds: Thresholds,
        state: DetectorState,
        *,
        now: datetime,
        header: HeaderFormat | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.state = state
        self.folder = LineFolder(header)
        self.miner = TemplateMiner()
        self.detector = Detector(thresholds, state, now=now)
        self.now = now
        self.events = 0
        self.progress = progress
        carried = [_raw_from_json(line) for line in state.carry]
        state.carry = []
        if carried:
            self.feed(carried)
        # The record a previous scan held back (an error line whose traceback had not come yet):
        # held once, then reported even if nothing follows it.
        self._held_head = self.folder.head if carried else None

    def feed(self, lines: Iterable[RawLine]) -> None:
        """Parse, redact, mine and observe every event these lines complete."""
        if isinstance(lines, list):
            self._feed_batch(lines)
            return
        # Any other iterable in bounded slices: a generator of a whole file is never held at once.
        rest = iter(lines)
        while batch := list(islice(rest, _SLICE)):
            self._feed_batch(batch)

    def _feed_batch(self, batch: list[RawLine]) -> None:
        folder = self.folder
        handle = self._event
        # A line whose next line starts a new record is a whole record: read here, without the
        # folder, when it has a built-in shape (most lines); the folder gets the rest.
        one_line = folder.header is None
        starts = record_starts(batch) if one_line else []
        last = len(batch) - 1
        for index, raw in enumerate(batch):
            if one_line and index < last and starts[index + 1] and starts[index] and folder.state == "none":
                if folder.pending is not None:
                    # This line starts a record, so the open one is complete: out first, as the
                    # folder would put it, so that a line without a time takes the time of the
                    # record just before it (`folder.last_timestamp`), not the one before that.
                    before = folder.flush()
                    if before is not None:
                        handle(before)
                record = parse_one_line_record(raw.text, raw, folder.last_timestamp)
                if record is not None:
                    if isinstance(record, OkRequest):
                        self._ok_request(record)
                    elif isinstance(record, LogEvent):
                        handle(folder.stamp(record))
                    else:
                        # A line no detector keys: its time is all that counts.
                        folder.last_timestamp = record
                        self.detector.observe_time(record)
                        self._counted()
                    continue
            event = folder.feed_one(raw)
            if event is not None:
                handle(event)

    def _ok_request(self, request: OkRequest) -> None:
        # No event is made unless a detector keeps this request (`OkRequest.event`).
        if request.timestamp is not None:
            self.folder.last_timestamp = request.timestamp
        self.detector.observe_ok_request(request, route_for(request.method, request.path))
        self._counted()

    def _event(self, event: LogEvent) -> None:
        if event.is_error:
            # Errors go whole into incidents (message, traceback, exception text): masked at once.
            # Other events are masked by the detector only where it keeps one (a sample, the first
            # event of a key, a template, a route): most lines are counted and never kept, and
            # redaction was the costliest step of a scan.
            redact_event(event)
        route = self.detector.route_of(event)
        if route:
            # A request is counted by its route (`GET /api/orders/<*>`), never by its template:
            # the miner would spend its time on lines whose template nothing reads.
            self.detector.observe(event, 0, "", route)
        elif self.detector.reads_template(event):
            group = self.miner.add(event.message)
            self.detector.observe(event, group.id, group.template)
        else:
            # Nor is an info line that reports no duration, or a debug line: no detector keys them.
            self.detector.observe_unkeyed(event)
        self._counted()

    def _counted(self) -> None:
        self.events += 1
        if self.progress is not None and self.events % 100_000 == 0:
            self.progress(self.events)

    def _template_of(self, group: Hashable) -> str:
        if isinstance(group, int):
            found = self.miner.resolve(group)
            if found is not None:
                return found.template
        return self.detector.template_seen(group)

    def finish(self) -> list[Anomaly]:
        """The anomalies of everything fed; the record still open counts as complete."""
        for event in self.folder.close():
            self._event(event)
        return self.detector.finish(self._template_of)

    def suspend(self) -> list[Anomaly]:
        """Like `finish`, but a record that may go on is kept in the state for the next scan.

        A scheduled scan ends wherever the source's newest line is; the next lines may continue a
        traceback (or start the traceback of the error line read last), so that record waits (its
        raw lines are stored with the detector state) for one more scan.
        """
        held_before = self._held_head is not None and self.folder.head is self._held_head
        since = None if held_before else self.now - HOLD_ERROR_LINE
        complete, carry = self.folder.carry(hold_error_since=since)
        for event in complete:
            self._event(event)
        anomalies = self.detector.finish(self._template_of, keep_open=True)
        self.state.carry = [
            # Stored in the database until the next scan: masked like everything else that is kept.
            {"text": redact(raw.text), "number": raw.number, "level": raw.level}
            | ({"timestamp": raw.timestamp.isoformat()} if raw.timestamp else {})
            for raw in carry
        ]
        return anomalies


def _raw_from_json(data: dict[str, object]) -> RawLine:
    stamp = data.get("timestamp")
    return RawLine(
        text=str(data.get("text", "")),
        number=int(data.get("number", 0) or 0),  # type: ignore[call-overload]
        timestamp=datetime.fromisoformat(stamp) if isinstance(stamp, str) else None,
        level=str(data.get("level", "")),
    )


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

    `progress`, when given, is called with the number of events read so far every 100,000 events.
    """
    scanner = Scanner(thresholds, state, now=now, header=header, progress=progress)
    scanner.feed(lines)
    anomalies = scanner.finish()
    return Analysis(anomalies, scanner.events)
