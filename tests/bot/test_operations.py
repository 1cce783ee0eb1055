"""Operations with in-memory implementations of its Protocols, on a real database."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bot.commands import parse_command
from bot.operations import Operations, Origin
from bot.status import PipelineBreaker
from core.settings import Settings
from core.store.db import make_session_factory
from core.store.lifecycle import ProposalStatus, transition
from core.store.models import AuditEvent, Incident
from core.store.proposals import get_proposal
from fixes.apply.breaker import record_apply_result
from tests.bot.slack.conftest import ALICE, MALLORY, FakePipeline, add_proposal, make_settings


@dataclass
class RecordingNotifier:
    lines: list[tuple[str, str]] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    said: list[str] = field(default_factory=list)

    def progress(self, fix_id: str, line: str) -> None:
        self.lines.append((fix_id, line))

    def proposal_changed(self, fix_id: str) -> None:
        self.changed.append(fix_id)

    def say(self, origin: Origin | None, text: str) -> None:
        self.said.append(text)

    def new_proposals(self) -> None:
        self.said.append("<new proposals>")


@dataclass
class World:
    operations: Operations
    pipeline: FakePipeline
    notifier: RecordingNotifier
    sessions: sessionmaker[Session]
    executor: ThreadPoolExecutor

    def run(self, text: str, actor: str = ALICE) -> Any:
        reply = self.operations.handle(parse_command(text), actor)
        self.executor.submit(lambda: None).result(10)
        return reply


def _trip_breaker(session: Session, settings: Settings) -> None:
    """Fail applies the way the pipeline records them, until the breaker opens."""
    for number in range(settings.apply.breaker_threshold):
        record_apply_result(
            session, "api", ok=False, fix_id=f"fix_x_{number}", threshold=settings.apply.breaker_threshold
        )


def _world(sessions: sessionmaker[Session], settings: Settings) -> World:
    pipeline = FakePipeline(sessions)
    notifier = RecordingNotifier()
    executor = ThreadPoolExecutor(1)
    operations = Operations(
        settings,
        sessions,
        executor,
        pipeline.apply,
        pipeline.revert,
        pipeline.scan,
        notifier,
        breaker=PipelineBreaker(sessions, settings),
    )
    return World(operations, pipeline, notifier, sessions, executor)


@pytest.fixture
def world(sqlite_engine: Engine) -> World:
    return _world(make_session_factory(sqlite_engine), make_settings())


def test_no_approvers_means_nobody_can_implement(sqlite_engine: Engine) -> None:
    """With no approvers configured, implement is refused for everyone and status says why."""
    base = make_settings()
    service = base.services[0].model_copy(update={"approvers": (), "approver_groups": ()})
    settings = Settings(**{**base.__dict__, "services": (service,)})
    world = _world(make_session_factory(sqlite_engine), settings)
    fix_id = add_proposal(world.sessions)
    reply = world.run(f"implement {fix_id}")
    assert (False, True) == (reply.ok, reply.private)
    assert "nobody can implement fixes for service api: no approvers configured" in reply.text
    assert [] == world.pipeline.applied
    status = world.run("status").status
    assert status.approvers_configured is False
    assert status.problems[0].startswith("nobody can implement fixes for api")


def test_implement_runs_on_the_pool_and_reports_progress(world: World) -> None:
    """Implement approves at once, applies on the executor and reports each step."""
    fix_id = add_proposal(world.sessions)
    reply = world.run(f"implement {fix_id}")
    assert reply.ok
    assert [fix_id] == world.pipeline.applied
    lines = [line for fid, line in world.notifier.lines if fid == fix_id]
    assert ["applying…", "validating… tests 12 s", "pushed abc1234"] == lines[:3]
    assert ":white_check_mark: pushed abc1234def: deploy will follow" == lines[-1]
    with world.sessions() as session:
        proposal = get_proposal(session, fix_id)
    assert (ALICE, "pushed") == (proposal.approver, proposal.status)


def test_second_implement_is_told_who_applied(world: World) -> None:
    """A later implement of the same fix is a private no-op naming the first approver."""
    fix_id = add_proposal(world.sessions)
    world.run(f"implement {fix_id}")
    reply = world.run(f"implement {fix_id}", actor="UBOB")
    assert f"`{fix_id}` was already approved by <@{ALICE}> (now pushed)." == reply.text
    assert [fix_id] == world.pipeline.applied


def test_unknown_option_is_explained(world: World) -> None:
    """Asking for an option that does not exist says how many there are."""
    fix_id = add_proposal(world.sessions)
    reply = world.run(f"implement {fix_id} option 3")
    assert f"{fix_id} has 1 option(s); option 3 does not exist." == reply.text


def test_apply_crash_marks_failed_and_reports_a_reference(world: World) -> None:
    """When the apply callable raises, the proposal is failed and the thread gets a reference id."""

    def boom(fix_id: str, progress: Any) -> Any:
        raise RuntimeError("disk full")

    world.operations.apply_fix = boom
    fix_id = add_proposal(world.sessions)
    world.run(f"implement {fix_id}")
    with world.sessions() as session:
        proposal = get_proposal(session, fix_id)
    assert ("failed", "crash", "RuntimeError: disk full") == (
        proposal.status,
        proposal.failed_step,
        proposal.failure_reason,
    )
    assert "crashed (ref " in world.notifier.lines[-1][1]


def test_open_breaker_refuses_and_resume_reopens(world: World) -> None:
    """While the breaker is open implement is refused; an approver's `resume` closes it."""
    with world.sessions.begin() as session:
        _trip_breaker(session, world.operations.settings)
    fix_id = add_proposal(world.sessions)
    refused = world.run(f"implement {fix_id}")
    assert "applies are paused: 3 consecutive failed applies of api" in refused.text
    assert "<@UMALLORY> is not an approver for any service" in world.run("resume", actor=MALLORY).text
    assert world.operations.breaker is not None
    assert (True, "3 consecutive failed applies of api") == world.operations.breaker.state()
    assert ":arrow_forward: Applies re-opened." == world.run("resume").text
    assert world.run(f"implement {fix_id}").ok


