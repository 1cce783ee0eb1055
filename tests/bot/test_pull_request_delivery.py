"""Pull-request delivery in the bot: the `merge` command, the PR line and Merge button, the webhook,
and the runtime's loop (implement → PR → checks green → merge → deploy watch) against the fake GitHub.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from bot import commands as cmd
from bot.github_webhook import github_webhook_route
from bot.render.blocks import ACTION_MERGE, proposal_message, status_line
from bot.render.views import ProposalView, PullRequestView
from bot.runtime import Runtime, build_runtime
from core.store.proposals import get_proposal
from fixes.delivery.pull_request import branch_name
from fixes.delivery.webhook import fix_id_of_event, sign, verify_signature
from tests.bot.cli.test_cli import agent
from tests.fakes.github import FakeGitHub
from tests.fixes.pr_support import TOKEN, pr_settings
from tests.fixes.sample import FIX_EDIT, SampleRepo, make_sample

FIX = "fix_20261020_023300"


def test_merge_is_parsed_with_or_without_the_fix_id() -> None:
    """`merge fix_…` names the fix; a bare `merge` takes it from the thread later."""
    assert cmd.Merge(FIX) == cmd.parse_command(f"<@U0BOT> merge *{FIX}*")
    assert cmd.Merge(None) == cmd.parse_command("@Agent merge")
    assert isinstance(cmd.parse_command("merge now please"), cmd.Unknown)


def _view(**pull: object) -> ProposalView:
    values: dict[str, object] = {
        "kind": "fix",
        "number": 7,
        "url": "https://github.com/acme/api/pull/7",
        "state": "open",
        "draft": False,
        "checks": "passing",
        "review": "approved",
        "mergeable": "clean",
        "head_changed": False,
    }
    values.update(pull)
    return ProposalView(
        fix_id=FIX,
        service="api",
        status="pr_open",
        severity="high",
        summary="guard None",
        root_cause="",
        risk="",
        diff="--- a/x\n+++ b/x\n",
        validation_status="passed",
        validation_output="",
        approver="U0ALICE",
        pull_request=PullRequestView(**values),  # type: ignore[arg-type]
    )


def _action_ids(view: ProposalView) -> list[str]:
    blocks = proposal_message(view).as_kwargs()["blocks"]
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_the_proposal_shows_the_pull_request_and_offers_merge_only_when_it_is_ready() -> None:
    """The status line links the PR with checks and review; the Merge button needs green checks."""
    ready = _view()
    line = status_line(ready)
    assert "<https://github.com/acme/api/pull/7|#7>" in line
    assert "checks :white_check_mark: passing" in line
    assert "review approved" in line
    assert [ACTION_MERGE] == _action_ids(ready)
    assert [] == _action_ids(_view(checks="pending"))
    moved = _view(head_changed=True)
    assert [] == _action_ids(moved)
    assert "branch changed after approval" in status_line(moved)


def _post(app: object, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
            return await client.post("/github/webhook", content=body, headers=headers)

    return asyncio.run(call())


def test_the_webhook_accepts_only_signed_deliveries_and_follows_the_named_fix() -> None:
    """A bad signature is 401 and ignored; a signed pull_request event hands its fix id over."""
    from starlette.applications import Starlette

    seen: list[str] = []
    app = Starlette(routes=[github_webhook_route(secret="s3cret", on_fix=seen.append)])
    body = json.dumps({"action": "synchronize", "pull_request": {"head": {"ref": f"fixbot/{FIX}"}}}).encode()

    forged = _post(app, body, {"X-Hub-Signature-256": sign("other", body), "X-GitHub-Event": "pull_request"})
    signed = _post(app, body, {"X-Hub-Signature-256": sign("s3cret", body), "X-GitHub-Event": "pull_request"})

    assert (401, 202) == (forged.status_code, signed.status_code)
    assert [FIX] == seen


@given(st.binary(max_size=200), st.binary(min_size=1, max_size=20))
def test_a_tampered_body_never_verifies(body: bytes, extra: bytes) -> None:
    """The signature binds the exact bytes: anything appended fails, the original passes."""
    header = sign("k", body)
    assert verify_signature("k", body, header)
    assert not verify_signature("k", body + extra, header)
    assert not verify_signature("", body, header)


def test_events_name_fixes_only_through_fixbot_branches() -> None:
    """check_run, status and review events map to the fix of their fixbot/ branch; others to None."""
    assert FIX == fix_id_of_event(
        "check_run", {"check_run": {"check_suite": {"head_branch": f"fixbot/{FIX}"}}}
    )
    assert FIX == fix_id_of_event(
        "status", {"branches": [{"name": "main"}, {"name": f"fixbot/revert-{FIX}"}]}
    )
    assert fix_id_of_event("pull_request", {"pull_request": {"head": {"ref": "feature/x"}}}) is None
    assert fix_id_of_event("push", {}) is None


@pytest.fixture
def sample(tmp_path: Path) -> SampleRepo:
    return make_sample(tmp_path / "sample")


@pytest.fixture
def github(sample: SampleRepo) -> Iterator[FakeGitHub]:
    with FakeGitHub(sample.remote) as fake:
        fake.required_checks = True
        yield fake


@pytest.fixture
def runtime(
    tmp_path: Path, sample: SampleRepo, github: FakeGitHub, sqlite_engine: Engine
) -> Iterator[Runtime]:
    settings = pr_settings(tmp_path / "data", str(sample.remote), github.url)
    built = build_runtime(
        settings, engine=sqlite_engine, terminal=True, out=io.StringIO(), watch_deploys=False
    )
    yield built
    built.stop(wait=True)


def test_implement_opens_a_pull_request_that_merges_from_chat_once_checks_pass(
    runtime: Runtime, sample: SampleRepo, github: FakeGitHub
) -> None:
    """implement → PR → checks pending (merge refused) → green → `merge` → pushed at the merge commit."""
    fix_id = sample.propose(runtime.sessions, [FIX_EDIT], approve_as=None)
    ops = runtime.operations

    assert ops.handle(cmd.Implement(fix_id), "U0LOCALOPS").ok
    assert ops.wait_idle(120)
    head = github.head_of(branch_name(fix_id))
    github.add_check_run(head, "tests", status="in_progress", conclusion=None)
    runtime.follow_pull_requests()
    view = ops.view(fix_id)
    assert view is not None
    assert view.pull_request is not None
    assert ("pr_open", "pending") == (view.status, view.pull_request.checks)

    assert not ops.handle(cmd.Merge(fix_id), "U0STRANGER").ok  # not an approver
    assert ops.handle(cmd.Merge(fix_id), "U0LOCALOPS").ok
    assert ops.wait_idle(60)
    with runtime.sessions() as session:
        assert "pr_open" == get_proposal(session, fix_id).status  # GitHub said 405: checks pending

    github.add_check_run(head, "tests")
    runtime.follow_pull_requests()
    assert ops.handle(cmd.Merge(fix_id), "U0LOCALOPS").ok
    assert ops.wait_idle(60)

    with runtime.sessions() as session:
        proposal = get_proposal(session, fix_id)
        assert ("pushed", sample.remote_head()) == (proposal.status, proposal.commit_sha)
    assert "return 0.0" in sample.read_remote("calc/ops.py")


def test_config_check_names_missing_token_permissions(
    tmp_path: Path, sample: SampleRepo, github: FakeGitHub
) -> None:
    """`agent config check` probes GitHub for pull-request services and exits 1 naming what is missing."""
    # The repository, log file and test runner are reachable, so only GitHub's answer decides.
    (tmp_path / "service.log").write_text("2026-10-20 INFO started\n")
    (tmp_path / "agent.toml").write_text(
        f"""
[[services]]
name = "api"
source = "file:service.log"
repo = "{sample.remote}"
validation_command = "{sys.executable} -m pytest -q"
delivery = "pull_request"

[services.pull_request]
api_url = "{github.url}"
repository = "acme/sample"
"""
    )
    ok = agent(tmp_path, "config", "check", GIT_TOKEN=TOKEN)
    github.denied = {"statuses"}
    refused = agent(tmp_path, "config", "check", GIT_TOKEN=TOKEN)
    unauthenticated = agent(tmp_path, "config", "check")

    assert 0 == ok.returncode, ok.stderr
    assert 1 == refused.returncode
    assert "service api: acme/sample: commit statuses: read is missing" in refused.stderr
    assert "Bad credentials" in unauthenticated.stderr
