"""Failing LLM spans in Phoenix → one incident → a proposal posted to Slack that names the trace.

Real parts end to end: the fake Phoenix and the fake Slack Web API on 127.0.0.1, the bot's scan
job (`scan_and_propose`), its database (SQLite, and PostgreSQL when TEST_DATABASE_URL is set), its
Slack poster and renderer. No model is configured, so the proposal is an incident report.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.demo.sample_service import create_sample_service
from bot.jobs import JobContext, scan_and_propose
from bot.slack.client import SlackCalls, make_web_client
from bot.slack.poster import ProposalPoster
from bot.status import ErrorLog
from core.settings import load_settings
from core.store.cursors import source_health
from core.store.models import Incident, Proposal
from tests.fakes.phoenix import FakePhoenix, python_traceback
from tests.fakes.slack_api import FakeSlack

KEY = "phx-e2e-key-0123456789"
SLACK_TOKEN = "xoxb-phoenix-e2e"
CHANNEL = "C0OPS"
SECRET = "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX"
TRACES = [f"4bf92f3577b34da6a3ce929d0e0e473{i}" for i in range(3)]


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    server = FakeSlack(token=SLACK_TOKEN).start()
    server.add_channel(CHANNEL, "ops")
    yield server
    server.stop()


def test_failing_spans_become_an_incident_and_a_proposal_naming_the_trace(
    tmp_path: Path, sessions: sessionmaker[Session], slack: FakeSlack
) -> None:
    """Three spans raising the same KeyError: one report in Slack with the trace id, no secret anywhere."""
    sample = create_sample_service(tmp_path / "shop")
    start = datetime.now(UTC) - timedelta(minutes=10)
    frames = [(str(sample.workdir / "shop" / "checkout.py"), 12, "apply_coupon")]
    with FakePhoenix(api_key=KEY, projects=("support-bot",)) as phoenix:
        phoenix.add_span("answer", project="support-bot", kind="LLM", start=start)
        for i, trace in enumerate(TRACES):
            phoenix.add_error_span(
                "apply_coupon_tool",
                project="support-bot",
                kind="TOOL",
                start=start + timedelta(minutes=i),
                exc_type="KeyError",
                message=f"'SPRING' (api_key={SECRET})",
                stacktrace=python_traceback("KeyError", f"'SPRING' (api_key={SECRET})", frames),
                attributes={"input.value": f"apply coupon SPRING, my key is {SECRET}"},
                trace_id=trace,
            )
        config = tmp_path / "agent.toml"
        config.write_text(
            f"""
[slack]
default_channel = "{CHANNEL}"

[[services]]
name = "shop"
source = "phoenix:project=support-bot"
repo = "{sample.remote}"
channel = "{CHANNEL}"
validation_command = "{sample.validation_command}"

[services.phoenix]
endpoint = "{phoenix.url}"
"""
        )
        settings = load_settings(
            config,
            environ={
                "PHOENIX_API_KEY": KEY,
                "SLACK_BOT_TOKEN": SLACK_TOKEN,
                "SLACK_SIGNING_SECRET": "phoenix-e2e-signing",
            },
        )
        with httpx.Client(timeout=10.0, trust_env=False) as http:
            progress: list[str] = []
            incidents = scan_and_propose(JobContext(settings, sessions, http), "shop", progress.append)
        assert all(r.headers.get("authorization") == f"Bearer {KEY}" for r in phoenix.requests)

    poster = ProposalPoster(
        settings, sessions, SlackCalls(make_web_client(SLACK_TOKEN, base_url=slack.api_url), ErrorLog())
    )
    assert 1 == poster.post_pending()

    [incident] = incidents
    assert ("error_pattern", 3) == (incident.kind, incident.count)
    assert incident.title.startswith(f"KeyError: TOOL span apply_coupon_tool (trace {TRACES[0]}) failed")
    [post] = slack.calls_to("chat.postMessage")
    posted = json.dumps(post.params)
    assert CHANNEL == post.params["channel"]
    assert f"trace {TRACES[0]}" in posted
    with sessions() as session:
        stored = json.dumps(
            [[i.title, i.samples, i.details] for i in session.scalars(select(Incident))]
            + [[p.summary, p.no_fix_reason, p.root_cause] for p in session.scalars(select(Proposal))],
            default=str,
        )
        [health] = source_health(session)
    assert health.ok
    for text in (posted, stored, *progress):
        assert SECRET not in text
        assert "my key is" not in text
