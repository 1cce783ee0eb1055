"""run_scan end to end on a real file and database: cursor, incidents, failures, health, leases."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Secrets, ServiceSettings, Settings
from core.store.cursors import acquire_lease, source_health
from core.store.incidents import list_incidents
from core.store.models import SourceCursor
from monitoring.scan import run_scan
from tests.fakes.railway import Failure, FakeRailway

NOW = datetime(2026, 10, 20, 3, 0, tzinfo=UTC)
ERRORS = "".join(f"2026-10-20 02:5{i}:00,000 ERROR app.mcp: MCP Tool failed: 50{i}\n" for i in range(3))


def _settings(tmp_path: Path, source: str) -> tuple[Settings, ServiceSettings]:
    service = ServiceSettings(name="api", source=source, repo=str(tmp_path))
    settings = Settings(config_path=None, data_dir=tmp_path, services=(service,))
    return settings, service


def test_scan_creates_incident_and_advances_cursor(tmp_path: Path, sessions: sessionmaker[Session]) -> None:
    """A scan upserts one incident for a repeated error; the next scan reads only new lines."""
    log = tmp_path / "app.log"
    log.write_text("2026-10-20 02:49:00,000 INFO app.web: started\n" + ERRORS)
    settings, service = _settings(tmp_path, f"file:{log}")
    messages: list[str] = []
    report = run_scan(settings, sessions, service, messages.append, now=lambda: NOW)
    assert ("", 4, ["error_pattern"]) == (report.error, report.events, [a.kind for a in report.anomalies])
    assert 1 == len(report.to_propose)
    assert messages
    second = run_scan(settings, sessions, service, now=lambda: NOW)
    assert (0, []) == (second.events, second.to_propose)
    with log.open("a") as handle:
        handle.write(ERRORS)
    third = run_scan(settings, sessions, service, now=lambda: NOW)
    assert (3, []) == (third.events, third.to_propose)
    with sessions() as session:
        [incident] = list_incidents(session)
        assert (6, [5, 6, 7]) == (incident.count, incident.details["line_numbers"])


def test_failing_source_is_recorded_not_raised(tmp_path: Path, sessions: sessionmaker[Session]) -> None:
    """A missing log is reported in the scan and in source_health, then backed off."""
    settings, service = _settings(tmp_path, f"file:{tmp_path / 'missing.log'}")
    report = run_scan(settings, sessions, service, now=lambda: NOW)
    assert "does not exist" in report.error
    with sessions() as session:
        [health] = source_health(session)
        assert (False, 1) == (health.ok, health.consecutive_failures)
        assert health.next_attempt_at is not None
    assert health.next_attempt_at > NOW
    skipped = run_scan(settings, sessions, service, now=lambda: NOW + timedelta(seconds=1))
    assert skipped.skipped.startswith("backing off")


def test_lease_lets_only_one_instance_scan(sessions: sessionmaker[Session]) -> None:
    """Two owners: the second is refused until the first's lease expires."""
    with sessions.begin() as session:
        assert acquire_lease(session, "scanner", "a", now=NOW, ttl_seconds=60)
    with sessions.begin() as session:
        assert not acquire_lease(session, "scanner", "b", now=NOW + timedelta(seconds=30), ttl_seconds=60)
    with sessions.begin() as session:
        assert acquire_lease(session, "scanner", "b", now=NOW + timedelta(seconds=61), ttl_seconds=60)


def test_scan_of_railway_logs_and_a_refused_token(
    tmp_path: Path, sessions: sessionmaker[Session], fake_railway: FakeRailway
) -> None:
    """Railway logs become incidents; a refused token is recorded and the cursor kept."""
    for order in range(3):
        fake_railway.add_log("d-1", f"MCP Tool failed: 50{order}", severity="error")
    service = ServiceSettings.model_validate(
        {
            "name": "api",
            "source": "railway:deployment=d-1",
            "repo": ".",
            "railway": {"endpoint": fake_railway.url},
        }
    )
    settings, _ = _settings(tmp_path, "file:unused")
    good = replace(
        settings, services=(service,), secrets=Secrets(railway_api_token=SecretStr("railway-test-token"))
    )
    report = run_scan(good, sessions, service, now=lambda: NOW)
    assert ("", ["error_pattern"]) == (report.error, [a.kind for a in report.anomalies])
    bad = replace(good, secrets=Secrets(railway_api_token=SecretStr("revoked")))
    failed = run_scan(bad, sessions, service, now=lambda: NOW, force=True)
    assert "Not Authorized" in failed.error
    with sessions() as session:
        [health] = source_health(session)
        assert (False, "railway:deployment=d-1") == (health.ok, health.source)
        cursor = session.get(SourceCursor, "api")
        assert cursor is not None
        assert cursor.cursor["position"]["after"] == fake_railway.logs["d-1"][-1]["timestamp"]


def test_scan_backs_off_for_railways_long_retry_after(
    tmp_path: Path, sessions: sessionmaker[Session], fake_railway: FakeRailway
) -> None:
    """A 429 asking for 900 s is one request; the scan records it and backs off at least 900 s."""
    fake_railway.add_log("d-1", "MCP Tool failed: 500", severity="error")
    fake_railway.fail_next(Failure(429, b"{}", {"Retry-After": "900"}))
    service = ServiceSettings.model_validate(
        {
            "name": "api",
            "source": "railway:deployment=d-1",
            "repo": ".",
            "railway": {"endpoint": fake_railway.url},
        }
    )
    settings, _ = _settings(tmp_path, "file:unused")
    settings = replace(
        settings, services=(service,), secrets=Secrets(railway_api_token=SecretStr("railway-test-token"))
    )

    report = run_scan(settings, sessions, service, now=lambda: NOW)

    assert "rate limited" in report.error
    assert 1 == len(fake_railway.requests)
    with sessions() as session:
        [health] = source_health(session)
    assert health.next_attempt_at is not None
    assert NOW + timedelta(seconds=900) <= health.next_attempt_at
