"""`POST /github/webhook`: GitHub tells the bot a fix's pull request changed; the bot polls it now.

Mounted only when GITHUB_WEBHOOK_SECRET is set. A delivery with a wrong or missing signature gets
401 and is not read further; a verified one naming a fixbot/<fix_id> branch hands the fix id to
`on_fix` (which polls on a worker thread) and is answered 202 at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fixes.delivery.webhook import fix_id_of_event, verify_signature

__all__ = ["github_webhook_route"]


def github_webhook_route(*, secret: str, on_fix: Callable[[str], object]) -> Route:
    async def receive(request: Request) -> Response:
        body = await request.body()
        if not verify_signature(secret, body, request.headers.get("x-hub-signature-256", "")):
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        event = request.headers.get("x-github-event", "")
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        fix_id = fix_id_of_event(event, payload) if isinstance(payload, dict) else None
        if fix_id is None:
            return JSONResponse({"ignored": event or "unknown event"}, status_code=202)
        on_fix(fix_id)
        return JSONResponse({"following": fix_id}, status_code=202)

    return Route("/github/webhook", receive, methods=["POST"])
