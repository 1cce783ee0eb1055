"""/health says "up" to Railway's deploy healthcheck before the Slack app is installed; /ready is strict."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.runtime import Runtime, build_runtime
from core.settings import load_settings
from tests.fakes.slack_api import FakeSlack


def _get(runtime: Runtime, path: str) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=runtime.web)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
            return await client.get(path)

    return asyncio.run(call())


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


def _runtime(tmp_path: Path, slack: FakeSlack, token: str) -> Runtime:
    config = tmp_path / "agent.toml"
    config.write_text(
        f'data_dir = "data"\n[slack]\napi_base_url = "{slack.api_url}"\ndefault_channel = "C0OPS"\n'
    )
    environ = {"SLACK_BOT_TOKEN": token, "SLACK_SIGNING_SECRET": "s3cret"}
    return build_runtime(load_settings(config, environ=environ))


def test_uninstalled_slack_app_is_degraded_not_down(tmp_path: Path, slack: FakeSlack) -> None:
    """A token Slack refuses (app not installed yet): /health 200 "degraded", /ready 503 naming Slack."""
    runtime = _runtime(tmp_path, slack, "xoxb-not-installed-yet")
    try:
        runtime.start()
        health, ready = _get(runtime, "/health"), _get(runtime, "/ready")
    finally:
        runtime.stop(wait=True)
    assert (200, "degraded") == (health.status_code, health.json()["status"])
    assert health.json()["slack"].startswith("error: auth.test failed (invalid_auth)")
    assert (503, "unhealthy") == (ready.status_code, ready.json()["status"])


def test_installed_app_is_ready(tmp_path: Path, slack: FakeSlack) -> None:
    """With the app installed and in its channel, both answer 200."""
    slack.add_channel("C0OPS", "ops")
    runtime = _runtime(tmp_path, slack, slack.token)
    try:
        runtime.start()
        codes = (_get(runtime, "/health").status_code, _get(runtime, "/ready").status_code)
    finally:
        runtime.stop(wait=True)
    assert (200, 200) == codes
