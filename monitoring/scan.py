"""One scan of one service: read from the cursor, analyse, upsert incidents, advance the cursor.

`run_scan` is what the scheduler job and `agent scan` call. It returns the incidents that deserve
a proposal; the caller (the bot) analyses them with DSPy and posts to Slack. A failing source is
recorded (kept cursor, error, next attempt with backoff) and reported, never raised: one broken
service must not stop the scheduler or the others.

`scan_once` is the read-only variant behind `agent scan --once`: it reads a source from its start,
stores nothing and returns the anomalies.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker

from core.settings import DetectorThresholds, ServiceSettings, Settings
from core.store.cursors import get_cursor, record_failure, record_success
from core.store.incidents import IncidentChange, upsert_incident
from core.store.models import utcnow
from monitoring.detect import Anomaly, DetectorState
from monitoring.events import RawLine, looks_like_known_shape
from monitoring.headers import HeaderFormat, detect_header
from monitoring.pipeline import Scanner
from monitoring.sources import LogSource, SourceError, SourceRateLimited, open_source

__all__ = ["BATCH_LINES", "ScanReport", "open_service_source", "record_alerts", "run_scan", "scan_once"]

log = logging.getLogger(__name__)

BATCH_LINES = 50_000
Progress = Callable[[str], None]


@dataclass
class ScanReport:
    """What a scan did. `to_propose` holds the ids of incidents the bot should propose now."""

    service: str
    events: int = 0
    anomalies: list[Anomaly] = field(default_factory=list)
    changes: list[IncidentChange] = field(default_factory=list)
    error: str = ""
    skipped: str = ""

    @property
    def to_propose(self) -> list[int]:
        return [change.incident.id for change in self.changes if change.should_propose]


def open_service_source(
    settings: Settings, service: ServiceSettings, client: httpx.Client | None, spec: str | None = None
) -> LogSource:
    """The log source of `service` (or `spec`), with tokens from the settings' secrets."""
    return open_source(
        spec or service.source,
        client=client,
        railway_endpoint=service.railway.endpoint,
        railway_secrets=settings.secrets,
        phoenix=service.phoenix,
        loki=service.loki,
    )


def _batches(
    source: LogSource, cursor: dict[str, Any], limit: int
) -> Iterator[tuple[list[RawLine], dict[str, Any]]]:
    while True:
        batch = source.read(cursor, limit)
        cursor = batch.cursor
        for note in batch.notes:
            log.info("%s: %s", source.spec, note)
        yield batch.lines, cursor
        if not batch.more or not batch.lines:
            return


def scan_once(
    source: LogSource,
    thresholds: DetectorThresholds,
    *,
    log_format: str = "",
    now: datetime | None = None,
    progress: Progress | None = None,
    batch_lines: int = BATCH_LINES,
) -> list[Anomaly]:
    """Read `source` from its start and return the anomalies; nothing is stored or posted.

    Raises `SourceError` when the source fails. Without `log_format`, plain lines of another shape
    than the ones `monitoring.events` knows are split with a detected Loghub-style header.
    """
    now = now or utcnow()
    scanner: Scanner | None = None
    read = 0
    # Streamed: one chunk in memory at a time; the scanner keeps only what detection needs.
    for batch, _ in _batches(source, {}, batch_lines):
        if scanner is None:
            header = HeaderFormat.compile(log_format) if log_format else _auto_header(batch)
            scanner = Scanner(thresholds, DetectorState(), now=now, header=header)
        scanner.feed(batch)
        read += len(batch)
        if progress is not None:
            progress(f"read {read:,} lines from {source.spec}")
    return scanner.finish() if scanner is not None else []


def _auto_header(lines: list[RawLine]) -> HeaderFormat | None:
    # Only for logs the built-in shapes do not cover (they would lose their level otherwise).
    sample = [raw.text for raw in lines[:500]]
    if sum(looks_like_known_shape(text) for text in sample) * 2 >= max(len(sample), 1):
        return None
    return detect_header(sample)


def run_scan(
    settings: Settings,
    sessions: sessionmaker[Session],
    service: ServiceSettings,
    progress: Progress | None = None,
    *,
    client: httpx.Client | None = None,
    now: Callable[[], datetime] = utcnow,
    force: bool = False,
    batch_lines: int = BATCH_LINES,
) -> ScanReport:
    """Scan `service` from its stored cursor; see the module docstring. Never raises SourceError."""
    report = ScanReport(service=service.name)
    started = now()
    with sessions.begin() as session:
        row = get_cursor(session, service.name, service.source)
        if not force and row.next_attempt_at is not None and row.next_attempt_at > started:
            report.skipped = (
                f"backing off after {row.consecutive_failures} failure(s) until {row.next_attempt_at}"
            )
            return report
        stored = dict(row.cursor or {})
    position: dict[str, Any] = dict(stored.get("position") or {})
    state = DetectorState.from_json(stored.get("detector"))
    header = HeaderFormat.compile(service.log_format) if service.log_format else None
    owns_client = client is None
    http = client or httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0))
    try:
        source = open_service_source(settings, service, http)
        scanner: Scanner | None = None
        after = position
        # All batches of one scan stream through one scanner (bounded memory; a traceback across
        # two batches is one event); the record still open at the end waits in the state.
        for lines, cursor in _batches(source, position, batch_lines):
            after = cursor
            if scanner is None:
                scanner = Scanner(service.thresholds, state, now=now(), header=header or _auto_header(lines))
            scanner.feed(lines)
            if progress is not None:
                progress(f"{service.name}: {scanner.events:,} events read")
        anomalies = scanner.suspend() if scanner is not None else []
        report.events = scanner.events if scanner is not None else 0
        report.anomalies.extend(anomalies)
        # Incidents, cursor and detector state move together: a crash re-reads, never skips.
        with sessions.begin() as session:
            for anomaly in anomalies:
                report.changes.append(
                    upsert_incident(
                        session,
                        service.name,
                        anomaly,
                        source=service.source,
                        now=now(),
                        cooldown_seconds=service.thresholds.cooldown_seconds,
                    )
                )
            row = get_cursor(session, service.name, service.source)
            record_success(session, row, {"position": after, "detector": state.to_json()}, now())
        if progress is not None:
            progress(f"{service.name}: {report.events:,} events read, {len(report.anomalies)} anomalies")
    except SourceError as exc:
        report.error = str(exc)
        log.warning("scan of %s failed: %s", service.name, exc)
        retry = exc.retry_after if isinstance(exc, SourceRateLimited) else None
        with sessions.begin() as session:
            row = get_cursor(session, service.name, service.source)
            record_failure(session, row, report.error, now(), base_seconds=max(retry or 0.0, 60.0))
    finally:
        if owns_client:
            http.close()
    return report


def record_alerts(
    settings: Settings,
    sessions: sessionmaker[Session],
    alerts: list[tuple[str, Anomaly]],
    *,
    now: datetime | None = None,
) -> list[IncidentChange]:
    """Upsert Alertmanager alerts as incidents of their service (unknown services: the first one)."""
    if not settings.services:
        log.warning("received %d alert(s) but no service is configured", len(alerts))
        return []
    names = {s.name: s for s in settings.services}
    changes = []
    stamp = now or utcnow()
    with sessions.begin() as session:
        for service_name, anomaly in alerts:
            service = names.get(service_name, settings.services[0])
            changes.append(
                upsert_incident(
                    session,
                    service.name,
                    anomaly,
                    source="alertmanager",
                    now=stamp,
                    cooldown_seconds=service.thresholds.cooldown_seconds,
                )
            )
    return changes
