"""The deploy watcher against a real local HTTP server speaking Railway's GraphQL shape.

The shared client's edge cases (429, 5xx, errors in a 200) are unit-tested in
tests/monitoring/test_railway_api.py; the watcher itself talks to `tests.fakes.railway.FakeRailway`,
a real HTTP server on 127.0.0.1 (the `projectToken` lookup uses the demo's `SimulatedRailway`, which
also serves it). Time is a fake clock whose `sleep` advances it, so minutes of polling take no real
time.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.demo.simulated_railway import SimulatedRailway
from core.settings import ApplySettings, RailwayTarget, Secrets, ServiceSettings
from core.store.lifecycle import ProposalStatus
from core.store.models import AuditEvent, Incident
from core.store.proposals import create_proposal, get_proposal
from fixes.deploy_watch import (
    ActionKind,
    Deployment,
    DeployOutcome,
    DeployStatus,
    commit_matches,
    decide_after_deploy,
    find_deployment_for_commit,
    follow_deployment,
    record_deploy_outcome,
    wait_for_deployment,
    watch_deploy,
)
from monitoring.railway_api import (
    RailwayClient,
    auth_headers,
)
from tests.fakes.railway import Failure, FakeRailway
from tests.fakes.serving import FakeClock

SHA = "3f2c1ab9d4e5f60718293a4b5c6d7e8f90a1b2c3"
OTHER_SHA = "aaaabbbbccccddddeeeeffff0000111122223333"
PROJECT_TOKEN = "project-token-123"
ACCOUNT_TOKEN = "account-token-456"


# --- fakes -----------------------------------------------------------------------------------


@pytest.fixture
def railway() -> Iterator[FakeRailway]:
    with FakeRailway(project_tokens={PROJECT_TOKEN}, bearer_tokens={ACCOUNT_TOKEN}) as fake:
        yield fake


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        yield client


@dataclass(frozen=True)
class _Fix:
    fix_id: str = "fix_20261020_023300"
    commit_sha: str = SHA


def _service(railway: FakeRailway, **ids: str) -> ServiceSettings:
    target = RailwayTarget(
        endpoint=railway.url, **{"project_id": "p-1", "environment_id": "e-1", "service_id": "s-1", **ids}
    )
    return ServiceSettings(name="api", source="file:app.log", repo="/tmp/r.git", railway=target)


def _list_calls(railway: FakeRailway) -> int:
    return sum(1 for r in railway.requests if r.json().get("operationName") == "Deployments")


APPLY = ApplySettings(deploy_timeout_seconds=600, deploy_poll_seconds=10)
PROJECT = Secrets(railway_token=SecretStr(PROJECT_TOKEN))
ACCOUNT = Secrets(railway_api_token=SecretStr(ACCOUNT_TOKEN))


def _watch(
    railway: FakeRailway, http: httpx.Client, clock: FakeClock, **kwargs: Any
) -> tuple[DeployOutcome, list[str]]:
    seen: list[str] = []
    outcome = watch_deploy(
        kwargs.pop("fix", _Fix()),
        kwargs.pop("service", _service(railway)),
        kwargs.pop("apply", APPLY),
        kwargs.pop("secrets", PROJECT),
        http,
        progress=seen.append,
        sleep=clock.sleep,
        clock=clock,
        wall_clock=lambda: 1_800_000_000.0,
    )
    return outcome, seen


# --- the watcher against the fake server --------------------------------------------------------


def test_commit_is_found_after_a_few_polls(railway: FakeRailway, http: httpx.Client) -> None:
    """A deployment that Railway starts during the second wait is found on the third list query."""
    railway.add_deployment("d-8", ["SUCCESS"], commit=OTHER_SHA)
    clock = FakeClock()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if len(clock.sleeps) == 2:  # Railway picks the push up while the watcher waits
            railway.add_deployment("d-9", ["QUEUED"], commit=SHA)

    client = RailwayClient(http, endpoint=railway.url, headers=auth_headers(PROJECT), sleep=sleep)
    found = wait_for_deployment(
        client,
        _service(railway).railway,
        SHA,
        deadline=600,
        poll_seconds=10,
        progress=lambda _: None,
        clock=clock,
        sleep=sleep,
    )

    assert found is not None
    assert ("d-9", "QUEUED") == (found.id, found.status)
    assert [10, 10] == clock.sleeps
    assert 3 == _list_calls(railway)


def test_full_status_sequence_reaches_success(railway: FakeRailway, http: httpx.Client) -> None:
    """QUEUED → BUILDING → DEPLOYING → SUCCESS is reported once per change and ends in SUCCESS."""
    railway.add_deployment(
        "d-9", ["QUEUED", "QUEUED", "BUILDING", "BUILDING", "DEPLOYING", "SUCCESS"], commit=SHA
    )
    clock = FakeClock()

    outcome, seen = _watch(railway, http, clock)

    assert DeployStatus.SUCCESS == outcome.status
    assert "d-9" == outcome.deployment_id
    assert ("QUEUED", "BUILDING", "DEPLOYING", "SUCCESS") == outcome.statuses
    status_lines = [line for line in seen if line.startswith("deployment d-9:")]
    assert ["QUEUED", "BUILDING", "DEPLOYING", "SUCCESS"] == [line.split()[2] for line in status_lines]


@pytest.mark.parametrize("final", ["CRASHED", "FAILED"])
def test_failing_deploy_ends_in_its_status(railway: FakeRailway, http: httpx.Client, final: str) -> None:
    """A deploy that crashes or fails ends with that status and the deployment id."""
    railway.add_deployment("d-9", ["BUILDING", "DEPLOYING", final], commit=SHA)

    outcome, _ = _watch(railway, http, FakeClock())

    assert (DeployStatus(final), "d-9") == (outcome.status, outcome.deployment_id)
    assert final in outcome.detail


def test_sleeping_deploy_is_final_and_counts_as_live(railway: FakeRailway, http: httpx.Client) -> None:
    """SLEEPING ends the watch (as in Railway's CLI) and the fix is treated as deployed."""
    railway.add_deployment("d-9", ["BUILDING", "DEPLOYING", "SLEEPING"], commit=SHA)

    outcome, _ = _watch(railway, http, FakeClock())

    assert DeployStatus.SLEEPING == outcome.status
    assert "asleep" in outcome.detail
    assert ActionKind.MARK_DEPLOYED == decide_after_deploy(outcome, auto_revert=False).kind


def test_needs_approval_is_said_in_words_and_the_watch_goes_on(
    railway: FakeRailway, http: httpx.Client
) -> None:
    """NEEDS_APPROVAL is a wait for a person: the progress says so once, and SUCCESS still ends it."""
    railway.add_deployment("d-9", ["NEEDS_APPROVAL", "NEEDS_APPROVAL", "BUILDING", "SUCCESS"], commit=SHA)

    outcome, seen = _watch(railway, http, FakeClock())

    assert DeployStatus.SUCCESS == outcome.status
    approval = [line for line in seen if "approve" in line]
    assert 1 == len(approval)
    assert "approve this deployment in the dashboard" in approval[0]


def test_fake_railway_refuses_a_status_the_schema_does_not_have(
    railway: FakeRailway, http: httpx.Client
) -> None:
    """The fake answers from Railway's schema: an invented status is an error, not a pass."""
    railway.add_deployment("d-9", ["ACTIVE"], commit=SHA)

    outcome, _ = _watch(railway, http, FakeClock())

    assert DeployStatus.ERROR == outcome.status


def test_deploy_that_never_finishes_times_out(railway: FakeRailway, http: httpx.Client) -> None:
    """A deploy stuck in BUILDING ends as TIMEOUT naming the last status, within the timeout."""
    railway.add_deployment("d-9", ["BUILDING"], commit=SHA)
    clock = FakeClock()

    outcome, _ = _watch(railway, http, clock)

    assert DeployStatus.TIMEOUT == outcome.status
    assert "still BUILDING" in outcome.detail
    assert clock.now <= APPLY.deploy_timeout_seconds


def test_commit_that_never_deploys_times_out(railway: FakeRailway, http: httpx.Client) -> None:
    """With no deployment of the commit, the watcher gives up at the timeout and says why."""
    railway.add_deployment("d-8", ["SUCCESS"], commit=OTHER_SHA)
    clock = FakeClock()

    outcome, _ = _watch(railway, http, clock)

    assert (DeployStatus.TIMEOUT, "") == (outcome.status, outcome.deployment_id)
    assert "no Railway deployment of 3f2c1ab" in outcome.detail
    assert 61 == _list_calls(railway)  # at t = 0, 10, …, 600 s


def test_rate_limited_request_waits_retry_after(railway: FakeRailway, http: httpx.Client) -> None:
    """A 429 with Retry-After: 7 makes the client wait 7 s and retry, and the watch still succeeds."""
    railway.add_deployment("d-9", ["SUCCESS"], commit=SHA)
    railway.fail_next(Failure(429, raw=b"{}", headers={"Retry-After": "7", "X-RateLimit-Remaining": "0"}))
    clock = FakeClock()

    outcome, _ = _watch(railway, http, clock)

    assert DeployStatus.SUCCESS == outcome.status
    assert 7.0 == clock.sleeps[0]


def test_not_authorized_in_a_200_ends_as_error(railway: FakeRailway, http: httpx.Client) -> None:
    """A wrong token ("Not Authorized" in an HTTP 200) ends the watch at once with an ERROR saying so."""
    railway.add_deployment("d-9", ["SUCCESS"], commit=SHA)
    clock = FakeClock()

    outcome, _ = _watch(railway, http, clock, secrets=Secrets(railway_token=SecretStr("wrong")))

    assert DeployStatus.ERROR == outcome.status
    assert "Not Authorized" in outcome.detail
    assert "wrong" not in outcome.detail
    assert [] == clock.sleeps


@pytest.mark.parametrize(
    ("secrets", "header", "value"),
    [
        (PROJECT, "Project-Access-Token", PROJECT_TOKEN),
        (ACCOUNT, "Authorization", f"Bearer {ACCOUNT_TOKEN}"),
        (
            Secrets(railway_token=SecretStr(PROJECT_TOKEN), railway_api_token=SecretStr(ACCOUNT_TOKEN)),
            "Project-Access-Token",
            PROJECT_TOKEN,
        ),
    ],
)
def test_token_goes_in_the_right_header(
    railway: FakeRailway, http: httpx.Client, secrets: Secrets, header: str, value: str
) -> None:
    """A project token is sent as Project-Access-Token, an account token as Bearer; project wins."""
    railway.add_deployment("d-9", ["SUCCESS"], commit=SHA)

    outcome, _ = _watch(railway, http, FakeClock(), secrets=secrets)

    assert DeployStatus.SUCCESS == outcome.status
    sent = railway.requests[0].headers
    assert value == sent[header.lower()]
    other = "authorization" if header == "Project-Access-Token" else "project-access-token"
    assert other not in sent


def test_project_token_scope_fills_missing_ids(http: httpx.Client) -> None:
    """Without project/environment ids, a project token's own scope is asked for and used."""
    with SimulatedRailway() as railway:
        railway.deploy(SHA, ["SUCCESS"])
        service = ServiceSettings(
            name="api",
            source="file:app.log",
            repo="/tmp/r.git",
            railway=railway.target(project_id="", environment_id=""),
        )

        outcome = watch_deploy(
            _Fix(), service, APPLY, railway.secrets(), http, progress=lambda _: None, sleep=FakeClock().sleep
        )
        listed = next(r["body"] for r in railway.requests if r["body"].get("operationName") == "Deployments")

    assert DeployStatus.SUCCESS == outcome.status
    expected = {"projectId": "p-demo", "environmentId": "e-demo", "serviceId": "s-demo"}
    assert expected == listed["variables"]["input"]


def test_account_token_without_ids_is_a_configuration_error(railway: FakeRailway, http: httpx.Client) -> None:
    """An account token cannot infer the project: the outcome says which keys to set."""
    service = _service(railway, project_id="", environment_id="")

    outcome, _ = _watch(railway, http, FakeClock(), service=service, secrets=ACCOUNT)

    assert DeployStatus.ERROR == outcome.status
    assert "project_id and environment_id" in outcome.detail


def test_nothing_configured_is_unwatched(http: httpx.Client) -> None:
    """Without a Railway target or a health URL the deploy is not followed, and the outcome says how to."""
    service = ServiceSettings(name="api", source="file:a.log", repo="/tmp/r.git")

    outcome = watch_deploy(
        _Fix(), service, APPLY, Secrets(), http, progress=lambda _: None, sleep=FakeClock().sleep
    )

    assert DeployStatus.UNWATCHED == outcome.status
    assert "health_url" in outcome.detail


def test_find_prefers_the_newest_deployment_of_the_commit(railway: FakeRailway, http: httpx.Client) -> None:
    """A redeploy of the same commit is a newer deployment; that one is followed."""
    railway.add_deployment("d-1", ["CRASHED"], commit=SHA)
    railway.add_deployment("d-2", ["BUILDING"], commit=SHA[:7].upper())
    client = RailwayClient(http, endpoint=railway.url, headers=auth_headers(ACCOUNT))

    found = find_deployment_for_commit(client, _service(railway).railway, SHA)

    assert found is not None
    assert "d-2" == found.id


def test_railway_outage_during_the_watch_is_ridden_out(railway: FakeRailway, http: httpx.Client) -> None:
    """Four 502s in a row (the client gives up) are reported and the next poll carries on to SUCCESS."""
    railway.add_deployment("d-9", ["BUILDING", "SUCCESS"], commit=SHA)
    clock = FakeClock()
    client = RailwayClient(http, endpoint=railway.url, headers=auth_headers(PROJECT), sleep=clock.sleep)
    seen: list[str] = []
    railway.fail_next(Failure(502))  # the list query retries once, then succeeds
    target = _service(railway).railway
    found = wait_for_deployment(
        client,
        target,
        SHA,
        deadline=600,
        poll_seconds=10,
        progress=seen.append,
        clock=clock,
        sleep=clock.sleep,
    )
    assert found is not None
    for _ in range(4):
        railway.fail_next(Failure(502))

    outcome = follow_deployment(
        client, found.id, deadline=600, poll_seconds=10, progress=seen.append, clock=clock, sleep=clock.sleep
    )

    assert DeployStatus.SUCCESS == outcome.status
    assert 1 == sum("Railway is not answering" in line for line in seen)


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ({"id": "d-1", "status": "SUCCESS", "meta": {"commitHash": "abc1234"}}, "abc1234"),
        ({"id": "d-1", "status": "SUCCESS", "meta": json.dumps({"commitHash": "abc1234"})}, "abc1234"),
        ({"id": "d-1", "status": "SUCCESS", "meta": "not json"}, ""),
        ({"id": "d-1", "status": "SUCCESS", "meta": None}, ""),
        ({"id": "d-1", "status": "SUCCESS"}, ""),
    ],
)
def test_commit_hash_is_read_from_meta(node: dict[str, Any], expected: str) -> None:
    """meta is a JSON scalar: an object, a JSON-encoded string, junk or missing all parse."""
    assert expected == Deployment.from_node(node).commit_hash


