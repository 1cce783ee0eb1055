"""The HTTP surface: `/health`, `/metrics`, and (when Slack is configured) `/slack/events`.

Built by `create_web_app(...)` from explicit parts; the health checks are plain callables so each
subsystem (database, scheduler, Slack auth, circuit breaker) contributes one without this module
knowing about it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

__all__ = ["HealthCheck", "create_web_app"]

# A health check returns "ok" or a short description of what is wrong.
HealthCheck = Callable[[], str]


def health_report(
    checks: Mapping[str, HealthCheck], degrading: Collection[str] = ()
) -> tuple[int, dict[str, str]]:
    """Run every check; 200 when all say "ok" (or start with "ok"), else 503.

    A failing check named in `degrading` does not make the report fail: the process is up and
    useful without it (Slack not installed yet, Socket Mode reconnecting); `status` says "degraded".
    """
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            results[name] = check()
        except Exception as exc:
            results[name] = f"error: {type(exc).__name__}: {exc}"
    failing = [name for name, value in results.items() if not _passes(value)]
    if not failing:
        return 200, {"status": "ok", **results}
    if all(name in degrading for name in failing):
        return 200, {"status": "degraded", **results}
    return 503, {"status": "unhealthy", **results}


def _passes(value: str) -> bool:
    return value == "ok" or value.startswith(("ok", "disabled"))


# Checks whose failure leaves the bot up but degraded: Railway's deploy healthcheck (/health) must
# pass before the Slack app is installed; /ready stays strict for whoever needs "fully working".
DEGRADING = ("slack", "socket_mode")


def create_web_app(
    *,
    checks: Mapping[str, HealthCheck],
    registry: CollectorRegistry,
    extra_routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """The ASGI application served by uvicorn.

    `/health`: up — 200 unless the database or the scheduler fails (Slack problems make it
    "degraded", still 200). `/ready`: 200 only when every check passes.
    """

    async def health(_request: Request) -> Response:
        status, body = health_report(checks, DEGRADING)
        return JSONResponse(body, status_code=status)

    async def ready(_request: Request) -> Response:
        status, body = health_report(checks)
        return JSONResponse(body, status_code=status)

    async def metrics(_request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    routes: list[BaseRoute] = [
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *extra_routes,
    ]
    return Starlette(routes=routes)
