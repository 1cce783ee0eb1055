"""Scan jobs: one per service with explicit ids, no overlap, and a lease across instances."""

from __future__ import annotations

from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import Session, sessionmaker

from bot.scheduler import guarded_scan, register_scan_jobs, release_scan_lease
from core.settings import ServiceSettings, Settings


def _settings(tmp_path: Path) -> Settings:
    services = (
        ServiceSettings(name="api", source="file:a.log", repo="."),
        ServiceSettings(name="worker", source="file:b.log", repo=".", scan_interval_seconds=60),
    )
    return Settings(config_path=None, data_dir=tmp_path, services=services)


def test_one_job_per_service(tmp_path: Path) -> None:
    """Jobs get explicit ids, per-service intervals, coalescing and no concurrent runs."""
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.start(paused=True)
    try:
        _check_jobs(scheduler, tmp_path)
    finally:
        scheduler.shutdown(wait=False)


def _check_jobs(scheduler: BackgroundScheduler, tmp_path: Path) -> None:
    ids = register_scan_jobs(scheduler, _settings(tmp_path), lambda name: name)
    assert ["scan:api", "scan:worker"] == ids
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert {"scan:api": 300.0, "scan:worker": 60.0} == {
        k: j.trigger.interval.total_seconds() for k, j in jobs.items()
    }
    assert {(True, 1)} == {(j.coalesce, j.max_instances) for j in jobs.values()}
    register_scan_jobs(scheduler, _settings(tmp_path), lambda name: name)
    assert 2 == len(scheduler.get_jobs())


def test_only_the_lease_holder_scans(sessions: sessionmaker[Session]) -> None:
    """Of two instances, only the one holding the lease runs scans; releasing hands it over."""
    ran: list[str] = []
    first = guarded_scan(sessions, "instance-a", lambda s: ran.append(f"a:{s}"), ttl_seconds=600)
    second = guarded_scan(sessions, "instance-b", lambda s: ran.append(f"b:{s}"), ttl_seconds=600)
    first("api")
    second("api")
    first("worker")
    release_scan_lease(sessions, "instance-a")
    second("api")
    assert ["a:api", "a:worker", "b:api"] == ran
