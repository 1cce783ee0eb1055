"""`POST /slack/events` for the Starlette app served by uvicorn.

bolt's own Starlette adapter calls the synchronous `App.dispatch` on the event loop; here it runs
in Starlette's thread pool instead, so one slow dispatch never stalls other requests' acks.
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
        bolt_response = await run_in_threadpool(app.dispatch, bolt_request)
        return to_starlette_response(bolt_response)

    return [Route(path, events, methods=["POST"])]
