"""Pull-request delivery: push the validated commit to `fixbot/<fix_id>` and open (or reuse) its PR.

Idempotent by construction: the branch is named after the fix id and force-pushed (a retried apply
lands on a newer base); an open pull request from that branch is reused; GitHub's 422 "already
exists" means a racing or earlier attempt opened it, so it is looked up instead of failing.

The apply pipeline calls the hooks at the bottom (`push`, `open_for_fix`, `store`, `reconcile`);
everything else here is for them and for `merge` / `follow`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.settings import ServiceSettings, Settings
from core.store.models import Incident, Proposal, PullRequest
from core.store.proposals import get_proposal
from fixes.delivery.errors import DeliveryError, HostingError, PullAlreadyExists
from fixes.delivery.evidence import Evidence, pr_body, pr_title, revert_body, slack_link
from fixes.delivery.github_api import GitHubApi, repository_from_url
from fixes.git_ops import GitRepo

__all__ = [
    "BRANCH_PREFIX",
    "OpenedPull",
    "branch_name",
    "evidence_for",
    "github_api",
    "http_client",
    "open_for_fix",
    "open_for_revert",
    "open_pull",
    "push",
    "push_target",
    "pushed_fix_branch",
    "repository_of",
    "store",
    "uses_pull_requests",
]

log = logging.getLogger(__name__)

BRANCH_PREFIX = "fixbot/"


def uses_pull_requests(service: ServiceSettings) -> bool:
    return service.delivery == "pull_request"


def branch_name(fix_id: str, kind: str = "fix") -> str:
    """`fixbot/fix_20261020_023300`, or `fixbot/revert-fix_…` for its revert."""
    return f"{BRANCH_PREFIX}{fix_id}" if kind == "fix" else f"{BRANCH_PREFIX}revert-{fix_id}"


def repository_of(service: ServiceSettings) -> str:
    """`owner/name` on the hosting service: configured, else read from the clone URL."""
    repository = service.pull_request.repository or repository_from_url(service.repo)
    if not repository:
        raise DeliveryError(
            f"service {service.name}: cannot tell the GitHub repository from repo = {service.repo!r}; "
            'set [services.pull_request] repository = "owner/name"'
        )
    return repository


def _token(settings: Settings) -> str:
    token = settings.secrets.git_token
    return token.get_secret_value() if token is not None else ""


def github_api(settings: Settings, service: ServiceSettings, http: httpx.Client) -> GitHubApi:
    return GitHubApi(
        http, api_url=service.pull_request.api_url, repository=repository_of(service), token=_token(settings)
    )


@contextmanager
def http_client(http: httpx.Client | None = None) -> Iterator[httpx.Client]:
    """The injected client, or a short-lived one with explicit timeouts (the pipeline has none)."""
    if http is not None:
        yield http
        return
    with httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0)) as client:
        yield client


@dataclass(frozen=True)
class OpenedPull:
    """A pull request the bot opened or found: what `store` records."""

    kind: str
    repository: str
    number: int
    url: str
    branch: str
    base: str
    head_sha: str
    draft: bool
    reused: bool


def open_pull(
    api: GitHubApi,
    *,
    kind: str,
    branch: str,
    base: str,
    head_sha: str,
    title: str,
    body: str,
    draft: bool,
    labels: tuple[str, ...],
) -> OpenedPull:
    """Reuse the open pull request from `branch` into `base`, or open one (labelled)."""
    found = api.find_open_pull(branch, base)
    reused = found is not None
    if found is None:
        try:
            found = api.create_pull(title=title, body=body, branch=branch, base=base, draft=draft)
        except PullAlreadyExists:
            # Opened by an earlier attempt between our lookup and our create: use that one.
            found = api.find_open_pull(branch, base)
            if found is None:
                raise HostingError(
                    422, f"GitHub says a pull request from {branch} exists, but none is open into {base}"
                ) from None
            reused = True
        else:
            try:
                api.add_labels(int(found["number"]), labels)
            except DeliveryError as exc:
                # A missing label permission must not lose the pull request itself.
                log.warning("could not label pull request #%s: %s", found.get("number"), exc)
    return OpenedPull(
        kind=kind,
        repository=api.repository,
        number=int(found["number"]),
        url=str(found.get("html_url", "")),
        branch=branch,
        base=base,
        head_sha=head_sha,
        draft=bool(found.get("draft", draft)),
        reused=reused,
    )


def store(session: Session, fix_id: str, service: str, opened: OpenedPull) -> PullRequest:
    """Record (or refresh) the pull request of `fix_id`; the caller's transaction."""
    row = session.scalar(
        select(PullRequest).where(PullRequest.fix_id == fix_id, PullRequest.kind == opened.kind)
    )
    if row is None:
        row = PullRequest(fix_id=fix_id, kind=opened.kind, service=service)
        session.add(row)
    row.repository = opened.repository
    row.number = opened.number
    row.url = opened.url
    row.branch = opened.branch
    row.base = opened.base
    row.head_sha = opened.head_sha
    row.observed_head_sha = opened.head_sha
    row.draft = opened.draft
    row.state = "open"
    row.checks, row.checks_detail, row.review, row.mergeable = "none", {}, "none", "unknown"
    row.merge_commit_sha = row.closed_by = ""
    row.etags = {}
    row.next_poll_at = None
    return row


