"""`POST /slack/events` for the Starlette app served by uvicorn.

The endpoint is reachable by anyone, so a request is checked in the order that costs least before
it costs anything: its declared size (413 above `MAX_BODY_BYTES`, before a byte is read), the body
read with the same cap (a chunked upload without a length), then Slack's signature over the raw
bytes (401 for a missing, non-numeric or stale timestamp and for a wrong signature), and only then
is the body parsed (400 when a signed body is not what its content type says). Nothing of a
request's body is logged, at any stage: a rejected request logs one line with the reason.

Events API deliveries (JSON) are dispatched on the event loop: bolt acks them before any listener
runs, `auth.test` was done when the App was built, our middleware only checks an in-memory set,
and listeners only hand off — a dispatch costs about 0.3 ms (measured; see docs/slack.md), less
than a hop to a thread under a burst. Interactivity payloads go through Starlette's thread pool
instead, because bolt waits there (polling) until the listener has called `ack()`.
"""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import parse_qs

from slack_bolt import App, BoltRequest
from slack_bolt.adapter.starlette.handler import to_starlette_response
from slack_sdk.signature import SignatureVerifier
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["MAX_BODY_BYTES", "slack_routes"]

log = logging.getLogger(__name__)

# Slack's largest deliveries (a long message with blocks, a modal submission) are tens of KB.
MAX_BODY_BYTES = 1024 * 1024
# Slack's own rule: a request older than five minutes is a replay.
_MAX_AGE_SECONDS = 300


class _TooLarge(Exception):
    pass


async def _read_capped(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _signature_problem(verifier: SignatureVerifier | None, body: bytes, request: Request) -> str | None:
    """Why the request is not Slack's, or None when its signature is valid and fresh."""
    if verifier is None:
        # Without a signing secret anyone could compute a matching signature (HMAC with an
        # empty key): fail closed.
        return "no signing secret is configured"
    timestamp = request.headers.get("x-slack-request-timestamp", "")
    signature = request.headers.get("x-slack-signature", "")
    if not timestamp.isascii() or not timestamp.isdigit():
        return "missing or non-numeric timestamp"
    if abs(time.time() - int(timestamp)) > _MAX_AGE_SECONDS:
        return "stale timestamp"
    if not signature or not verifier.is_valid(body=body, timestamp=timestamp, signature=signature):
        return "bad signature"
    return None


def _malformed(text: str, content_type: str) -> bool:
    """Whether a signed body is not what its content type says (bolt would raise on it)."""
    try:
        if content_type.startswith("application/json"):
            return not isinstance(json.loads(text), dict)
        payload = parse_qs(text).get("payload")
        return payload is not None and not isinstance(json.loads(payload[0]), dict)
    except ValueError:
        return True


def slack_routes(app: App, path: str = "/slack/events", *, signing_secret: str) -> list[Route]:
    """Routes to mount next to /health and /metrics."""
    verifier = SignatureVerifier(signing_secret) if signing_secret else None

    async def events(request: Request) -> Response:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            log.warning("Slack endpoint: refused a %s-byte request (limit %d)", declared, MAX_BODY_BYTES)
            return JSONResponse({"error": "request too large"}, status_code=413)
        try:
            body = await _read_capped(request, MAX_BODY_BYTES)
        except _TooLarge:
            log.warning("Slack endpoint: refused a request over %d bytes", MAX_BODY_BYTES)
            return JSONResponse({"error": "request too large"}, status_code=413)
        problem = _signature_problem(verifier, body, request)
        if problem is not None:
            log.warning("Slack endpoint: refused a request (%s)", problem)
            return JSONResponse({"error": "invalid request"}, status_code=401)
        text = body.decode("utf-8", errors="replace")
        content_type = request.headers.get("content-type", "")
        if _malformed(text, content_type):
            log.warning("Slack endpoint: refused a signed request whose body does not parse")
            return JSONResponse({"error": "malformed body"}, status_code=400)
        bolt_request = BoltRequest(
            body=text, query=dict(request.query_params), headers=dict(request.headers.items())
        )
        if content_type.startswith("application/json"):
            return to_starlette_response(app.dispatch(bolt_request))
        return to_starlette_response(await run_in_threadpool(app.dispatch, bolt_request))

    return [Route(path, events, methods=["POST"])]
