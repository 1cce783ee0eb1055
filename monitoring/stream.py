"""Reading a source in batches, and `scan_once`: the read-only scan behind `agent scan --once`.

Nothing here touches the database (the scheduled scan, which stores cursors and incidents, is
`monitoring.scan`), so `agent scan --once` starts without importing the store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx

from core.settings import DetectorThresholds, ServiceSettings, Settings
from monitoring.detect import Anomaly, DetectorState
from monitoring.events import RawLine, looks_like_known_shape
from monitoring.headers import HeaderFormat, detect_header
from monitoring.pipeline import Scanner
from monitoring.sources import LogSource, open_source

__all__ = ["BATCH_LINES", "Progress", "auto_header", "batches", "open_service_source", "scan_once"]

log = logging.getLogger(__name__)

BATCH_LINES = 50_000
Progress = Callable[[str], None]


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


def batches(
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
    now = now or datetime.now(UTC)
    scanner: Scanner | None = None
    read = 0
    # Streamed: one chunk in memory at a time; the scanner keeps only what detection needs.
    for batch, _ in batches(source, {}, batch_lines):
        if scanner is None:
            header = HeaderFormat.compile(log_format) if log_format else auto_header(batch)
            scanner = Scanner(thresholds, DetectorState(), now=now, header=header)
        scanner.feed(batch)
        read += len(batch)
        if progress is not None:
            progress(f"read {read:,} lines from {source.spec}")
    return scanner.finish() if scanner is not None else []


def auto_header(lines: list[RawLine]) -> HeaderFormat | None:
    # Only for logs the built-in shapes do not cover (they would lose their level otherwise).
    sample = [raw.text for raw in lines[:500]]
    if sum(looks_like_known_shape(text) for text in sample) * 2 >= max(len(sample), 1):
        return None
    return detect_header(sample)
