"""Incident upserts: dedupe by fingerprint, proposal rules, snooze, regression after a fix."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from core.store.incidents import (
    list_incidents,
    mark_fix_deployed,
    mark_proposed,
    snooze_incident,
    upsert_incident,
)
from monitoring.detect import Anomaly

NOW = datetime(2026, 10, 20, 3, 0, tzinfo=UTC)
ANOMALY = Anomaly(
    kind="error_pattern",
    fingerprint="fp-1",
    severity="high",
    count=3,
    template="MCP Tool failed: <*>",
    first_seen=NOW,
    last_seen=NOW,
    samples=("MCP Tool failed: 500",),
    line_numbers=(4, 9, 12),
    title="MCP Tool failed: 500",
)


def _upsert(session: Session, anomaly: Anomaly = ANOMALY, now: datetime = NOW):  # type: ignore[no-untyped-def]
    return upsert_incident(session, "api", anomaly, source="file:x", now=now, cooldown_seconds=3600)


def test_new_then_repeated_incident(sessions: sessionmaker[Session]) -> None:
    """A new fingerprint is created and proposed; seen again, counts grow and it is not re-proposed."""
    with sessions.begin() as session:
        change = _upsert(session)
        assert (True, True) == (change.created, change.should_propose)
        mark_proposed(session, change.incident, NOW)
    later = replace(ANOMALY, count=2, last_seen=NOW + timedelta(minutes=5), samples=("MCP Tool failed: 502",))
    with sessions.begin() as session:
        change = _upsert(session, later, NOW + timedelta(minutes=5))
        assert (False, False) == (change.created, change.should_propose)
    with sessions() as session:
        [incident] = list_incidents(session, service="api")
        assert (5, ["MCP Tool failed: 500", "MCP Tool failed: 502"]) == (incident.count, incident.samples)
        assert {
            "template",
            "logger",
            "exception_type",
            "frames",
            "traceback",
            "line_numbers",
            "source",
        } == set(incident.details)
        assert [4, 9, 12] == incident.details["line_numbers"]


def test_snoozed_incident_is_not_proposed_until_the_snooze_ends(sessions: sessionmaker[Session]) -> None:
    """A snoozed incident stays quiet until its snooze ends and the cooldown has passed."""
    with sessions.begin() as session:
        change = _upsert(session)
        mark_proposed(session, change.incident, NOW)
        snooze_incident(session, change.incident, NOW + timedelta(hours=4))
    with sessions.begin() as session:
        assert False is _upsert(session, now=NOW + timedelta(hours=1)).should_propose
    with sessions.begin() as session:
        change = _upsert(session, now=NOW + timedelta(hours=5))
        assert ("open", True) == (change.incident.status, change.should_propose)


def test_seen_after_the_fix_is_a_regression(sessions: sessionmaker[Session]) -> None:
    """After the fix is deployed, old lines change nothing; a new sighting reopens it as a regression."""
    with sessions.begin() as session:
        change = _upsert(session)
        mark_fix_deployed(session, change.incident, NOW + timedelta(hours=1))
    with sessions.begin() as session:
        assert "resolved" == _upsert(session, now=NOW + timedelta(hours=2)).incident.status
    again = replace(ANOMALY, last_seen=NOW + timedelta(hours=3))
    with sessions.begin() as session:
        change = _upsert(session, again, NOW + timedelta(hours=3))
        assert ("open", True, True, True) == (
            change.incident.status,
            change.incident.regression,
            change.reopened,
            change.should_propose,
        )


def test_a_new_error_that_repeats_becomes_an_error_pattern(sessions: sessionmaker[Session]) -> None:
    """The kind and severity of an incident only escalate."""
    with sessions.begin() as session:
        _upsert(session, replace(ANOMALY, kind="new_error", severity="medium", count=1))
    with sessions.begin() as session:
        incident = _upsert(session).incident
        assert ("error_pattern", "high") == (incident.kind, incident.severity)