def test_reject_and_refusals_are_audited(world: World) -> None:
    """Reject records who and why; a refused revert leaves an audit row."""
    fix_id = add_proposal(world.sessions)
    assert world.run(f"reject {fix_id} wrong file", actor=MALLORY).ok
    world.run(f"revert {fix_id}", actor=MALLORY)
    with world.sessions() as session:
        proposal = get_proposal(session, fix_id)
        refused = session.scalars(select(AuditEvent).where(AuditEvent.action == "refused")).all()
    assert ("rejected", MALLORY, "wrong file") == (
        proposal.status,
        proposal.rejected_by,
        proposal.reject_reason,
    )
    assert ["revert"] == [row.detail["command"] for row in refused]


def test_revert_only_after_a_push(world: World) -> None:
    """Revert of a proposed fix is refused; of a pushed one it runs the revert callable."""
    fix_id = add_proposal(world.sessions)
    assert "only a pushed fix can be reverted" in world.run(f"revert {fix_id}").text
    with world.sessions.begin() as session:
        transition(session, fix_id, ProposalStatus.APPROVED, actor=ALICE)
        transition(session, fix_id, ProposalStatus.APPLYING, actor="bot")
        transition(session, fix_id, ProposalStatus.PUSHED, actor="bot")
    assert world.run(f"revert {fix_id}").ok
    assert [fix_id] == world.pipeline.reverted


def test_snooze_and_resume_an_incident(world: World) -> None:
    """Snooze by fix id silences its incident; resume by incident id reopens it."""
    fix_id = add_proposal(world.sessions)
    assert world.run(f"snooze {fix_id} 2h").ok
    with world.sessions() as session:
        incident_id = get_proposal(session, fix_id).incident_id
        incident = session.get(Incident, incident_id)
        assert incident is not None
        assert "snoozed" == incident.status
    assert world.run(f"resume {incident_id}").ok
    with world.sessions() as session:
        assert "open" == session.get(Incident, incident_id).status  # type: ignore[union-attr]


def test_scan_checks_the_service_and_reports_back(world: World) -> None:
    """An unknown service is refused with the known names; a known one is scanned on the pool."""
    assert "No service named `web` (known: api)." == world.run("scan web").text
    world.run("scan")
    assert ["api"] == world.pipeline.scanned
    assert "Scan of api finished: nothing new." in world.notifier.said


def test_show_and_list(world: World) -> None:
    """Show returns the proposal view; list the open ones; an unknown id says how to find one."""
    fix_id = add_proposal(world.sessions)
    assert fix_id == world.run(f"show {fix_id}").proposal.fix_id
    assert [fix_id] == [v.fix_id for v in world.run("list").proposals]
    assert "No proposal `fix_20000101_000000`" in world.run("show fix_20000101_000000").text


def test_breaker_health_reports_but_stays_healthy(world: World) -> None:
    """/health shows an open breaker without turning the process unhealthy."""
    from bot.status import breaker_health

    assert world.operations.breaker is not None
    assert "ok" == breaker_health(world.operations.breaker)
    with world.sessions.begin() as session:
        _trip_breaker(session, world.operations.settings)
    assert (
        "ok (applies paused: 3 consecutive failed applies of api; an approver can say `resume`)"
        == breaker_health(world.operations.breaker)
    )
