"""Scheduled scans: one APScheduler job per service, registered in one place, guarded by a lease.

`register_scan_jobs(scheduler, settings, scan_service_fn)` adds `scan:<service>` interval jobs
(`coalesce=True`, `max_instances=1`: a slow scan is never run twice at once and missed runs collapse
into one). `guarded_scan(...)` wraps the scan function with a database lease so that when two
instances overlap (Railway keeps the old deployment alive until the new one is healthy) only the
lease holder scans; the other skips and takes over once the lease expires.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from core.store.cursors import acquire_lease, release_lease
from core.store.models import utcnow

__all__ = ["SCAN_LEASE", "guarded_scan", "job_id", "register_scan_jobs", "release_scan_lease"]

log = logging.getLogger(__name__)

SCAN_LEASE = "scanner"
T = TypeVar("T")


def job_id(service: str) -> str:
    """The scheduler job id of a service's scan."""
    return f"scan:{service}"


def register_scan_jobs(
    scheduler: BaseScheduler,
    settings: Settings,
    scan_service_fn: Callable[[str], Any],
    *,
    first_run_delay_seconds: float = 5.0,
) -> list[str]:
    """Add one interval job per configured service; returns the job ids."""
    ids = []
    start = utcnow() + timedelta(seconds=first_run_delay_seconds)
    for service in settings.services:
        interval = service.scan_interval_seconds or settings.scan_interval_seconds
        scheduler.add_job(
            scan_service_fn,
            trigger="interval",
            seconds=interval,
            args=[service.name],
            id=job_id(service.name),
            name=f"scan {service.name}",
            coalesce=True,
            max_instances=1,
            replace_existing=True,
            misfire_grace_time=int(interval),
            next_run_time=start,
        )
        ids.append(job_id(service.name))
    return ids


def guarded_scan(
    sessions: sessionmaker[Session],
    owner: str,
    scan_fn: Callable[[str], T],
    *,
    ttl_seconds: float,
) -> Callable[[str], T | None]:
    """`scan_fn` that runs only while this process (`owner`) holds the scanner lease."""

    def run(service: str) -> T | None:
        with sessions.begin() as session:
            held = acquire_lease(session, SCAN_LEASE, owner, now=utcnow(), ttl_seconds=ttl_seconds)
        if not held:
            log.info("scan of %s skipped: another instance holds the scanner lease", service)
            return None
        return scan_fn(service)

    return run


def release_scan_lease(sessions: sessionmaker[Session], owner: str) -> None:
    """Give the scanner lease back at shutdown so the next instance takes over at once."""
    with sessions.begin() as session:
        release_lease(session, SCAN_LEASE, owner)