# --- health URL ------------------------------------------------------------------------------


class _Health:
    """A local health endpoint answering a scripted list of (status, body), repeating the last."""

    def __init__(self, answers: list[tuple[int, str]]) -> None:
        answers_ = list(answers)

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                status, body = answers_.pop(0) if len(answers_) > 1 else answers_[0]
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _health_watch(answers: list[tuple[int, str]], http: httpx.Client, clock: FakeClock) -> DeployOutcome:
    health = _Health(answers)
    try:
        service = ServiceSettings(name="api", source="file:a.log", repo="/tmp/r.git", health_url=health.url)
        return watch_deploy(
            _Fix(), service, APPLY, Secrets(), http, progress=lambda _: None, sleep=clock.sleep, clock=clock
        )
    finally:
        health.close()


def test_health_url_succeeds_once_the_new_commit_answers(http: httpx.Client) -> None:
    """503, then the old version, then 200 reporting the pushed commit: SUCCESS after three polls."""
    clock = FakeClock()
    answers = [
        (503, "starting"),
        (200, json.dumps({"commit": OTHER_SHA})),
        (200, json.dumps({"commit": SHA[:12]})),
    ]

    outcome = _health_watch(answers, http, clock)

    assert DeployStatus.SUCCESS == outcome.status
    assert "reports 3f2c1ab" in outcome.detail
    assert [10, 10] == clock.sleeps


