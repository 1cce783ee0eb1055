"""Follow the deployment of a pushed fix to its end, and decide what the bot does about it.

After a push, Railway auto-deploys the branch. `watch_deploy` finds the deployment whose
`meta.commitHash` is the pushed commit, polls it until a terminal status (SUCCESS, FAILED, CRASHED,
SKIPPED, REMOVED) or the timeout, and reports every status change through `progress`. Services not on
Railway configure `health_url` instead, which is polled until HTTP 200. `decide_after_deploy` is the
pure rule that turns the outcome into an `Action` (mark deployed and start verification, mark
deploy_failed and offer or perform a revert, or leave a note); `record_deploy_outcome` is the
database edge that applies it.

Time is injected (`clock`, `sleep`) so tests drive minutes of polling without waiting. Railway's
errors are the tree in `monitoring.railway_api` (base `RailwayError`); `watch_deploy` never raises them:
an unusable token or endpoint becomes an outcome with status ERROR and a message saying what to fix,
and transient failures (429, 5xx, network) are retried at the next poll until the timeout.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.settings import ApplySettings, RailwayTarget, Secrets, ServiceSettings
from core.store.lifecycle import ProposalStatus, TransitionResult, audit, transition
from core.store.models import Incident, Proposal, utcnow
from monitoring.railway_api import (
    RailwayClient,
    RailwayError,
    RailwayNotConfigured,
    RailwayRateLimited,
    RailwayUnavailable,
    auth_headers,
)

__all__ = [
    "TERMINAL_STATUSES",
    "Action",
    "ActionKind",
    "DeployOutcome",
    "DeployStatus",
    "Deployment",
    "PushedFix",
    "commit_matches",
    "decide_after_deploy",
    "find_deployment_for_commit",
    "follow_deployment",
    "follow_health_url",
    "record_deploy_outcome",
    "wait_for_deployment",
    "watch_deploy",
]


class DeployStatus(StrEnum):
    """Railway's terminal statuses plus the watcher's own endings."""

    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    CRASHED = "CRASHED"
    SKIPPED = "SKIPPED"  # "Wait for CI": a GitHub Actions workflow failed on the commit
    REMOVED = "REMOVED"  # removed before or after going live (e.g. replaced by a newer push)
    SLEEPING = "SLEEPING"  # live, then put to sleep by Serverless (no traffic); final, as for the CLI
    TIMEOUT = "TIMEOUT"  # not terminal within apply.deploy_timeout_seconds
    ERROR = "ERROR"  # the watcher cannot talk to Railway (token, ids, endpoint)
    UNWATCHED = "UNWATCHED"  # neither a Railway target nor a health URL is configured


TERMINAL_STATUSES = frozenset({"SUCCESS", "FAILED", "CRASHED", "SKIPPED", "REMOVED", "SLEEPING"})
# Statuses that wait for a person, said once in plain words instead of a bare enum value.
_WAITING_DETAIL: Mapping[str, str] = {
    "NEEDS_APPROVAL": (
        "waits for approval on Railway (a project member must approve this deployment in the "
        "dashboard before it builds); still watching"
    ),
    "WAITING": "waits for CI ('Wait for CI' is on: GitHub Actions must finish first); still watching",
}

Progress = Callable[[str], None]


class PushedFix(Protocol):
    """What the watcher needs of a proposal (`core.store.models.Proposal` satisfies it)."""

    @property
    def fix_id(self) -> str: ...

    @property
    def commit_sha(self) -> str: ...


@dataclass(frozen=True)
class Deployment:
    """One Railway deployment, as much of it as the watcher uses."""

    id: str
    status: str
    commit_hash: str = ""
    created_at: str = ""
    url: str = ""

    @classmethod
    def from_node(cls, node: Mapping[str, Any]) -> Deployment:
        meta = node.get("meta")
        if isinstance(meta, str):  # `meta` is a JSON scalar; accept it encoded as a string too
            try:
                meta = json.loads(meta)
            except ValueError:
                meta = {}
        commit = meta.get("commitHash", "") if isinstance(meta, dict) else ""
        return cls(
            id=str(node.get("id", "")),
            status=str(node.get("status", "")),
            commit_hash=str(commit or ""),
            created_at=str(node.get("createdAt") or ""),
            url=str(node.get("staticUrl") or node.get("url") or ""),
        )


@dataclass(frozen=True)
class DeployOutcome:
    """How the deploy of a pushed commit ended."""

    status: DeployStatus
    deployment_id: str = ""
    detail: str = ""
    statuses: tuple[str, ...] = field(default=())  # every status seen, in order


class ActionKind(StrEnum):
    MARK_DEPLOYED = "mark_deployed"
    OFFER_REVERT = "offer_revert"
    AUTO_REVERT = "auto_revert"
    NOTE = "note"


@dataclass(frozen=True)
class Action:
    """What to do after the deploy watch; `status` is the lifecycle status to move to, if any."""

    kind: ActionKind
    status: ProposalStatus | None
    message: str
    offer_revert: bool = False
    revert_now: bool = False
    start_verification: bool = False


_MIN_SHA = 7


def commit_matches(candidate: str, commit_sha: str) -> bool:
    """True when two commit ids name the same commit: case-insensitive, one a prefix of the other.

    Both must be at least 7 hex characters, so an empty or short `meta.commitHash` never matches.
    """
    a, b = candidate.strip().lower(), commit_sha.strip().lower()
    if len(a) < _MIN_SHA or len(b) < _MIN_SHA:
        return False
    return a.startswith(b) or b.startswith(a)


def find_deployment_for_commit(
    client: RailwayClient, target: RailwayTarget, commit_sha: str, *, first: int = 20
) -> Deployment | None:
    """The newest of the service's recent deployments built from `commit_sha`, or None."""
    nodes = client.deployments(
        project_id=target.project_id,
        environment_id=target.environment_id,
        service_id=target.service_id,
        first=first,
    )
    matches = [Deployment.from_node(node) for node in nodes]
    matches = [d for d in matches if commit_matches(d.commit_hash, commit_sha)]
    if not matches:
        return None
    # A redeploy of the same commit is a second deployment: the newest one is the live attempt.
    # ISO-8601 UTC timestamps sort as strings; the list order (newest first) breaks ties.
    return max(reversed(matches), key=lambda d: d.created_at)


