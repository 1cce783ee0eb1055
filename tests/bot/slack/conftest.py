"""The real Slack app served over HTTP by uvicorn, the fake Slack Web API, and signed requests.

Only our own Protocols (apply, revert, scan) are replaced, by small in-memory implementations that
move the proposal through the real lifecycle in the real database.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.orm import Session, sessionmaker

from bot.slack import build_slack_stack, slack_routes
from bot.slack.app import SlackStack
from bot.slack.client import make_web_client
from bot.web import create_web_app
from core.settings import Secrets, ServiceSettings, Settings, SlackSettings
from core.store.lifecycle import ProposalStatus, transition
from core.store.models import Incident, utcnow
from core.store.proposals import create_proposal
from fixes.edits import content_hash
from tests.fakes.serving import serve_asgi
from tests.fakes.slack_api import FakeSlack

SECRET = "8f14e45fceea167a5a36dedd4bea2543"
ALICE = "UALICE"
BOB = "UBOB"
CAROL = "UCAROL"  # in the on-call user group
MALLORY = "UMALLORY"
CHANNEL = "C0OPS"

DIFF = """\
--- a/app/tools.py
+++ b/app/tools.py
@@ -1,3 +1,4 @@
 def call(tool):
-    return tool.run()
+    if tool is None:
+        return None
+    return tool.run()
"""


def make_settings(**slack_overrides: Any) -> Settings:
    service = ServiceSettings(
        name="api",
        source="file:/tmp/api.log",
        repo="/tmp/api-repo",
        channel=CHANNEL,
        approvers=(ALICE, BOB),
        approver_groups=("SONCALL",),
    )
    slack = SlackSettings(default_channel=CHANNEL, workers=4, **slack_overrides)
    return Settings(
        config_path=None,
        data_dir=Path("/tmp"),
        port=0,
        slack=slack,
        services=(service,),
        secrets=Secrets(slack_bot_token=SecretStr("xoxb-test-token"), slack_signing_secret=SecretStr(SECRET)),
    )


def add_proposal(
    sessions: sessionmaker[Session], *, diff: str = DIFF, posted: bool = False, **fields: Any
) -> str:
    """Store an incident and its proposal; returns the fix id."""
    with sessions.begin() as session:
        now = utcnow()
        incident = Incident(
            service="api",
            fingerprint=f"fp-{time.monotonic_ns()}",
            kind="error_pattern",
            severity="high",
            title="MCP Tool failed: 500",
            count=5,
            first_seen=now,
            last_seen=now,
        )
        session.add(incident)
        session.flush()
        values = {
            "incident_id": incident.id,
            "summary": "Guard against a missing tool",
            "root_cause": "tool lookups can return None",
            "severity": "high",
            "risk": "low: adds a guard",
            "diff": diff,
            "content_hash": content_hash(diff),
            "edits": [{"path": "app/tools.py", "search": "x", "replace": "y"}],
            "validation_status": "passed",
        }
        values.update(fields)
        if posted:
            values.update(slack_channel=CHANNEL, slack_ts=f"1761800000.{time.monotonic_ns() % 1_000_000:06d}")
        proposal = create_proposal(session, service="api", now=now, **values)
        return proposal.fix_id


@dataclass
class Report:
    fix_id: str
    ok: bool
    status: str
    commit_sha: str = ""
    failed_step: str = ""
    output: str = ""
    message: str = ""


@dataclass
class FakePipeline:
    """ApplyFix/RevertFix/ScanService over the real lifecycle; `gate` holds applies mid-way."""

    sessions: sessionmaker[Session]
    applied: list[str] = field(default_factory=list)
    reverted: list[str] = field(default_factory=list)
    scanned: list[str] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.gate.set()

    def apply(self, fix_id: str, progress: Any) -> Report:
        with self.lock:
            self.applied.append(fix_id)
        with self.sessions.begin() as session:
            transition(session, fix_id, ProposalStatus.APPLYING, actor="bot")
        progress("applying…")
        self.gate.wait(10)
        progress("validating… tests 12 s")
        sha = "abc1234def5678"
        with self.sessions.begin() as session:
            transition(session, fix_id, ProposalStatus.PUSHED, actor="bot", values={"commit_sha": sha})
        progress(f"pushed {sha[:7]}")
        return Report(fix_id, True, "pushed", commit_sha=sha, message="deploy will follow")

    def revert(self, fix_id: str, progress: Any) -> Report:
        with self.lock:
            self.reverted.append(fix_id)
        progress("reverting…")
        return Report(fix_id, True, "reverted", message="reverted")

    def scan(self, service: str, progress: Any) -> list[Any]:
        with self.lock:
            self.scanned.append(service)
        progress(f"reading {service} logs…")
        return []


class Signed:
    """Sends correctly signed Events API and interactivity requests to the served app."""

    def __init__(self, base_url: str, secret: str = SECRET) -> None:
        self.base_url = base_url
        self.verifier = SignatureVerifier(secret)
        self.http = httpx.Client(base_url=base_url, timeout=10, trust_env=False)

    def post(
        self,
        raw: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
        signature: str | None = None,
    ) -> httpx.Response:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        sig = signature or self.verifier.generate_signature(timestamp=ts, body=raw)
        all_headers = {
            "content-type": content_type,
            "x-slack-request-timestamp": ts,
            "x-slack-signature": sig,
            **(headers or {}),
        }
        return self.http.post("/slack/events", content=raw.encode(), headers=all_headers)

    def event(
        self, event: dict[str, Any], *, event_id: str, retry: int | None = None, **kw: Any
    ) -> httpx.Response:
        body = {
            "token": "legacy",
            "team_id": "T0001",
            "api_app_id": "A0001",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [{"team_id": "T0001", "user_id": "UBOT", "is_bot": True}],
            "event": event,
        }
        headers = {"x-slack-retry-num": str(retry), "x-slack-retry-reason": "http_timeout"} if retry else None
        return self.post(json.dumps(body), "application/json", headers=headers, **kw)

    def mention(
        self,
        text: str,
        *,
        user: str,
        event_id: str,
        ts: str = "1761900100.000100",
        thread_ts: str | None = None,
        retry: int | None = None,
        **kw: Any,
    ) -> httpx.Response:
        """A signed app_mention; `signature=` / `timestamp=` forge or age the request."""
        event = {
            "type": "app_mention",
            "user": user,
            "text": f"<@UBOT> {text}",
            "ts": ts,
            "channel": CHANNEL,
            "event_ts": ts,
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        return self.event(event, event_id=event_id, retry=retry, **kw)

    def button(
        self,
        fix_id: str,
        *,
        user: str,
        message_ts: str,
        action_ts: str,
        action_id: str = "implement_fix",
        value: str | None = None,
    ) -> httpx.Response:
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": "T0001"},
            "api_app_id": "A0001",
            "token": "legacy",
            "trigger_id": "1.2.3",
            "team": {"id": "T0001", "domain": "acme"},
            "container": {"type": "message", "message_ts": message_ts, "channel_id": CHANNEL},
            "channel": {"id": CHANNEL, "name": "ops"},
            "message": {"type": "message", "ts": message_ts, "bot_id": "BBOT", "text": "Fix proposal"},
            "state": {"values": {}},
            "response_url": f"{self.base_url}/actions/T0001/1/x",
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": f"actions:{fix_id}",
                    "value": value or f"{fix_id}:1",
                    "action_ts": action_ts,
                }
            ],
        }
        return self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")


@dataclass
class Served:
    stack: SlackStack
    fake: FakeSlack
    pipeline: FakePipeline
    send: Signed
    sessions: sessionmaker[Session]
    base_url: str

    def drain(self) -> None:
        """Wait until handed-off and slow work has finished (the executors are idle)."""
        # Each stage hands off to the next, so one pass in order (repeated for stragglers) drains all.
        for _ in range(2):
            for executor in self.stack.executors:
                workers = executor._max_workers
                barrier = threading.Barrier(workers + 1)
                futures = [executor.submit(barrier.wait, 15) for _ in range(workers)]
                barrier.wait(15)
                for future in futures:
                    future.result(timeout=15)


def start_served(
    settings: Settings,
    sessions: sessionmaker[Session],
    fake: FakeSlack,
    *,
    signing_secret: str = SECRET,
    checks: dict[str, Any] | None = None,
) -> tuple[Served, Any]:
    from prometheus_client import CollectorRegistry

    pipeline = FakePipeline(sessions)
    client = make_web_client("xoxb-test-token", base_url=fake.api_url)
    registry = CollectorRegistry()
    stack = build_slack_stack(
        settings,
        sessions,
        client,
        apply_fix=pipeline.apply,
        revert_fix=pipeline.revert,
        scan_service=pipeline.scan,
        registry=registry,
    )
    web = create_web_app(
        checks=checks if checks is not None else {"database": lambda: "ok"},
        registry=registry,
        extra_routes=slack_routes(stack.app, signing_secret=signing_secret),
    )
    server, thread, base_url = serve_asgi(web)
    served = Served(stack, fake, pipeline, Signed(base_url), sessions, base_url)

    def stop() -> None:
        server.should_exit = True
        thread.join(10)
        served.send.http.close()
        stack.close()

    return served, stop


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    fake.add_channel(CHANNEL, "ops")
    fake.usergroups["SONCALL"] = [CAROL]
    yield fake
    fake.stop()
    # A call slack.com would refuse (unknown method or argument) fails the test that made it.
    assert [] == fake.refused


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def served(settings: Settings, sessions: sessionmaker[Session], fake_slack: FakeSlack) -> Iterator[Served]:
    result, stop = start_served(settings, sessions, fake_slack)
    yield result
    stop()


__all__ = [
    "ALICE",
    "BOB",
    "CAROL",
    "CHANNEL",
    "DIFF",
    "MALLORY",
    "SECRET",
    "FakePipeline",
    "Served",
    "Signed",
    "add_proposal",
    "make_settings",
    "replace",
    "start_served",
]