def test_health_url_without_a_commit_succeeds_with_a_caveat(http: httpx.Client) -> None:
    """A plain 200 counts as healthy, and the detail says the version was not confirmed."""
    outcome = _health_watch([(200, "ok")], http, FakeClock())

    assert DeployStatus.SUCCESS == outcome.status
    assert "does not report a commit" in outcome.detail


def test_unhealthy_url_times_out(http: httpx.Client) -> None:
    """A health URL that keeps answering 503 ends as TIMEOUT naming the last answer."""
    clock = FakeClock()

    outcome = _health_watch([(503, "down")], http, clock)

    assert DeployStatus.TIMEOUT == outcome.status
    assert "last: HTTP 503" in outcome.detail
    assert clock.now <= APPLY.deploy_timeout_seconds


# --- pure rules ------------------------------------------------------------------------------


@given(sha=st.text(alphabet="0123456789abcdef", min_size=40, max_size=40), cut=st.integers(7, 40))
def test_any_prefix_of_seven_or_more_matches(sha: str, cut: int) -> None:
    """A commit matches any prefix of itself of at least 7 characters, in either case and direction."""
    assert commit_matches(sha[:cut].upper(), sha)
    assert commit_matches(sha, sha[:cut])


@given(sha=st.text(alphabet="0123456789abcdef", min_size=40, max_size=40), cut=st.integers(0, 6))
def test_short_or_empty_hashes_never_match(sha: str, cut: int) -> None:
    """Hashes shorter than 7 characters (or empty meta) never match anything."""
    assert not commit_matches(sha[:cut], sha)