def _elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


def wait_for_deployment(
    client: RailwayClient,
    target: RailwayTarget,
    commit_sha: str,
    *,
    deadline: float,
    poll_seconds: float,
    progress: Progress,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Deployment | None:
    """Poll the deployment list until one for `commit_sha` appears; None at `deadline`.

    Transient Railway failures are retried at the next poll; `RailwayAuthError`,
    `RailwayQueryError` and `RailwayNotConfigured` propagate (polling cannot fix them).
    """
    short = commit_sha[:_MIN_SHA]
    progress(f"waiting for Railway to start a deployment of {short}")
    while True:
        try:
            found = find_deployment_for_commit(client, target, commit_sha)
        except (RailwayRateLimited, RailwayUnavailable) as exc:
            progress(f"Railway is not answering ({exc}); retrying")
            found = None
        if found is not None:
            progress(f"deployment {found.id} builds {short}")
            return found
        if clock() + poll_seconds > deadline:
            return None
        sleep(poll_seconds)


def follow_deployment(
    client: RailwayClient,
    deployment_id: str,
    *,
    deadline: float,
    poll_seconds: float,
    progress: Progress,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    initial_status: str = "",
) -> DeployOutcome:
    """Poll `deployment(id)` until a terminal status or `deadline`; report each status change.

    Returns an outcome with the terminal status, or TIMEOUT naming the last status seen.
    """
    started = clock()
    seen: list[str] = [initial_status] if initial_status else []
    if initial_status:
        said = _WAITING_DETAIL.get(initial_status, initial_status)
        progress(f"deployment {deployment_id}: {said} ({_elapsed(0)})")
    last = initial_status
    while last not in TERMINAL_STATUSES:
        if clock() + poll_seconds > deadline:
            return DeployOutcome(
                DeployStatus.TIMEOUT,
                deployment_id,
                f"deployment {deployment_id} is still {last or 'unknown'} after "
                f"{_elapsed(clock() - started)}; see the service's Deployments tab on Railway",
                tuple(seen),
            )
        sleep(poll_seconds)
        try:
            node = client.deployment(deployment_id)
        except (RailwayRateLimited, RailwayUnavailable) as exc:
            progress(f"Railway is not answering ({exc}); retrying")
            continue
        status = str(node.get("status", ""))
        if status != last:
            seen.append(status)
            said = _WAITING_DETAIL.get(status, status)
            progress(f"deployment {deployment_id}: {said} ({_elapsed(clock() - started)})")
            last = status
    return DeployOutcome(
        DeployStatus(last), deployment_id, _TERMINAL_DETAIL[last](deployment_id), tuple(seen)
    )


_TERMINAL_DETAIL: Mapping[str, Callable[[str], str]] = {
    "SUCCESS": lambda d: f"deployment {d} is live (SUCCESS)",
    "FAILED": lambda d: f"deployment {d} FAILED (build or healthcheck); its build logs say why",
    "CRASHED": lambda d: f"deployment {d} CRASHED after starting; its deploy logs say why",
    "SKIPPED": lambda d: (
        f"deployment {d} was SKIPPED: with 'Wait for CI' on, a GitHub Actions workflow failed on this commit"
    ),
    "REMOVED": lambda d: (
        f"deployment {d} was REMOVED before it was confirmed live (a newer deployment may have replaced it)"
    ),
    "SLEEPING": lambda d: (
        f"deployment {d} is live and asleep (SLEEPING: Serverless stopped it for lack of traffic; "
        "the next request wakes it)"
    ),
}


def _looks_like_version_key(key: str) -> bool:
    return key.lower() in {"commit", "commit_sha", "commitsha", "sha", "git_sha", "revision", "version"}


def _reported_commit(body: str) -> str:
    """The commit a health endpoint reports in a JSON body (`{"commit": "…"}` and similar), or ""."""
    try:
        payload = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(payload, dict):
        return ""
    for key, value in payload.items():
        if _looks_like_version_key(str(key)) and isinstance(value, str) and len(value.strip()) >= _MIN_SHA:
            return value.strip()
    return ""


def follow_health_url(
    http: httpx.Client,
    url: str,
    *,
    commit_sha: str = "",
    deadline: float,
    poll_seconds: float,
    progress: Progress,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> DeployOutcome:
    """Poll `url` until HTTP 200 (SUCCESS) or `deadline` (TIMEOUT), for services not on Railway.

    A 200 whose JSON body reports a commit (`commit`, `sha`, `revision`, `version`, …) only counts
    when that commit is `commit_sha`: until then the previous version is still answering. A body
    without a commit cannot tell versions apart; the outcome's detail says so.
    """
    started = clock()
    last = ""
    seen: list[str] = []
    while True:
        try:
            response = http.get(url, follow_redirects=True)
            state = f"HTTP {response.status_code}"
            reported = _reported_commit(response.text) if response.status_code == 200 else ""
        except httpx.HTTPError as exc:
            response, state, reported = None, type(exc).__name__, ""
        if response is not None and response.status_code == 200:
            if reported and commit_sha and not commit_matches(reported, commit_sha):
                state = f"HTTP 200, still {reported[:_MIN_SHA]}"
            else:
                seen.append(state)
                progress(f"{url}: {state} ({_elapsed(clock() - started)})")
                if reported:
                    detail = f"{url} answers 200 and reports {reported[:_MIN_SHA]}: the new version is live"
                else:
                    detail = (
                        f"{url} answers 200 (it does not report a commit, so this confirms health, not "
                        "that the new version is the one answering)"
                    )
                return DeployOutcome(DeployStatus.SUCCESS, "", detail, tuple(seen))
        if state != last:
            seen.append(state)
            progress(f"{url}: {state} ({_elapsed(clock() - started)})")
            last = state
        if clock() + poll_seconds > deadline:
            return DeployOutcome(
                DeployStatus.TIMEOUT,
                "",
                f"{url} did not answer 200 with the new version within {_elapsed(clock() - started)} "
                f"(last: {last}); check the service",
                tuple(seen),
            )
        sleep(poll_seconds)


def _railway_ready(target: RailwayTarget, secrets: Secrets) -> bool:
    has_token = secrets.railway_token is not None or secrets.railway_api_token is not None
    return has_token and bool(target.service_id)


def watch_deploy(
    fix: PushedFix,
    service: ServiceSettings,
    apply: ApplySettings,
    secrets: Secrets,
    http: httpx.Client,
    *,
    progress: Progress,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
) -> DeployOutcome:
    """Follow the deploy of `fix.commit_sha` (Railway, else `service.health_url`) to its end.

    Waits at most `apply.deploy_timeout_seconds`, polling every `apply.deploy_poll_seconds`.
    Never raises for Railway problems: they end as ERROR (with what to fix) or, when transient
    until the deadline, TIMEOUT.
    """
    deadline = clock() + apply.deploy_timeout_seconds
    poll = apply.deploy_poll_seconds
    target = service.railway
    if _railway_ready(target, secrets):
        client = RailwayClient(
            http, endpoint=target.endpoint, headers=auth_headers(secrets), sleep=sleep, wall_clock=wall_clock
        )
        try:
            target = _complete_target(client, target, secrets)
            found = wait_for_deployment(
                client,
                target,
                fix.commit_sha,
                deadline=deadline,
                poll_seconds=poll,
                progress=progress,
                clock=clock,
                sleep=sleep,
            )
            if found is None:
                return DeployOutcome(
                    DeployStatus.TIMEOUT,
                    "",
                    f"no Railway deployment of {fix.commit_sha[:_MIN_SHA]} appeared within "
                    f"{_elapsed(apply.deploy_timeout_seconds)}; is auto-deploy on for branch "
                    f"{service.branch!r}, and do watch patterns include the changed files?",
                )
            return follow_deployment(
                client,
                found.id,
                deadline=deadline,
                poll_seconds=poll,
                progress=progress,
                clock=clock,
                sleep=sleep,
                initial_status=found.status,
            )
        except RailwayError as exc:
            # Auth, query and configuration errors do not heal by polling; transient ones only
            # reach here while resolving the token's scope, before any poll.
            return DeployOutcome(DeployStatus.ERROR, "", f"cannot follow the deploy on Railway: {exc}")
    if service.health_url:
        return follow_health_url(
            http,
            service.health_url,
            commit_sha=fix.commit_sha,
            deadline=deadline,
            poll_seconds=poll,
            progress=progress,
            clock=clock,
            sleep=sleep,
        )
    missing = (
        "a Railway token (RAILWAY_TOKEN or RAILWAY_API_TOKEN)"
        if target.service_id
        else "[services.railway] service_id with a Railway token, or services.health_url"
    )
    return DeployOutcome(DeployStatus.UNWATCHED, "", f"the deploy is not followed: configure {missing}")


def _complete_target(client: RailwayClient, target: RailwayTarget, secrets: Secrets) -> RailwayTarget:
    """Fill project and environment ids from a project token's scope when they are not configured."""
    if target.project_id and target.environment_id:
        return target
    if secrets.railway_token is None:
        raise RailwayNotConfigured(
            "[services.railway] needs project_id and environment_id with an account token "
            "(RAILWAY_API_TOKEN); copy them from the dashboard URL"
        )
    project_id, environment_id = client.project_token_scope()
    return target.model_copy(
        update={
            "project_id": target.project_id or project_id,
            "environment_id": target.environment_id or environment_id,
        }
    )


def decide_after_deploy(outcome: DeployOutcome, auto_revert: bool) -> Action:
    """The bot's move after a deploy watch (pure).

    SUCCESS, SLEEPING (live, then asleep) → deployed, start verification. FAILED/CRASHED →
    deploy_failed and offer a revert, or revert at once when `auto_revert`
    (apply.auto_revert_on_crash). SKIPPED (CI failed on the commit) → deploy_failed and offer
    a revert, never automatic: production was not touched.
    REMOVED, TIMEOUT, ERROR, UNWATCHED → a note; the proposal stays pushed.
    """
    status = outcome.status
    if status in (DeployStatus.SUCCESS, DeployStatus.SLEEPING):
        return Action(
            ActionKind.MARK_DEPLOYED,
            ProposalStatus.DEPLOYED,
            f"Deployed: {outcome.detail}. Watching the incident to verify the fix.",
            start_verification=True,
        )
    if status in (DeployStatus.FAILED, DeployStatus.CRASHED):
        if auto_revert:
            return Action(
                ActionKind.AUTO_REVERT,
                ProposalStatus.DEPLOY_FAILED,
                f"Deploy {status.value.lower()}: {outcome.detail}. Reverting automatically "
                "(apply.auto_revert_on_crash is on).",
                revert_now=True,
            )
        return Action(
            ActionKind.OFFER_REVERT,
            ProposalStatus.DEPLOY_FAILED,
            f"Deploy {status.value.lower()}: {outcome.detail}. Revert the fix with one click below.",
            offer_revert=True,
        )
    if status is DeployStatus.SKIPPED:
        return Action(
            ActionKind.OFFER_REVERT,
            ProposalStatus.DEPLOY_FAILED,
            f"Deploy skipped: {outcome.detail}. Production still runs the previous version; "
            "revert the commit or fix CI.",
            offer_revert=True,
        )
    prefix = {
        DeployStatus.REMOVED: "Deploy not confirmed",
        DeployStatus.TIMEOUT: "Deploy not confirmed in time",
        DeployStatus.ERROR: "Deploy not followed",
        DeployStatus.UNWATCHED: "Deploy not followed",
    }[status]
    return Action(ActionKind.NOTE, None, f"{prefix}: {outcome.detail}. The fix stays pushed.")


def _record_note(session: Session, fix_id: str, outcome: DeployOutcome, actor: str) -> None:
    """Remember that this pushed fix's deploy was watched to an end without a verdict.

    The proposal stays `pushed`; its `deploy_status` (UNWATCHED, ERROR, TIMEOUT, REMOVED) marks the
    watch as finished, so housekeeping does not watch — and announce — it again, and the state
    reads "pushed — deploy not followed". Only a still-unrecorded pushed fix is marked (once).
    """
    marked = session.execute(
        update(Proposal)
        .where(
            Proposal.fix_id == fix_id,
            Proposal.status == ProposalStatus.PUSHED.value,
            Proposal.deploy_status == "",
        )
        .values(deploy_status=outcome.status.value, deploy_id=outcome.deployment_id)
    )
    if getattr(marked, "rowcount", 0):
        audit(
            session,
            actor=actor,
            action="deploy_not_followed",
            fix_id=fix_id,
            detail={"deploy_status": outcome.status.value, "detail": outcome.detail},
        )


def record_deploy_outcome(
    session: Session,
    fix_id: str,
    outcome: DeployOutcome,
    action: Action,
    *,
    verify_window_seconds: float,
    actor: str = "deploy-watch",
    now: datetime | None = None,
) -> TransitionResult | None:
    """Apply `action` to the proposal (pushed → deployed | deploy_failed); None for a note.

    On deployed, `verify_until` is set and the incident's count and last_seen at deploy time are
    kept in the audit evidence, so verification counts only what happens after the deploy.
    """
    if action.status is None:
        _record_note(session, fix_id, outcome, actor)
        return None
    moment = now or utcnow()
    values: dict[str, Any] = {"deploy_id": outcome.deployment_id, "deploy_status": outcome.status.value}
    evidence: dict[str, Any] = {
        "deploy_id": outcome.deployment_id,
        "deploy_status": outcome.status.value,
        "detail": outcome.detail,
        "statuses": list(outcome.statuses),
        "deployed_at": moment.isoformat(),
    }
    if action.status is ProposalStatus.DEPLOYED:
        values["verify_until"] = moment + timedelta(seconds=verify_window_seconds)
        values["outcome"] = "deployed"
        incident = session.scalar(
            select(Incident)
            .join(Proposal, Proposal.incident_id == Incident.id)
            .where(Proposal.fix_id == fix_id)
        )
        if incident is not None:
            evidence["incident_count"] = incident.count
            evidence["incident_last_seen"] = incident.last_seen.isoformat()
    return transition(
        session,
        fix_id,
        action.status,
        actor=actor,
        expected=(ProposalStatus.PUSHED,),
        evidence=evidence,
        values=values,
    )
