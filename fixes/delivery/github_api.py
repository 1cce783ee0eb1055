"""A narrow adapter over GitHub's REST API: the few calls pull-request delivery needs.

Create or find a pull request, read its state, its head's check runs and combined status and its
reviews (conditionally: `If-None-Match` with the last `ETag`, so an unchanged read is a 304 that
does not count against the primary rate limit), merge it with the validated head sha, label it and
comment on it. Lists follow `Link: <…>; rel="next"`.

Every answer is translated here into `fixes.delivery.errors` (rate limits with the seconds to wait:
`Retry-After`, else `x-ratelimit-reset` when `x-ratelimit-remaining` is 0, else a minute for a
secondary limit). The token goes only into the `Authorization` header of each request; it is never
in a URL, a log line or an error message. GitLab would be a second class with the same methods.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from fixes.delivery.errors import (
    HeadChanged,
    HostingError,
    HostingUnavailable,
    NotMergeable,
    PullAlreadyExists,
    RateLimited,
)

__all__ = ["API_VERSION", "Fetched", "GitHubApi", "repository_from_url"]

API_VERSION = "2022-11-28"
_SECONDARY_LIMIT_WAIT = 60.0
_MAX_PAGES = 10
_NEXT_LINK = re.compile(r'<([^>]+)>;\s*rel="next"')
_GITHUB_REPO = re.compile(r"github\.com[/:]([\w.-]+)/([\w.-]+?)(?:\.git)?/?$")


def repository_from_url(url: str) -> str:
    """`owner/name` from a GitHub clone URL (https or ssh form); "" when it is not one."""
    match = _GITHUB_REPO.search(url.strip())
    return f"{match.group(1)}/{match.group(2)}" if match else ""


@dataclass(frozen=True)
class Fetched:
    """A conditional read: `changed` False means 304 (keep what you derived last time)."""

    changed: bool
    etag: str
    body: Any = None


class GitHubApi:
    """The REST calls for one repository (`owner/name`), through the injected `httpx.Client`."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        api_url: str,
        repository: str,
        token: str,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        self._base = api_url.rstrip("/")
        self.repository = repository
        self._token = token
        self._wall_clock = wall_clock

    @property
    def owner(self) -> str:
        return self.repository.split("/", 1)[0]

    # ------------------------------------------------------------------ transport

    def _headers(self, etag: str = "") -> dict[str, str]:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        if etag:
            headers["If-None-Match"] = etag
        return headers

    def _request(
        self,
        method: str,
        url: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
        etag: str = "",
    ) -> httpx.Response:
        full = url if url.startswith(("http://", "https://")) else f"{self._base}{url}"
        try:
            response = self._http.request(method, full, json=json, params=params, headers=self._headers(etag))
        except httpx.HTTPError as exc:
            raise HostingUnavailable(
                f"{method} {url} on {self._base} failed: {type(exc).__name__}: {exc}"
            ) from None
        if response.status_code in {403, 429}:
            wait = self._rate_limit_wait(response)
            if wait is not None:
                raise RateLimited(
                    response.status_code,
                    f"GitHub rate limit on {method} {url}: retry in {wait:.0f}s ({_message(response)})",
                    wait,
                )
        if response.status_code >= 500:
            raise HostingUnavailable(f"{method} {url}: GitHub answered {response.status_code}")
        return response

    def _rate_limit_wait(self, response: httpx.Response) -> float | None:
        """Seconds to wait when `response` is a (primary or secondary) rate limit, else None."""
        retry_after = response.headers.get("retry-after", "").strip()
        if retry_after.isdigit():
            return float(retry_after)
        if response.headers.get("x-ratelimit-remaining") == "0":
            reset = response.headers.get("x-ratelimit-reset", "")
            if reset.isdigit():
                return max(float(reset) - self._wall_clock(), 1.0)
            return _SECONDARY_LIMIT_WAIT
        if "secondary rate limit" in _message(response).lower():
            return _SECONDARY_LIMIT_WAIT
        return None

    def _fail(self, response: httpx.Response, what: str) -> HostingError:
        return HostingError(
            response.status_code, f"{what}: GitHub answered {response.status_code}: {_message(response)}"
        )

    def _pages(self, url: str, params: Mapping[str, str | int], *, etag: str = "", key: str = "") -> Fetched:
        """Every page of a list (items under `key` for wrapped lists); conditional on the first page."""
        response = self._request("GET", url, params=params, etag=etag)
        if response.status_code == 304:
            return Fetched(False, etag)
        if response.status_code != 200:
            raise self._fail(response, f"GET {url}")
        first_etag = response.headers.get("etag", "")
        items: list[Any] = []
        for _ in range(_MAX_PAGES):
            body = response.json()
            items.extend(body.get(key, []) if key else body)
            match = _NEXT_LINK.search(response.headers.get("link", ""))
            if match is None:
                break
            response = self._request("GET", match.group(1))
            if response.status_code != 200:
                raise self._fail(response, f"GET {url} (next page)")
        return Fetched(True, first_etag, items)

    def _repo_path(self, suffix: str) -> str:
        return f"/repos/{self.repository}{suffix}"

    # ------------------------------------------------------------------ access

    def repository_info(self) -> dict[str, Any]:
        """`GET /repos/{owner}/{repo}`: includes `permissions` ({"push": …}) for the token's user."""
        response = self._request("GET", self._repo_path(""))
        if response.status_code != 200:
            raise self._fail(response, f"reading repository {self.repository}")
        info: dict[str, Any] = response.json()
        return info

    def probe(self, suffix: str) -> tuple[int, str]:
        """Status of a read under the repository, and GitHub's `X-Accepted-GitHub-Permissions` hint."""
        response = self._request("GET", self._repo_path(suffix))
        return response.status_code, response.headers.get("x-accepted-github-permissions", "")

    # ------------------------------------------------------------------ pull requests

    def find_open_pull(self, branch: str, base: str) -> dict[str, Any] | None:
        """The open pull request from `branch` into `base`, or None."""
        found = self._pages(
            self._repo_path("/pulls"),
            {"head": f"{self.owner}:{branch}", "base": base, "state": "open", "per_page": 100},
        )
        pulls: list[dict[str, Any]] = found.body or []
        return pulls[0] if pulls else None

    def create_pull(self, *, title: str, body: str, branch: str, base: str, draft: bool) -> dict[str, Any]:
        """Open a pull request; `PullAlreadyExists` when one is open for the same head and base."""
        response = self._request(
            "POST",
            self._repo_path("/pulls"),
            json={"title": title, "body": body, "head": branch, "base": base, "draft": draft},
        )
        if response.status_code == 201:
            created: dict[str, Any] = response.json()
            return created
        if response.status_code == 422 and "already exists" in _message(response):
            raise PullAlreadyExists(422, f"a pull request from {branch} into {base} already exists")
        raise self._fail(response, f"opening a pull request from {branch} into {base}")

    def get_pull(self, number: int, *, etag: str = "") -> Fetched:
        response = self._request("GET", self._repo_path(f"/pulls/{number}"), etag=etag)
        if response.status_code == 304:
            return Fetched(False, etag)
        if response.status_code != 200:
            raise self._fail(response, f"reading pull request #{number}")
        return Fetched(True, response.headers.get("etag", ""), response.json())

    def check_runs(self, sha: str, *, etag: str = "") -> Fetched:
        return self._pages(
            self._repo_path(f"/commits/{quote(sha)}/check-runs"),
            {"per_page": 100},
            etag=etag,
            key="check_runs",
        )

    def combined_status(self, sha: str, *, etag: str = "") -> Fetched:
        response = self._request(
            "GET", self._repo_path(f"/commits/{quote(sha)}/status"), params={"per_page": 100}, etag=etag
        )
        if response.status_code == 304:
            return Fetched(False, etag)
        if response.status_code != 200:
            raise self._fail(response, f"reading the combined status of {sha[:12]}")
        return Fetched(True, response.headers.get("etag", ""), response.json())

    def reviews(self, number: int, *, etag: str = "") -> Fetched:
        return self._pages(self._repo_path(f"/pulls/{number}/reviews"), {"per_page": 100}, etag=etag)

    def merge(self, number: int, *, sha: str, method: str, title: str) -> str:
        """Merge pull request `number` only if its head is still `sha`; returns the merge commit sha.

        Raises:
            HeadChanged: 409, the head is not `sha` (someone pushed to the branch).
            NotMergeable: 405, checks, reviews or branch protection refuse it (GitHub's reason kept).
        """
        response = self._request(
            "PUT",
            self._repo_path(f"/pulls/{number}/merge"),
            json={"sha": sha, "merge_method": method, "commit_title": title},
        )
        if response.status_code == 200:
            return str(response.json().get("sha", ""))
        if response.status_code == 409:
            raise HeadChanged(409, f"pull request #{number} was not merged: {_message(response)}")
        if response.status_code == 405:
            raise NotMergeable(405, f"pull request #{number} cannot be merged yet: {_message(response)}")
        raise self._fail(response, f"merging pull request #{number}")

    def add_labels(self, number: int, labels: tuple[str, ...]) -> None:
        if not labels:
            return
        response = self._request(
            "POST", self._repo_path(f"/issues/{number}/labels"), json={"labels": list(labels)}
        )
        if response.status_code != 200:
            raise self._fail(response, f"labelling pull request #{number}")

    def comment(self, number: int, body: str) -> None:
        response = self._request("POST", self._repo_path(f"/issues/{number}/comments"), json={"body": body})
        if response.status_code != 201:
            raise self._fail(response, f"commenting on pull request #{number}")


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if not isinstance(body, dict):
        return str(body)[:200]
    message = str(body.get("message", ""))
    details = [str(e.get("message", "")) for e in body.get("errors", []) if isinstance(e, dict)]
    return "; ".join(part for part in [message, *details] if part)[:500] or response.reason_phrase
