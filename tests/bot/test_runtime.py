"""The assembled runtime, without Slack: what /health and /metrics report after real work."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.types import ASGIApp

from bot.demo.sample_service import SAMPLE_LOG_FORMAT, create_sample_service, produce_logs
from bot.runtime import Runtime, build_runtime
from core.settings import load_settings


def _get(app: ASGIApp, path: str) -> httpx.Response:
    """One request through the ASGI app in-process (the handlers are the ones uvicorn serves)."""

    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot") as client:
            return await client.get(path)

    return asyncio.run(call())


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    sample = create_sample_service(tmp_path / "shop")
    produce_logs(sample, runs=1)
    config = tmp_path / "agent.toml"
    config.write_text(
        f"""
data_dir = "data"
[[services]]
name = "shop"
source = "file:{sample.log_path}"
log_format = "{SAMPLE_LOG_FORMAT}"
repo = "{sample.remote}"
approvers = ["U0LOCALOPS"]
validation_command = "{sample.validation_command}"
python = "{sample.interpreter}"
"""
    )
    built = build_runtime(load_settings(config, environ={}), terminal=True, out=sys.stdout)
    yield built
    built.stop(wait=True)


def test_a_scheduled_scan_is_counted_in_metrics(runtime: Runtime) -> None:
    """After the scan job runs, /metrics counts the scan, its incidents and the stored proposals."""
    runtime.scan("shop")
    text = _get(runtime.web, "/metrics").text
    assert 'fixbot_scans_total{service="shop"} 1.0' in text
    incidents = next(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith('fixbot_anomalies_total{service="shop"}')
    )
    assert incidents >= 1
    assert 'fixbot_proposals{status="proposed"}' in text


def test_health_is_unhealthy_while_the_scheduler_is_off(runtime: Runtime) -> None:
    """Before start() the scheduler check fails the health endpoint (503) and says why."""
    response = _get(runtime.web, "/health")
    body = response.json()
    assert 503 == response.status_code
    assert {"database", "slack", "breaker", "scheduler"} <= set(body)
    assert "ok" == body["database"]
    assert "not running" in body["scheduler"]
    runtime.start()
    assert 200 == _get(runtime.web, "/health").status_code


def test_start_not_assembly_settles_what_a_killed_process_left(tmp_path: Path) -> None:
    """build_runtime starts nothing; start() reconciles an apply a killed process left `applying`."""
    from core.store.db import make_engine, make_session_factory, upgrade_database
    from core.store.models import utcnow
    from core.store.proposals import create_proposal, get_proposal

    config = tmp_path / "agent.toml"
    config.write_text('data_dir = "data"\n')
    settings = load_settings(config, environ={})
    settings.data_dir.mkdir(parents=True)
    engine = make_engine(settings.database_url)
    upgrade_database(engine)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        fix_id = create_proposal(session, service="retired", now=utcnow(), status="applying").fix_id

    def status() -> str:
        with sessions() as session:
            return get_proposal(session, fix_id).status

    runtime = build_runtime(settings, engine=engine, terminal=True, out=sys.stdout, migrate=False)
    try:
        assert "applying" == status()
        runtime.start(scheduled=False)
        assert "failed" == status()
        with sessions() as session:
            assert "no longer configured" in get_proposal(session, fix_id).failure_reason
    finally:
        runtime.stop(wait=True)
