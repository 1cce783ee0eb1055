"""One whole bot over real HTTP: the sample shop, its bare remote, fake Slack, fake Railway, a scripted model.

`world` builds everything the bot talks to as real local servers on 127.0.0.1 and then the bot
itself exactly as `agent run` does (`build_runtime` + `start` + uvicorn serving `runtime.web`), on the
database of the `engine` fixture (SQLite, and PostgreSQL when TEST_DATABASE_URL is set). Nothing of
the bot is replaced: the only doubles are the external services (Slack, Railway, the model).

Waiting is always for an observable condition (a recorded Slack call, a commit on the remote, a
database status) with a bounded deadline; a timeout fails with what the fakes recorded so far.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import Engine, select

from bot.demo.sample_service import (
    SAMPLE_LOG_FORMAT,
    SampleService,
    create_sample_service,
    produce_logs,
)
from bot.demo.script import sample_shop_script
from bot.demo.scripted_lm import ScriptedLMServer
from bot.runtime import Runtime, build_runtime
from bot.scheduler import job_id
from bot.slack.client import make_web_client
from core.settings import load_settings
from core.store.models import Incident, Proposal, utcnow
from core.store.proposals import FIX_ID_PATTERN
from fixes.git_ops import parse_trailers
from tests.fakes.railway import FakeRailway
from tests.fakes.serving import serve_asgi
from tests.fakes.slack_api import FakeSlack, RecordedCall

__all__ = ["ALICE", "CHANNEL", "Commit", "World", "running_world", "world"]

SIGNING_SECRET = "e2e-signing-secret-0123456789abcdef"
SLACK_TOKEN = "xoxb-e2e-token"
RAILWAY_TOKEN = "railway-e2e-token"
ALICE = "UALICE"  # the service's approver
CHANNEL = "C0OPS"
WAIT_SECONDS = 30.0  # generous for a loaded 2-core CI machine; the happy path needs a few seconds

T = TypeVar("T")


@dataclass(frozen=True)
class Commit:
    sha: str
    message: str

    @property
    def trailers(self) -> dict[str, str]:
        return parse_trailers(self.message)


@dataclass
class World:
    """The running bot and everything it talks to."""

    sample: SampleService
    runtime: Runtime
    slack: FakeSlack
    railway: FakeRailway
    model: ScriptedLMServer
    base_url: str
    http: httpx.Client
    verifier: SignatureVerifier

    # -- driving -------------------------------------------------------------------------
    def run_job_now(self, job: str) -> None:
        """Make a scheduled job (e.g. `scan:shop`, `housekeeping`) due now instead of in minutes."""
        self.runtime.scheduler.modify_job(job, next_run_time=utcnow())

    def scan_now(self) -> None:
        self.run_job_now(job_id("shop"))

    def mention(self, text: str, *, event_id: str, thread_ts: str, retry: int | None = None) -> int:
        """POST a correctly signed `app_mention` by the approver, in the proposal's thread."""
        ts = f"{time.time():.6f}"
        body = {
            "token": "legacy",
            "team_id": "T0001",
            "api_app_id": "A0001",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [{"team_id": "T0001", "user_id": "UBOT", "is_bot": True}],
            "event": {
                "type": "app_mention",
                "user": ALICE,
                "text": f"<@UBOT> {text}",
                "ts": ts,
                "event_ts": ts,
                "thread_ts": thread_ts,
                "channel": CHANNEL,
            },
        }
        raw = json.dumps(body)
        stamp = str(int(time.time()))
        signature = self.verifier.generate_signature(timestamp=stamp, body=raw)
        assert signature is not None
        headers = {
            "content-type": "application/json",
            "x-slack-request-timestamp": stamp,
            "x-slack-signature": signature,
        }
        if retry is not None:
            headers |= {"x-slack-retry-num": str(retry), "x-slack-retry-reason": "http_timeout"}
        return self.http.post("/slack/events", content=raw.encode(), headers=headers).status_code

    # -- observing -----------------------------------------------------------------------
    def wait_until(self, condition: Callable[[], T | None], what: str, timeout: float = WAIT_SECONDS) -> T:
        """Poll `condition` until it returns something truthy; fail with the recorded calls otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if result:
                return result
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout:g}s waiting for {what}\n{self.describe()}")
            time.sleep(0.05)

    def describe(self) -> str:
        """What the fakes and the database recorded: the failure message of every wait."""
        lines = ["fake Slack calls:"]
        for call in list(self.slack.calls):
            text = str(call.params.get("text", ""))[:160].replace("\n", " ")
            thread = f" thread={call.params['thread_ts']}" if call.params.get("thread_ts") else ""
            lines.append(f"  {call.method}{thread} {text}")
        lines.append("fake Railway requests:")
        for request in list(self.railway.requests)[-10:]:
            lines.append(f"  {request.method} {request.path} {request.body[:120]!r}")
        lines.append("proposals:")
        for proposal in self.proposals():
            lines.append(
                f"  {proposal.fix_id} {proposal.status} ts={proposal.slack_ts} "
                f"failed_step={proposal.failed_step} {proposal.failure_reason[:160]}"
            )
        lines.append("remote: " + " | ".join(c.message.splitlines()[0] for c in self.commits()))
        return "\n".join(lines)

    def proposals(self) -> list[Proposal]:
        with self.runtime.sessions() as session:
            return list(session.scalars(select(Proposal).order_by(Proposal.id)))

    def proposal(self, fix_id: str) -> Proposal:
        return next(p for p in self.proposals() if p.fix_id == fix_id)

    def proposal_changing(self, marker: str) -> Proposal | None:
        """The posted proposal whose diff contains `marker`, once its Slack message exists."""
        for proposal in self.proposals():
            # slack_ts holds a claim token while the post is in flight, then the message's ts.
            if marker in proposal.diff and re.fullmatch(r"\d+\.\d+", proposal.slack_ts or ""):
                return proposal
        return None

    def top_level_posts(self, fix_id: str) -> list[RecordedCall]:
        """chat.postMessage calls outside any thread whose fallback text names `fix_id` first (proposals)."""
        posts = []
        for call in self.slack.calls_to("chat.postMessage"):
            named = FIX_ID_PATTERN.search(str(call.params.get("text", "")))
            if not call.params.get("thread_ts") and named is not None and named.group(0) == fix_id:
                posts.append(call)
        return posts

    def thread_texts(self, thread_ts: str) -> list[str]:
        """The thread's lines as they read now (the progress message is edited in place)."""
        return self.slack.thread_lines(thread_ts)

    def updated_to(self, ts: str, needle: str) -> bool:
        """Whether the newest in-place update of the message `ts` contains `needle` (e.g. a status)."""
        updates = [call for call in self.slack.calls_to("chat.update") if call.params.get("ts") == ts]
        return bool(updates) and needle in json.dumps(updates[-1].params)

    def thread_line(self, thread_ts: str, needle: str) -> str | None:
        return next((text for text in self.thread_texts(thread_ts) if needle in text), None)

    def commits(self) -> list[Commit]:
        """The remote's main branch, newest first."""
        out = subprocess.run(
            ["git", "--git-dir", str(self.sample.remote), "log", "--format=%H%x00%B%x01", self.sample.branch],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
        commits = []
        for chunk in out.split("\x01"):
            if chunk.strip():
                sha, _, message = chunk.strip().partition("\x00")
                commits.append(Commit(sha, message))
        return commits

    def remote_file(self, path: str) -> str:
        """`path` as the remote's main branch has it."""
        return subprocess.run(
            ["git", "--git-dir", str(self.sample.remote), "show", f"{self.sample.branch}:{path}"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout

    def commit_with(self, trailer: str, value: str) -> Commit | None:
        return next((c for c in self.commits() if c.trailers.get(trailer) == value), None)

    def incident_count(self, title_part: str) -> int:
        """Occurrences seen so far of the incidents whose title contains `title_part`."""
        with self.runtime.sessions() as session:
            incidents = session.scalars(select(Incident).where(Incident.title.contains(title_part)))
            return sum(incident.count for incident in incidents)

    def status_is(self, fix_id: str, status: str) -> bool:
        return self.proposal(fix_id).status == status

    def later(self, seconds: float) -> None:
        """Set the jobs' wall clock `seconds` off the real time (negative: behind); 0 restores it."""
        self.runtime.jobs.now = lambda: utcnow() + timedelta(seconds=seconds)


def _config(root: Path, sample: SampleService, model: ScriptedLMServer, railway: FakeRailway) -> Path:
    """agent.toml for the sample shop, pointing at the local fakes (strings JSON-quoted = TOML-quoted)."""
    q = json.dumps
    text = f"""\
data_dir = "data"

[llm]
model = "openai/scripted-demo"
api_base = {q(model.api_base)}
post_failed_validation = true
max_attempts = 2
retries = 0
timeout_seconds = 30

[slack]
default_channel = {q(CHANNEL)}

[apply]
deploy_poll_seconds = "50ms"
deploy_timeout_seconds = "30s"
verify_window_seconds = "30m"
auto_revert_on_crash = false

[[services]]
name = "shop"
source = {q("file:" + str(sample.log_path))}
log_format = {q(SAMPLE_LOG_FORMAT)}
repo = {q(str(sample.remote))}
branch = {q(sample.branch)}
channel = {q(CHANNEL)}
approvers = [{q(ALICE)}]
validation_command = {q(f"{sys.executable} -m pytest -q")}
python = {q(sys.executable)}
validation_timeout_seconds = "2m"

[services.thresholds]
slow_templates = {{ "slow query" = 2000 }}

[services.railway]
project_id = "p-1"
environment_id = "e-1"
service_id = "s-1"
endpoint = {q(railway.url)}
"""
    path = root / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def world(tmp_path: Path, engine: Engine) -> Iterator[World]:
    """The sample shop with two batches of real logs, the fakes, and the bot running against them."""
    with running_world(tmp_path, engine) as running:
        yield running


@contextmanager
def running_world(
    tmp_path: Path,
    engine: Engine,
    *,
    configure: Callable[[SampleService, ExitStack], tuple[str, dict[str, str]]] | None = None,
) -> Iterator[World]:
    """`world`; `configure(sample, stack)` returns keys for the service's TOML entry and extra environment."""
    sample = create_sample_service(tmp_path / "sample")
    produce_logs(sample, runs=2)

    with ExitStack() as stack:  # every finalizer runs, in reverse order, even when one fails
        slack = FakeSlack(token=SLACK_TOKEN).start()
        stack.callback(slack.stop)
        slack.add_channel(CHANNEL, "ops")
        railway = stack.enter_context(FakeRailway(bearer_tokens={RAILWAY_TOKEN}))
        model = stack.enter_context(ScriptedLMServer(sample_shop_script()))

        service_lines, extra_env = configure(sample, stack) if configure is not None else ("", {})
        config = _config(tmp_path, sample, model, railway)
        # Keys of the [[services]] entry go before its first sub-table ([services.thresholds]).
        text = config.read_text(encoding="utf-8").replace(
            "\n[services.thresholds]", f"{service_lines}\n[services.thresholds]"
        )
        config.write_text(text, encoding="utf-8")
        settings = load_settings(
            config,
            environ={
                "LLM_API_KEY": "scripted",
                "SLACK_BOT_TOKEN": SLACK_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "RAILWAY_API_TOKEN": RAILWAY_TOKEN,
                **extra_env,
            },
        )
        runtime = build_runtime(
            settings,
            engine=engine,
            http=httpx.Client(timeout=httpx.Timeout(10.0), trust_env=False),
            slack_client=make_web_client(SLACK_TOKEN, base_url=slack.api_url),
        )
        stack.callback(runtime.stop, wait=True)
        server, thread, base_url = serve_asgi(runtime.web)

        def stop_server() -> None:
            server.should_exit = True
            thread.join(15)

        stack.callback(stop_server)
        http = stack.enter_context(httpx.Client(base_url=base_url, timeout=15, trust_env=False))
        runtime.start(scheduled=True)
        yield World(sample, runtime, slack, railway, model, base_url, http, SignatureVerifier(SIGNING_SECRET))
        assert [] == slack.refused, "calls slack.com would refuse"