def evidence_for(session: Session, fix_id: str, *, validation_output: str) -> Evidence:
    """The pull request's evidence, read from the proposal and its incident."""
    proposal: Proposal = get_proposal(session, fix_id)
    option = proposal.option(proposal.chosen_option)
    incident = session.get(Incident, proposal.incident_id) if proposal.incident_id else None
    samples = list(incident.samples or []) if incident is not None else []
    details = dict(incident.details or {}) if incident is not None else {}
    return Evidence(
        fix_id=fix_id,
        service=proposal.service,
        summary=str(option.get("summary") or proposal.summary),
        root_cause=proposal.root_cause,
        risk=str(option.get("risk") or proposal.risk),
        approver=proposal.approver,
        incident_id=incident.id if incident is not None else None,
        incident_title=incident.title if incident is not None else "",
        incident_count=incident.count if incident is not None else 0,
        first_seen=incident.first_seen if incident is not None else None,
        last_seen=incident.last_seen if incident is not None else None,
        sample=str(samples[0]) if samples else "",
        template=str(details.get("template", "")),
        validation_status="passed",
        validation_output=validation_output,
        # Written by pre-validation when a regression test failed on the base and passed with the fix.
        regression_proof=str(option.get("regression_proof", "")),
        slack_url=slack_link(proposal.slack_channel, proposal.slack_ts),
        diff=str(option.get("diff", "")),
    )


# ---------------------------------------------------------------------------------------------------
# Hooks for the apply pipeline (fixes/apply/): each a no-op or the push-mode behaviour otherwise.


def push_target(service: ServiceSettings, fix_id: str, kind: str = "fix") -> str:
    return branch_name(fix_id, kind) if uses_pull_requests(service) else service.branch


def push(repo: GitRepo, sha: str, service: ServiceSettings, fix_id: str, kind: str = "fix") -> None:
    """Push mode: fast-forward the deploy branch. PR mode: (re)point fixbot/[revert-]<fix_id> at `sha`."""
    if uses_pull_requests(service):
        repo.push_branch(sha, branch_name(fix_id, kind))
    else:
        repo.push(sha, service.branch)


def open_for_fix(
    settings: Settings,
    sessions: sessionmaker[Session],
    service: ServiceSettings,
    fix_id: str,
    head_sha: str,
    *,
    validation_output: str,
    http: httpx.Client | None = None,
) -> OpenedPull | None:
    """After the push: None in push mode; else the fix's pull request, opened or reused.

    Raises:
        DeliveryError: the API refused or could not be reached (the branch stays pushed; approving
            again reuses it).
    """
    if not uses_pull_requests(service):
        return None
    with sessions() as session:
        evidence = evidence_for(session, fix_id, validation_output=validation_output)
    config = service.pull_request
    with http_client(http) as client:
        return open_pull(
            github_api(settings, service, client),
            kind="fix",
            branch=branch_name(fix_id),
            base=service.branch,
            head_sha=head_sha,
            title=pr_title(evidence.summary, fix_id),
            body=pr_body(evidence),
            draft=config.draft,
            labels=config.labels,
        )


def open_for_revert(
    settings: Settings,
    sessions: sessionmaker[Session],
    service: ServiceSettings,
    fix_id: str,
    head_sha: str,
    *,
    actor: str,
    http: httpx.Client | None = None,
) -> OpenedPull | None:
    """After pushing a revert: None in push mode; else the revert's pull request, opened or reused."""
    if not uses_pull_requests(service):
        return None
    with sessions() as session:
        proposal = get_proposal(session, fix_id)
        summary, commit_sha = proposal.summary, proposal.commit_sha
        slack_url = slack_link(proposal.slack_channel, proposal.slack_ts)
    with http_client(http) as client:
        return open_pull(
            github_api(settings, service, client),
            kind="revert",
            branch=branch_name(fix_id, "revert"),
            base=service.branch,
            head_sha=head_sha,
            title=f"revert: {' '.join(summary.split())[:200]} ({fix_id})",
            body=revert_body(fix_id=fix_id, commit_sha=commit_sha, approver=actor, slack_url=slack_url),
            draft=service.pull_request.draft,
            labels=service.pull_request.labels,
        )


def pushed_fix_branch(repo: GitRepo, service: ServiceSettings, fix_id: str, kind: str = "fix") -> str | None:
    """Reconcile, PR mode: the commit with the fix's trailer on its fixbot/ branch, or None."""
    if not uses_pull_requests(service):
        return None
    branch = branch_name(fix_id, kind)
    if repo.fetch_branch(branch) is None:
        return None
    trailer = "Reverts-Fix-Id" if kind == "revert" else "Fix-Id"
    return repo.find_commit_with_trailer(f"refs/remotes/origin/{branch}", trailer, fix_id)