def test_different_commits_do_not_match() -> None:
    """Two different commits do not match even when they share a short prefix."""
    assert not commit_matches("3f2c1ab0000", SHA)


@pytest.mark.parametrize(
    ("status", "auto", "kind", "target", "offer", "now"),
    [
        (DeployStatus.SUCCESS, False, ActionKind.MARK_DEPLOYED, ProposalStatus.DEPLOYED, False, False),
        (DeployStatus.CRASHED, False, ActionKind.OFFER_REVERT, ProposalStatus.DEPLOY_FAILED, True, False),
        (DeployStatus.FAILED, False, ActionKind.OFFER_REVERT, ProposalStatus.DEPLOY_FAILED, True, False),
        (DeployStatus.CRASHED, True, ActionKind.AUTO_REVERT, ProposalStatus.DEPLOY_FAILED, False, True),
        (DeployStatus.FAILED, True, ActionKind.AUTO_REVERT, ProposalStatus.DEPLOY_FAILED, False, True),
        (DeployStatus.SKIPPED, True, ActionKind.OFFER_REVERT, ProposalStatus.DEPLOY_FAILED, True, False),
        (DeployStatus.REMOVED, True, ActionKind.NOTE, None, False, False),
        (DeployStatus.TIMEOUT, True, ActionKind.NOTE, None, False, False),
        (DeployStatus.ERROR, False, ActionKind.NOTE, None, False, False),
        (DeployStatus.UNWATCHED, False, ActionKind.NOTE, None, False, False),
    ],
)
def test_decide_after_deploy(  # noqa: PLR0917 - one parameter per table column
    status: DeployStatus, auto: bool, kind: ActionKind, target: ProposalStatus | None, offer: bool, now: bool
) -> None:
    """Each outcome maps to one action; only FAILED/CRASHED revert automatically, and only when configured."""
    action = decide_after_deploy(DeployOutcome(status, "d-9", "details"), auto)

    assert (kind, target, offer, now) == (action.kind, action.status, action.offer_revert, action.revert_now)
    assert action.start_verification is (status is DeployStatus.SUCCESS)
    assert "details" in action.message


