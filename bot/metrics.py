"""Prometheus metrics (`fixbot_*`) on an explicit registry (never the global one).

`/metrics` exposes: scans and anomalies per service, proposals by status (read from the database
at scrape time), apply durations by outcome, Slack API errors by method and error code, and Slack
deliveries by kind and result (processed, duplicate).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from core.store.overview import proposal_counts

__all__ = ["BotMetrics"]


class _ProposalsByStatus(Collector):
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("fixbot_proposals", "Proposals by status.", labels=["status"])
        with self._sessions() as session:
            for status, count in proposal_counts(session).items():
                family.add_metric([status], count)
        yield family


class BotMetrics:
    """The bot's counters and histograms, registered on `registry`."""

    def __init__(self, registry: CollectorRegistry, sessions: sessionmaker[Session] | None = None) -> None:
        self.scans = Counter("fixbot_scans", "Scans run.", ["service"], registry=registry)
        self.anomalies = Counter(
            "fixbot_anomalies", "Incidents reported by scans.", ["service"], registry=registry
        )
        self.apply_seconds = Histogram(
            "fixbot_apply_duration_seconds",
            "Wall time of applies, by outcome (ok, failed, crashed).",
            ["outcome"],
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200),
            registry=registry,
        )
        self.slack_errors = Counter(
            "fixbot_slack_api_errors",
            "Slack Web API calls that failed.",
            ["method", "error"],
            registry=registry,
        )
        self.deliveries = Counter(
            "fixbot_slack_deliveries",
            "Slack deliveries (events, interactions) by result: processed or duplicate.",
            ["kind", "result"],
            registry=registry,
        )
        if sessions is not None:
            registry.register(_ProposalsByStatus(sessions))

    def observe_apply(self, outcome: str, seconds: float) -> None:
        self.apply_seconds.labels(outcome).observe(seconds)

    def count_scan(self, service: str, incidents: int) -> None:
        self.scans.labels(service).inc()
        self.anomalies.labels(service).inc(incidents)

    def count_slack_error(self, method: str, error: str) -> None:
        self.slack_errors.labels(method, error).inc()

    def count_delivery(self, kind: str, result: str) -> None:
        self.deliveries.labels(kind, result).inc()
