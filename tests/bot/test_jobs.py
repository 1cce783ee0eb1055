"""The jobs' edges over a real database: verification rounds that overlap (two bot instances)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy.orm import Session, sessionmaker

from bot.jobs import JobContext, verify_due_fixes
from core.settings import ApplySettings, Settings
from core.store.proposals import get_proposal
from tests.fixes.deployed import DEPLOYED, WINDOW, deployed_fix


def _context(sessions: sessionmaker[Session]) -> JobContext:
    settings = Settings(
        config_path=None, data_dir=Path("/tmp"), apply=ApplySettings(verify_window_seconds=WINDOW)
    )
    return JobContext(
        settings=settings,
        sessions=sessions,
        http=httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(500))),
        now=lambda: DEPLOYED + timedelta(seconds=WINDOW + 1),
    )


def test_overlapping_verification_rounds_decide_and_notify_each_fix_once(
    sessions: sessionmaker[Session],
) -> None:
    """A fix another round decided after this round listed it is skipped: no crash, no second notice."""
    with sessions.begin() as session:
        first = deployed_fix(session, "fp-first")[0]
        second = deployed_fix(session, "fp-second")[0]
    ctx = _context(sessions)
    notices: list[str] = []

    def other_instance(fix_id: str, text: str) -> None:
        notices.append(fix_id)

    def this_instance(fix_id: str, text: str) -> None:
        notices.append(fix_id)
        if len(notices) == 1:  # the other instance's round runs while this one is between fixes
            verify_due_fixes(ctx, other_instance)

    decided = verify_due_fixes(ctx, this_instance)

    ctx.http.close()

    assert ["fp-first"] == [result.fingerprint for result in decided]
    assert sorted([first, second]) == sorted(notices)
    with sessions() as session:
        assert ["verified", "verified"] == [get_proposal(session, f).status for f in (first, second)]


def test_scan_without_a_model_reports_incidents_and_applies_playbooks(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    """No model: the recurring traceback is reported with the reason; the truncation gets a playbook fix."""
    from bot.demo.sample_service import SAMPLE_LOG_FORMAT, create_sample_service, produce_logs
    from bot.jobs import scan_and_propose
    from core.settings import load_settings
    from core.store.proposals import list_proposals

    sample = create_sample_service(tmp_path / "shop")
    produce_logs(sample, runs=2)
    config = tmp_path / "agent.toml"
    config.write_text(
        f"""
[[services]]
name = "shop"
source = "file:{sample.log_path}"
log_format = "{SAMPLE_LOG_FORMAT}"
repo = "{sample.remote}"
validation_command = "{sample.validation_command}"
python = "{sample.interpreter}"
"""
    )
    settings = load_settings(config, environ={})
    assert not settings.llm_enabled
    http = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(500)))
    context = JobContext(settings=settings, sessions=sessions, http=http)

    incidents = scan_and_propose(context, "shop", lambda line: None)

    with sessions() as session:
        proposals = {p.incident_id: p for p in list_proposals(session, service="shop")}
    kinds = {incident.id: incident for incident in incidents}
    keyerror = next(i for i in incidents if i.details.get("exception_type") == "KeyError")
    report = proposals[keyerror.id]
    assert ("report", "", "") == (report.origin, report.diff, report.approver)
    assert "no language model configured ([llm] model is empty)" == report.no_fix_reason
    truncation = next(i for i in incidents if "truncated at max_tokens" in i.title)
    playbook = proposals[truncation.id]
    assert ("playbook", "passed") == (playbook.origin, playbook.validation_status)
    assert (
        "+def summarize_reviews(sku: str, reviews: list[str], max_tokens: int = 512) -> str:" in playbook.diff
    )
    assert set(kinds) == set(proposals)
