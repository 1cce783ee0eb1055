"""Shared HTTP error mapping for the network sources (httpx → SourceError)."""

from __future__ import annotations

from typing import Any

import httpx

from monitoring.sources.base import (
    SourceAuthError,
    SourceBadResponse,
    SourceRateLimited,
    SourceUnavailable,
)

__all__ = ["send"]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def send(client: httpx.Client, name: str, request: httpx.Request) -> Any:
    """Send `request`; return the decoded JSON body or raise the matching SourceError."""
    try:
        response = client.send(request)
    except httpx.TimeoutException as exc:
        raise SourceUnavailable(f"{name}: timed out talking to {request.url.host}: {exc}") from exc
    except httpx.TransportError as exc:
        raise SourceUnavailable(f"{name}: cannot reach {request.url.host}: {exc}") from exc
    if response.status_code == 429:
        retry = _retry_after(response)
        raise SourceRateLimited(
            f"{name}: rate limited (HTTP 429){f', retry after {retry:g}s' if retry else ''}", retry
        )
    if response.status_code in {401, 403}:
        raise SourceAuthError(
            f"{name}: HTTP {response.status_code} — the token was refused; check it is set and valid"
        )
    if response.status_code >= 500:
        raise SourceUnavailable(f"{name}: server error HTTP {response.status_code}")
    if response.status_code >= 400:
        raise SourceBadResponse(f"{name}: HTTP {response.status_code}: {response.text[:200]}")
    try:
        return response.json()
    except ValueError as exc:
        raise SourceBadResponse(f"{name}: the answer is not JSON: {response.text[:200]!r}") from exc
