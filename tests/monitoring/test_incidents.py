"""Incidents people trust, on realistic service logs in three formats (plain, structlog JSON, uvicorn mixed).

Each detector case runs on a log of a Python web service (tests/monitoring/service_logs.py) holding 70
minutes of steady traffic — health checks, requests, routine durations, a rare warning, a rare known
error — and one labelled incident; the scan must find that incident with its kind and nothing else.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.settings import DetectorThresholds
from monitoring.detect import Anomaly, DetectorState
from monitoring.events import RawLine
from monitoring.pipeline import analyze
from tests.monitoring.service_logs import LABELS, match_labels, service_log

FORMATS = ("plain", "json", "mixed")
NOW = datetime(2026, 10, 21, tzinfo=UTC)


def _scan(lines: list[str], thresholds: DetectorThresholds | None = None) -> list[Anomaly]:
    raw = [RawLine(text, number) for number, text in enumerate(lines, 1)]
    return analyze(raw, thresholds or DetectorThresholds(), DetectorState(), now=NOW).anomalies


@pytest.mark.parametrize("fmt", FORMATS)
def test_steady_traffic_is_never_an_incident(fmt: str) -> None:
    """110 minutes of steady traffic (high-volume INFO, ~3 s LLM calls, rare warnings) give nothing."""
    lines, labels = service_log(fmt, incidents=())
    assert ((), []) == (labels, [f"{a.kind}: {a.title}" for a in _scan(lines)])


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "number", range(1, len(LABELS) + 1), ids=[f"{label.kind}-{label.needle}" for label in LABELS]
)
def test_each_incident_alone_is_found_with_its_kind(fmt: str, number: int) -> None:
    """One labelled incident over steady traffic is found, with the right kind, and nothing else is."""
    lines, labels = service_log(fmt, incidents=(number,))
    assert ([], []) == match_labels(labels, _scan(lines))


@pytest.mark.parametrize("fmt", FORMATS)
def test_all_incidents_together_arematch_labels(fmt: str) -> None:
    """The full labelled log: every incident found with its kind, none from steady traffic."""
    lines, labels = service_log(fmt, seed=11)
    assert ([], []) == match_labels(labels, _scan(lines))


@pytest.mark.parametrize("fmt", FORMATS)
def test_two_exceptions_behind_one_message_stay_two(fmt: str) -> None:
    """A KeyError and a ZeroDivisionError raised behind the same log line are two error_patterns."""
    lines, _ = service_log(fmt, incidents=(1, 2))
    found = {a.exception_type: a.count for a in _scan(lines) if a.kind == "error_pattern"}
    assert {"KeyError": 6, "ZeroDivisionError": 4} == found


def test_a_spike_shorter_than_the_sustain_time_is_not_an_incident() -> None:
    """The duplicate-event burst is an incident at a 2-minute sustain time, not at 5 minutes."""
    lines, _ = service_log("plain", incidents=(4,))
    assert ["unusual"] == [a.kind for a in _scan(lines)]
    assert [] == _scan(lines, DetectorThresholds(sustain_seconds=300))


def test_a_routine_duration_can_still_have_an_explicit_limit() -> None:
    """The ~3 s LLM call is routine; an explicit per-template limit of 2 s makes it a performance incident."""
    lines, _ = service_log("plain", incidents=(), minutes=30)
    limited = _scan(lines, DetectorThresholds(slow_templates={"LLM call": 2000}))
    assert ["performance"] == [a.kind for a in limited]
    assert "LLM call completed" in limited[0].template


def test_new_error_needs_the_warm_up() -> None:
    """The one-off AttributeError is a new_error after an hour of history, not after ten minutes."""
    lines, _ = service_log("json", incidents=(7,))
    assert ["new_error"] == [a.kind for a in _scan(lines)]
    short = DetectorThresholds(new_error_baseline_seconds=3 * 3600)
    assert [] == _scan(lines, short)