# --- database edge ---------------------------------------------------------------------------


def _pushed_proposal(session: Session, *, count: int = 5) -> str:
    moment = datetime(2026, 10, 20, 2, 30, tzinfo=UTC)
    incident = Incident(
        service="api",
        fingerprint="fp-keyerror",
        kind="error_pattern",
        severity="high",
        title="KeyError",
        count=count,
        first_seen=moment,
        last_seen=moment,
    )
    session.add(incident)
    session.flush()
    proposal = create_proposal(
        session, service="api", incident_id=incident.id, status="pushed", commit_sha=SHA, now=moment
    )
    return proposal.fix_id


def test_success_is_recorded_with_verification_window(sessions: sessionmaker[Session]) -> None:
    """SUCCESS moves pushed → deployed with deploy id, verify_until and the incident count as evidence."""
    with sessions.begin() as session:
        fix_id = _pushed_proposal(session)
    outcome = DeployOutcome(DeployStatus.SUCCESS, "d-9", "live", ("BUILDING", "SUCCESS"))
    now = datetime(2026, 10, 20, 8, 3, tzinfo=UTC)

    with sessions.begin() as session:
        result = record_deploy_outcome(
            session, fix_id, outcome, decide_after_deploy(outcome, False), verify_window_seconds=1800, now=now
        )

    assert result is not None
    assert result.changed
    with sessions.begin() as session:
        proposal = get_proposal(session, fix_id)
        assert ("deployed", "d-9", "SUCCESS", "deployed") == (
            proposal.status,
            proposal.deploy_id,
            proposal.deploy_status,
            proposal.outcome,
        )
        assert now + timedelta(seconds=1800) == proposal.verify_until
        event = session.scalars(select(AuditEvent).where(AuditEvent.to_status == "deployed")).one()
        assert 5 == event.detail["incident_count"]


def test_crash_is_recorded_as_deploy_failed(sessions: sessionmaker[Session]) -> None:
    """CRASHED moves pushed → deploy_failed; a note-only outcome changes nothing."""
    with sessions.begin() as session:
        fix_id = _pushed_proposal(session)
        timeout = DeployOutcome(DeployStatus.TIMEOUT, "", "slow")
        assert (
            record_deploy_outcome(
                session, fix_id, timeout, decide_after_deploy(timeout, False), verify_window_seconds=60
            )
            is None
        )
        crashed = DeployOutcome(DeployStatus.CRASHED, "d-9", "boom")
        record_deploy_outcome(
            session, fix_id, crashed, decide_after_deploy(crashed, True), verify_window_seconds=60
        )

    with sessions.begin() as session:
        proposal = get_proposal(session, fix_id)
        assert ("deploy_failed", "CRASHED") == (proposal.status, proposal.deploy_status)
