"""Log sources: `file:`, `railway:`, `loki:`, `phoenix:`, `cmd:`. Only these modules do I/O in `monitoring`.

`open_source(spec, ...)` builds the right one from a service's `source` setting. See
`monitoring.sources.base` for the read contract and the error tree.
"""

from __future__ import annotations

import httpx

from core.settings import LokiTarget, PhoenixTarget, Secrets
from monitoring.sources.base import (
    Batch,
    LogSource,
    SourceAuthError,
    SourceBadResponse,
    SourceError,
    SourceRateLimited,
    SourceUnavailable,
)
from monitoring.sources.command import CommandSource
from monitoring.sources.file import FileSource
from monitoring.sources.loki import LokiSource
from monitoring.sources.phoenix import LatencyRule, PhoenixSource
from monitoring.sources.railway import RailwaySource

__all__ = [
    "Batch",
    "CommandSource",
    "FileSource",
    "LogSource",
    "LokiSource",
    "PhoenixSource",
    "RailwaySource",
    "SourceAuthError",
    "SourceBadResponse",
    "SourceError",
    "SourceRateLimited",
    "SourceUnavailable",
    "open_source",
]


def open_source(
    spec: str,
    *,
    client: httpx.Client | None = None,
    railway_endpoint: str = "https://backboard.railway.com/graphql/v2",
    railway_secrets: Secrets | None = None,  # tokens for Railway and Loki (LOKI_TOKEN)
    command_timeout: float = 60.0,
    phoenix: PhoenixTarget | None = None,
    loki: LokiTarget | None = None,
) -> LogSource:
    """The source for `spec`; `ValueError` names the expected shapes when the spec is malformed."""
    kind, _, rest = spec.partition(":")
    if kind == "file" and rest:
        return FileSource(rest)
    if kind == "cmd" and rest:
        return CommandSource(spec, timeout=command_timeout)
    if kind in {"railway", "loki", "phoenix"}:
        if client is None:
            raise ValueError(f"source {spec!r} needs an HTTP client")
        if kind == "loki":
            secrets = railway_secrets or Secrets()
            token = secrets.loki_token.get_secret_value() if secrets.loki_token else ""
            overlap = (loki or LokiTarget()).overlap_seconds
            return LokiSource(spec, client=client, token=token, overlap_seconds=overlap)
        if kind == "phoenix":
            return _phoenix(spec, client, phoenix or PhoenixTarget(), railway_secrets or Secrets())
        return RailwaySource(
            spec,
            client=client,
            endpoint=railway_endpoint,
            secrets=railway_secrets or Secrets(),
        )
    raise ValueError(
        f"unknown log source {spec!r}: expected file:PATH, railway:deployment=ID, "
        "railway:environment=ID, loki:URL?query=LOGQL[&tenant=ORG], phoenix:project=NAME or cmd:COMMAND"
    )


def _phoenix(spec: str, client: httpx.Client, target: PhoenixTarget, secrets: Secrets) -> PhoenixSource:
    key = secrets.phoenix_api_key
    return PhoenixSource(
        spec,
        client=client,
        endpoint=target.endpoint,
        api_key=key.get_secret_value() if key else None,
        lookback_seconds=target.lookback_seconds,
        rule=LatencyRule(target.slow_factor, target.slow_min_ms, target.min_samples),
    )
