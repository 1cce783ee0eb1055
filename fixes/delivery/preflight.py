"""`agent config check` for pull-request delivery: can the token do what the mode needs?

Reads only (nothing is created): the repository (its `permissions.push` for Contents: write), then one
read each for pull requests, check runs and commit statuses. A refused read names the permission, with
GitHub's own `X-Accepted-GitHub-Permissions` hint when it sends one. Pull requests: write cannot be
probed without writing; it shows up as a failed apply ("no pull request was opened: … 403 …").
"""

from __future__ import annotations

from fixes.delivery.errors import DeliveryError
from fixes.delivery.github_api import GitHubApi

__all__ = ["access_problems"]

_READS = (
    ("pull requests: read", "/pulls?per_page=1"),
    ("checks: read", "/commits/{branch}/check-runs?per_page=1"),
    ("commit statuses: read", "/commits/{branch}/status"),
)


def access_problems(api: GitHubApi, branch: str) -> list[str]:
    """What the token lacks for pull-request delivery on `api.repository`; empty when nothing is missing."""
    try:
        info = api.repository_info()
    except DeliveryError as exc:
        return [f"{api.repository}: {exc} (is GIT_TOKEN set, and does it cover this repository?)"]
    problems: list[str] = []
    permissions = info.get("permissions")
    if isinstance(permissions, dict) and not permissions.get("push"):
        problems.append(f"{api.repository}: contents: write is missing (pushing fixbot/ branches, merging)")
    for name, template in _READS:
        try:
            status, hint = api.probe(template.format(branch=branch))
        except DeliveryError as exc:
            problems.append(f"{api.repository}: {name}: {exc}")
            continue
        if status in {401, 403, 404}:
            accepted = f" (GitHub wants: {hint})" if hint else ""
            problems.append(f"{api.repository}: {name} is missing: GitHub answered {status}{accepted}")
    return problems
