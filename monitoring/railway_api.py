"""The one client for Railway's public GraphQL API, over an injected `httpx.Client`.

Used by the deploy watcher (`fixes.deploy_watch`) and by the `railway:` log source
(`monitoring.sources.railway`); it lives in `monitoring` because `monitoring` must not import `fixes`.

Railway answers resolver failures with HTTP 200 and an `errors` list, so every response is checked;
rate limits come as 429 with `Retry-After` and `X-RateLimit-*` headers and are waited out with a
bounded backoff (the `sleep` used for that is injected, so tests never really wait). A caller on a
schedule passes `fail_fast=True`: a wait longer than `max_wait_seconds` is then not capped and
retried but raised at once, with the requested `retry_after`, for the caller's own backoff. Tokens
are never logged and never appear in error messages.

Errors (all carry a message that says what failed and what to do next):

    RailwayError
      ├── RailwayNotConfigured  no token, or the project/environment/service ids are missing
      ├── RailwayAuthError      401/403, or "Not Authorized" in a 200 response: the token is wrong
      ├── RailwayRateLimited    still 429 after the bounded retries (`retry_after` in seconds)
      ├── RailwayUnavailable    network error, 5xx or a non-JSON body, after the bounded retries
      │     └── RailwayNotJSON  a 200 whose body is not JSON (wrong endpoint, a proxy's page)
      └── RailwayQueryError     other `errors` in a 200 response, or an unexpected response shape
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from core.settings import Secrets

__all__ = [
    "DEPLOYMENTS_QUERY",
    "DEPLOYMENT_QUERY",
    "PROJECT_TOKEN_QUERY",
    "RailwayAuthError",
    "RailwayClient",
    "RailwayError",
    "RailwayNotConfigured",
    "RailwayNotJSON",
    "RailwayQueryError",
    "RailwayRateLimited",
    "RailwayUnavailable",
    "RateLimit",
    "auth_headers",
    "parse_rate_limit",
    "retry_delay",
]

DEPLOYMENTS_QUERY = """
query Deployments($input: DeploymentListInput!, $first: Int) {
  deployments(input: $input, first: $first) {
    edges { node { id status createdAt statusUpdatedAt url staticUrl meta } }
  }
}
""".strip()

DEPLOYMENT_QUERY = """
query Deployment($id: String!) {
  deployment(id: $id) { id status createdAt statusUpdatedAt url staticUrl meta }
}
""".strip()

PROJECT_TOKEN_QUERY = "query ProjectToken { projectToken { projectId environmentId } }"  # noqa: S105 - a query, not a secret


class RailwayError(Exception):
    """Base of every error raised while talking to Railway."""


class RailwayNotConfigured(RailwayError):
    """A token or an id the request needs is not configured."""


class RailwayAuthError(RailwayError):
    """Railway refused the token (wrong kind, expired, or scoped to another project/environment)."""


class RailwayRateLimited(RailwayError):
    """Railway kept answering 429 after the bounded retries."""

    def __init__(self, message: str, *, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RailwayUnavailable(RailwayError):
    """Railway could not be reached or answered with a server error."""


class RailwayNotJSON(RailwayUnavailable):
    """Railway (or whatever answers at the endpoint) sent a 200 whose body is not JSON."""


class RailwayQueryError(RailwayError):
    """Railway answered 200 with `errors`, or with data of an unexpected shape."""

    def __init__(self, message: str, *, messages: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.messages = messages


@dataclass(frozen=True)
class RateLimit:
    """The `X-RateLimit-*` headers of the last response (None when absent)."""

    limit: int | None
    remaining: int | None
    reset_in: float | None  # seconds from the response until the budget refills


_AUTH_MARKERS = ("not authorized", "unauthorized", "forbidden", "invalid token", "not authenticated")
_AUTH_CODES = {"UNAUTHENTICATED", "FORBIDDEN", "UNAUTHORIZED"}


def auth_headers(secrets: Secrets) -> dict[str, str]:
    """The header that authenticates with the configured token.

    A project token (`RAILWAY_TOKEN`) goes in `Project-Access-Token`; an account or workspace token
    (`RAILWAY_API_TOKEN`) goes in `Authorization: Bearer`. When both are set the project token wins:
    it is the narrower credential (one environment of one project).

    Raises:
        RailwayNotConfigured: neither variable is set.
    """
    if secrets.railway_token is not None:
        return {"Project-Access-Token": secrets.railway_token.get_secret_value()}
    if secrets.railway_api_token is not None:
        return {"Authorization": f"Bearer {secrets.railway_api_token.get_secret_value()}"}
    raise RailwayNotConfigured(
        "no Railway token: set RAILWAY_TOKEN (a project token, Project settings → Tokens) or "
        "RAILWAY_API_TOKEN (an account token) in the bot's environment"
    )


def parse_rate_limit(headers: Mapping[str, str], now: float) -> RateLimit:
    """Read `X-RateLimit-Limit/Remaining/Reset`; `now` is the wall clock (epoch seconds).

    `X-RateLimit-Reset` may be epoch seconds, a delay in seconds or an HTTP date; all become
    "seconds from now". Unparseable values are treated as absent.
    """
    return RateLimit(
        limit=_int_or_none(headers.get("x-ratelimit-limit")),
        remaining=_int_or_none(headers.get("x-ratelimit-remaining")),
        reset_in=_seconds_until(headers.get("x-ratelimit-reset"), now),
    )


def retry_delay(headers: Mapping[str, str], attempt: int, now: float, *, cap: float) -> float:
    """How long to wait before retry number `attempt` (1-based), never more than `cap` seconds.

    `Retry-After` wins, then `X-RateLimit-Reset`, then exponential backoff (1, 2, 4, … seconds).
    """
    requested = _requested_wait(headers, now)
    if requested is not None:
        return min(max(requested, 0.0), cap)
    return float(min(2 ** (attempt - 1), cap))


def _requested_wait(headers: Mapping[str, str], now: float) -> float | None:
    # What the server asked for, uncapped: `Retry-After`, then `X-RateLimit-Reset`; None if neither.
    for value in (headers.get("retry-after"), headers.get("x-ratelimit-reset")):
        seconds = _seconds_until(value, now)
        if seconds is not None:
            return seconds
    return None


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _seconds_until(value: str | None, now: float) -> float | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            try:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return max(moment.timestamp() - now, 0.0)
    if not math.isfinite(number):
        return None
    # A value this large is an epoch timestamp, not a delay (a delay of 30 years is not one).
    return max(number - now, 0.0) if number > 1_000_000_000 else max(number, 0.0)


class RailwayClient:
    """GraphQL requests to Railway with auth, error checking and bounded rate-limit waits.

    Args:
        http: the shared client (its timeouts apply); nothing is built here.
        endpoint: the GraphQL URL, `ServiceSettings.railway.endpoint`.
        headers: the auth header from `auth_headers(secrets)`.
        max_retries: retries after a 429, 5xx or network error before giving up.
        max_wait_seconds: the longest single wait (a huge `Retry-After` is capped, then retried).
        fail_fast: when the server asks for a longer wait than `max_wait_seconds` (`Retry-After` or
            `X-RateLimit-Reset` on a 429/5xx, or an exhausted budget before a request), raise
            `RailwayRateLimited` (429, budget) or `RailwayUnavailable` (5xx) at once instead of
            capping the wait and retrying. For scheduled callers whose own backoff handles it.
        sleep, wall_clock: injected so tests neither wait nor depend on the date.
    """

    def __init__(
        self,
        http: httpx.Client,
        *,
        endpoint: str,
        headers: Mapping[str, str],
        max_retries: int = 3,
        max_wait_seconds: float = 60.0,
        fail_fast: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        self._endpoint = endpoint
        self._headers = dict(headers)
        self._max_retries = max_retries
        self._max_wait = max_wait_seconds
        self._fail_fast = fail_fast
        self._sleep = sleep
        self._wall_clock = wall_clock
        self.rate_limit: RateLimit | None = None

    def query(
        self, document: str, variables: Mapping[str, Any] | None = None, *, operation: str = ""
    ) -> dict[str, Any]:
        """POST one GraphQL document; returns `data` (a dict) or raises a `RailwayError`."""
        body: dict[str, Any] = {"query": document, "variables": dict(variables or {})}
        if operation:
            body["operationName"] = operation
        name = operation or "query"
        self._wait_if_exhausted(name)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.post(
                    self._endpoint,
                    json=body,
                    headers={**self._headers, "Content-Type": "application/json"},
                )
            except httpx.HTTPError as exc:
                if attempt > self._max_retries:
                    raise RailwayUnavailable(
                        f"Railway {name} failed: cannot reach {self._endpoint} "
                        f"({type(exc).__name__}: {exc}) after {attempt} attempts; check the network "
                        "and railway.endpoint"
                    ) from exc
                self._sleep(float(min(2 ** (attempt - 1), self._max_wait)))
                continue
            self.rate_limit = parse_rate_limit(response.headers, self._wall_clock())
            status = response.status_code
            if status == 429 or status >= 500:
                if attempt > self._max_retries:
                    raise self._give_up(name, response, attempt)
                if self._fail_fast:
                    requested = _requested_wait(response.headers, self._wall_clock())
                    if requested is not None and requested > self._max_wait:
                        raise self._too_long(name, response, requested)
                self._sleep(retry_delay(response.headers, attempt, self._wall_clock(), cap=self._max_wait))
                continue
            return self._data(name, response)

    def _give_up(self, name: str, response: httpx.Response, attempts: int) -> RailwayError:
        if response.status_code == 429:
            retry_after = _seconds_until(response.headers.get("retry-after"), self._wall_clock())
            return RailwayRateLimited(
                f"Railway {name} is rate limited (HTTP 429 after {attempts} attempts; "
                f"Retry-After {retry_after if retry_after is not None else 'not given'} s); "
                "poll less often (apply.deploy_poll_seconds) or use a plan with a higher limit",
                retry_after=retry_after,
            )
        return RailwayUnavailable(
            f"Railway {name} failed with HTTP {response.status_code} after {attempts} attempts; "
            "Railway may be degraded (status.railway.com), try again later"
        )

    def _too_long(self, name: str, response: httpx.Response, requested: float) -> RailwayError:
        if response.status_code == 429:
            return RailwayRateLimited(
                f"Railway {name} is rate limited (HTTP 429) and asks to wait {requested:g} s, longer "
                f"than this caller waits ({self._max_wait:g} s); try again after that",
                retry_after=requested,
            )
        return RailwayUnavailable(
            f"Railway {name} failed with HTTP {response.status_code} and asks to wait {requested:g} s; "
            "Railway may be degraded (status.railway.com), try again later"
        )

    def _data(self, name: str, response: httpx.Response) -> dict[str, Any]:
        if response.status_code in (401, 403):
            raise RailwayAuthError(
                f"Railway {name} refused the token (HTTP {response.status_code}); check RAILWAY_TOKEN "
                "(project token) or RAILWAY_API_TOKEN (account token)"
            )
        if response.status_code != 200:
            raise RailwayQueryError(
                f"Railway {name} answered HTTP {response.status_code}: {response.text[:200]!r}"
            )
        try:
            payload = response.json()
        except ValueError as exc:
            raise RailwayNotJSON(
                f"Railway {name} answered 200 with a non-JSON body ({response.text[:120]!r}); "
                "is railway.endpoint the GraphQL URL?"
            ) from exc
        if not isinstance(payload, dict):
            raise RailwayQueryError(f"Railway {name} answered with {type(payload).__name__}, not an object")
        errors = payload.get("errors") or []
        if errors:
            messages = tuple(_error_message(error) for error in errors)
            if any(_is_auth_error(error) for error in errors):
                raise RailwayAuthError(
                    f"Railway {name} refused the token: {'; '.join(messages)}. A project token "
                    "(RAILWAY_TOKEN) only sees its own project and environment; check the ids in "
                    "[services.railway] and the token"
                )
            raise RailwayQueryError(f"Railway {name} failed: {'; '.join(messages)}", messages=messages)
        data = payload.get("data")
        if not isinstance(data, dict):
            raise RailwayQueryError(f"Railway {name} answered without data: {response.text[:200]!r}")
        return data

    def _wait_if_exhausted(self, name: str) -> None:
        # The budget is spent: wait for the reset instead of collecting a 429 (bounded).
        limit = self.rate_limit
        if limit is not None and limit.remaining == 0 and limit.reset_in:
            if self._fail_fast and limit.reset_in > self._max_wait:
                raise RailwayRateLimited(
                    f"Railway {name} not sent: the rate-limit budget is spent and resets in "
                    f"{limit.reset_in:g} s, longer than this caller waits ({self._max_wait:g} s)",
                    retry_after=limit.reset_in,
                )
            self._sleep(min(limit.reset_in, self._max_wait))
            self.rate_limit = None

    # Typed helpers for the queries the bot uses.

    def deployments(
        self, *, project_id: str, environment_id: str, service_id: str, first: int = 20
    ) -> list[dict[str, Any]]:
        """The newest `first` deployments of one service in one environment (raw nodes)."""
        data = self.query(
            DEPLOYMENTS_QUERY,
            {
                "input": {"projectId": project_id, "environmentId": environment_id, "serviceId": service_id},
                "first": first,
            },
            operation="Deployments",
        )
        try:
            edges = data["deployments"]["edges"]
            return [dict(edge["node"]) for edge in edges]
        except (KeyError, TypeError) as exc:
            raise RailwayQueryError(
                f"Railway Deployments answered an unexpected shape: {data!r:.200}"
            ) from exc

    def deployment(self, deployment_id: str) -> dict[str, Any]:
        """One deployment (raw node) by id."""
        data = self.query(DEPLOYMENT_QUERY, {"id": deployment_id}, operation="Deployment")
        node = data.get("deployment")
        if not isinstance(node, dict):
            raise RailwayQueryError(
                f"Railway has no deployment {deployment_id!r} (it may have been deleted); "
                "see the service's Deployments tab"
            )
        return node

    def project_token_scope(self) -> tuple[str, str]:
        """(projectId, environmentId) a project token is scoped to."""
        data = self.query(PROJECT_TOKEN_QUERY, operation="ProjectToken")
        scope = data.get("projectToken")
        if not isinstance(scope, dict) or not scope.get("projectId") or not scope.get("environmentId"):
            raise RailwayQueryError(
                "Railway did not say which project/environment the token belongs to; "
                "set project_id and environment_id in [services.railway]"
            )
        return str(scope["projectId"]), str(scope["environmentId"])


def _error_message(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error)


def _is_auth_error(error: Any) -> bool:
    if not isinstance(error, dict):
        return False
    message = str(error.get("message", "")).lower()
    extensions = error.get("extensions")
    code = str(extensions.get("code", "")).upper() if isinstance(extensions, dict) else ""
    return code in _AUTH_CODES or any(marker in message for marker in _AUTH_MARKERS)
