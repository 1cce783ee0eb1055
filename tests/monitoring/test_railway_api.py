"""The shared Railway GraphQL client: auth headers, errors in a 200, bounded retries and pacing.

Unit tests over `httpx.MockTransport`; time is a fake clock whose `sleep` advances it, so no test waits.
The client against real local servers is exercised through `fixes.deploy_watch` (tests/fixes) and the
`railway:` log source (tests/monitoring/test_sources.py).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.settings import Secrets
from monitoring.railway_api import (
    RailwayAuthError,
    RailwayClient,
    RailwayNotConfigured,
    RailwayQueryError,
    RailwayRateLimited,
    RailwayUnavailable,
    auth_headers,
    parse_rate_limit,
    retry_delay,
)
from tests.fakes.serving import FakeClock


def _client(handler: Any, clock: FakeClock, **kwargs: Any) -> RailwayClient:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return RailwayClient(
        http,
        endpoint="https://backboard.test/graphql/v2",
        headers={"Project-Access-Token": "t"},
        sleep=clock.sleep,
        wall_clock=lambda: 1_800_000_000.0,
        **kwargs,
    )


def test_persistent_429_raises_rate_limited_after_bounded_retries() -> None:
    """Four 429s in a row raise RailwayRateLimited; each wait is capped at max_wait_seconds."""
    clock = FakeClock()
    client = _client(
        lambda r: httpx.Response(429, headers={"Retry-After": "3600"}), clock, max_wait_seconds=30
    )

    with pytest.raises(RailwayRateLimited) as caught:
        client.query("query { me { id } }")

    assert [30.0, 30.0, 30.0] == clock.sleeps
    assert 3600.0 == caught.value.retry_after


def test_server_errors_are_retried_then_reported() -> None:
    """A 502 is retried with exponential backoff, then raises RailwayUnavailable."""
    clock = FakeClock()
    client = _client(lambda r: httpx.Response(502, text="bad gateway"), clock)

    with pytest.raises(RailwayUnavailable, match="HTTP 502 after 4 attempts"):
        client.query("query { me { id } }")

    assert [1.0, 2.0, 4.0] == clock.sleeps


def test_network_errors_are_retried_then_reported() -> None:
    """A refused connection is retried, then raises RailwayUnavailable naming the endpoint."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(RailwayUnavailable, match=re.escape("cannot reach https://backboard.test/graphql/v2")):
        _client(refuse, FakeClock()).query("query { me { id } }")


def test_errors_in_a_200_are_raised_with_their_messages() -> None:
    """A 200 carrying `errors` raises RailwayQueryError with Railway's messages."""
    body = {"errors": [{"message": "Problem processing request"}], "data": None}
    client = _client(lambda r: httpx.Response(200, json=body), FakeClock())

    with pytest.raises(RailwayQueryError) as caught:
        client.query('query { deployment(id: "x") { id } }')

    assert ("Problem processing request",) == caught.value.messages


@pytest.mark.parametrize(
    "error",
    [{"message": "Not Authorized"}, {"message": "nope", "extensions": {"code": "UNAUTHENTICATED"}}],
)
def test_auth_errors_in_a_200_raise_auth_error(error: dict[str, Any]) -> None:
    """ "Not Authorized" (or an UNAUTHENTICATED code) in a 200 raises RailwayAuthError."""
    client = _client(lambda r: httpx.Response(200, json={"errors": [error], "data": None}), FakeClock())

    with pytest.raises(RailwayAuthError, match="refused the token"):
        client.query("query { me { id } }")


def test_non_json_body_is_unavailable() -> None:
    """An HTML page instead of JSON (wrong endpoint) is reported as such."""
    client = _client(lambda r: httpx.Response(200, text="<html>hi</html>"), FakeClock())

    with pytest.raises(RailwayUnavailable, match="non-JSON"):
        client.query("query { me { id } }")


def test_exhausted_budget_waits_for_the_reset_before_the_next_request() -> None:
    """After a response with X-RateLimit-Remaining: 0, the next request first waits for the reset."""
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(1_800_000_000 + 12)}
    clock = FakeClock()
    client = _client(lambda r: httpx.Response(200, json={"data": {"ok": True}}, headers=headers), clock)

    client.query("query { a }")
    client.query("query { b }")

    assert [12.0] == clock.sleeps


