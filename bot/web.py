"""The HTTP surface: `/health`, `/metrics`, and (when Slack is configured) `/slack/events`.

Built by `create_web_app(...)` from explicit parts; the health checks are plain callables so each
subsystem (database, scheduler, Slack auth, circuit breaker) contributes one without this module
knowing about it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

__all__ = ["HealthCheck", "create_web_app"]

# A health check returns "ok" or a short description of what is wrong.
HealthCheck = Callable[[], str]


def health_report(checks: Mapping[str, HealthCheck]) -> tuple[int, dict[str, str]]:
    """Run every check; 200 when all say "ok" (or start with "ok"), else 503."""
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            results[name] = check()
        except Exception as exc:
            results[name] = f"error: {type(exc).__name__}: {exc}"
    healthy = all(value == "ok" or value.startswith(("ok", "disabled")) for value in results.values())
    return (200 if healthy else 503), results


def create_web_app(
    *,
    checks: Mapping[str, HealthCheck],
    registry: CollectorRegistry,
    extra_routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """The ASGI application served by uvicorn."""

    async def health(_request: Request) -> Response:
        status, results = health_report(checks)
        body = {"status": "ok" if status == 200 else "unhealthy", **results}
        return JSONResponse(body, status_code=status)

    async def metrics(_request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    routes: list[BaseRoute] = [
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *extra_routes,
    ]
    return Starlette(routes=routes)
