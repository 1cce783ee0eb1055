"""`POST /slack/events` for the Starlette app served by uvicorn.

Events API deliveries (JSON) are dispatched on the event loop: bolt acks them before any listener
runs, `auth.test` was done when the App was built, our middleware only checks an in-memory set,
and listeners only hand off — a dispatch costs about 0.3 ms (measured; see docs/slack.md), less
than a hop to a thread under a burst. Interactivity payloads go through Starlette's thread pool
instead, because bolt waits there (polling) until the listener has called `ack()`.
"""

from __future__ import annotations

from slack_bolt import App, BoltRequest
from slack_bolt.adapter.starlette.handler import to_starlette_response
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["slack_routes"]


def slack_routes(app: App, path: str = "/slack/events") -> list[Route]:
    """Routes to mount next to /health and /metrics."""

    async def events(request: Request) -> Response:
        body = await request.body()
        bolt_request = BoltRequest(
            body=body.decode("utf-8", errors="replace"),
            query=dict(request.query_params),
            headers=dict(request.headers.items()),
        )
        if request.headers.get("content-type", "").startswith("application/json"):
            return to_starlette_response(app.dispatch(bolt_request))
        return to_starlette_response(await run_in_threadpool(app.dispatch, bolt_request))

    return [Route(path, events, methods=["POST"])]
