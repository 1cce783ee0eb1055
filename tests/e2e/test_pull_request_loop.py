"""The loop in pull-request mode: scan → proposal → implement → PR → green → merge → deploy → verified."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.demo.sample_service import SampleService, produce_logs, pull_latest
from fixes.delivery.pull_request import branch_name
from tests.e2e.conftest import World, running_world
from tests.fakes.github import FakeGitHub

COUPON_FIX = "COUPONS.get("
SUCCESS = ["QUEUED", "BUILDING", "DEPLOYING", "SUCCESS"]
TOKEN = "ghp-e2e-token"


@pytest.fixture
def pr_world(tmp_path: Path, engine: Engine) -> Iterator[tuple[World, FakeGitHub]]:
    fakes: list[FakeGitHub] = []

    def configure(sample: SampleService, stack: ExitStack) -> tuple[str, dict[str, str]]:
        github = stack.enter_context(FakeGitHub(sample.remote, repository="acme/shop", tokens={TOKEN}))
        github.required_checks = True
        fakes.append(github)
        q = json.dumps
        table = f'{{ api_url = {q(github.url)}, repository = "acme/shop" }}'
        lines = f'delivery = "pull_request"\npull_request = {table}\n'
        return lines, {"GIT_TOKEN": TOKEN}

    with running_world(tmp_path, engine, configure=configure) as world:
        yield world, fakes[0]


def test_fix_goes_through_a_pull_request_merged_from_slack_then_deploys_and_verifies(
    pr_world: tuple[World, FakeGitHub],
) -> None:
    """The approved fix waits in a PR until checks pass; `merge` merges it; the merge commit deploys."""
    world, github = pr_world
    initial = world.commits()
    world.scan_now()
    proposal = world.wait_until(lambda: world.proposal_changing(COUPON_FIX), "the coupon fix to be posted")
    fix_id, ts = proposal.fix_id, proposal.slack_ts

    assert 200 == world.mention(f"implement {fix_id}", event_id="EvImplementPR", thread_ts=ts)
    world.wait_until(lambda: world.status_is(fix_id, "pr_open"), f"{fix_id} to open a pull request")
    assert initial[0].sha == world.commits()[0].sha  # nothing on the deploy branch yet
    [pull] = github.pulls.values()
    assert fix_id in pull["title"]
    world.wait_until(lambda: world.updated_to(ts, pull["html_url"]), "the message to link the pull request")

    head = github.head_of(branch_name(fix_id))
    github.add_check_run(head, "ci")
    world.run_job_now("pull_requests")
    world.wait_until(lambda: world.updated_to(ts, "passing"), "the message to show green checks")

    assert 200 == world.mention("merge", event_id="EvMerge", thread_ts=ts)  # fix id from the thread
    world.wait_until(lambda: world.status_is(fix_id, "pushed"), f"{fix_id} to be merged")
    merge_sha = world.commits()[0].sha
    assert merge_sha == world.proposal(fix_id).commit_sha
    assert head == [r for r in github.requests if r.method == "PUT"][-1].json()["sha"]

    world.later(-120)
    world.railway.add_deployment("d-pr", SUCCESS, commit=merge_sha)
    world.wait_until(lambda: world.status_is(fix_id, "deployed"), f"{fix_id} to be deployed")
    world.later(0)

    assert merge_sha == pull_latest(world.sample)
    produce_logs(world.sample, runs=1, first_run=2)
    world.runtime.scan("shop")
    world.later(3600)
    world.run_job_now("housekeeping")
    world.wait_until(lambda: world.thread_line(ts, "Verified"), "the verified line in the thread")
    assert "verified" == world.proposal(fix_id).status