def test_no_token_is_a_configuration_error() -> None:
    """With neither RAILWAY_TOKEN nor RAILWAY_API_TOKEN the error names both variables."""
    with pytest.raises(RailwayNotConfigured, match=r"RAILWAY_TOKEN.*RAILWAY_API_TOKEN"):
        auth_headers(Secrets())


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "Fri, 15 Jan 2027 08:00:10 GMT"}, 10.0),
        ({"x-ratelimit-reset": "1800000005"}, 5.0),
        ({"retry-after": "soon"}, 2.0),
        ({"retry-after": "nan"}, 2.0),
        ({"retry-after": "-5"}, 0.0),
        ({"retry-after": "inf"}, 2.0),
        ({}, 2.0),
    ],
)
def test_retry_delay_reads_the_headers(headers: dict[str, str], expected: float) -> None:
    """Retry-After (seconds or HTTP date), then X-RateLimit-Reset, then exponential backoff."""
    now = (
        datetime(2027, 1, 15, 8, 0, 0, tzinfo=UTC).timestamp()
        if "GMT" in headers.get("retry-after", "")
        else 1_800_000_000.0
    )
    assert expected == retry_delay(headers, 2, now, cap=60)


@given(
    headers=st.dictionaries(
        st.sampled_from(["retry-after", "x-ratelimit-reset", "x-other"]), st.text(max_size=40)
    ),
    attempt=st.integers(1, 10),
)
def test_retry_delay_is_always_bounded(headers: dict[str, str], attempt: int) -> None:
    """Whatever the headers say, the wait is between 0 and the cap and never raises."""
    assert 0.0 <= retry_delay(headers, attempt, 1_800_000_000.0, cap=60) <= 60.0


def test_rate_limit_headers_are_parsed() -> None:
    """X-RateLimit-* become numbers; junk becomes None."""
    limit = parse_rate_limit({"x-ratelimit-limit": "1000", "x-ratelimit-remaining": "x"}, 0.0)
    assert (1000, None, None) == (limit.limit, limit.remaining, limit.reset_in)


def test_fail_fast_raises_a_long_retry_after_without_waiting() -> None:
    """With fail_fast a 429 asking for longer than max_wait_seconds raises at once with that retry_after."""
    clock = FakeClock()
    client = _client(
        lambda r: httpx.Response(429, headers={"Retry-After": "120"}),
        clock,
        max_wait_seconds=5,
        fail_fast=True,
    )

    with pytest.raises(RailwayRateLimited, match="asks to wait 120 s") as caught:
        client.query("query { me { id } }")

    assert ([], 120.0) == (clock.sleeps, caught.value.retry_after)


def test_fail_fast_still_retries_short_waits() -> None:
    """With fail_fast a 429 asking for a wait within max_wait_seconds is waited out and retried."""
    answers = [
        httpx.Response(429, headers={"Retry-After": "2"}),
        httpx.Response(200, json={"data": {"ok": True}}),
    ]
    clock = FakeClock()
    client = _client(lambda r: answers.pop(0), clock, max_wait_seconds=5, fail_fast=True)

    assert {"ok": True} == client.query("query { ok }")
    assert [2.0] == clock.sleeps


def test_fail_fast_does_not_send_while_a_long_reset_is_pending() -> None:
    """With fail_fast a spent budget resetting later than max_wait_seconds raises before sending."""
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(1_800_000_000 + 90)}
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"data": {"ok": True}}, headers=headers)

    clock = FakeClock()
    client = _client(answer, clock, max_wait_seconds=5, fail_fast=True)
    client.query("query { a }")

    with pytest.raises(RailwayRateLimited) as caught:
        client.query("query { b }")

    assert (1, [], 90.0) == (len(sent), clock.sleeps, caught.value.retry_after)


def test_fail_fast_server_error_with_a_long_retry_after_is_unavailable() -> None:
    """With fail_fast a 503 asking for a long wait raises RailwayUnavailable at once."""
    clock = FakeClock()
    client = _client(
        lambda r: httpx.Response(503, headers={"Retry-After": "600"}),
        clock,
        max_wait_seconds=5,
        fail_fast=True,
    )

    with pytest.raises(RailwayUnavailable, match="HTTP 503"):
        client.query("query { me { id } }")

    assert [] == clock.sleeps
