"""Alertmanager webhook: firing alerts become `Anomaly(kind="alert")` like any other finding.

`alerts_to_anomalies(payload)` is the pure translation (Alertmanager webhook payload version 4);
`alertmanager_route(token=..., on_alerts=...)` is a Starlette `Route` the web app mounts. Requests
must carry `Authorization: Bearer <ALERTMANAGER_TOKEN>` (configure `http_config.authorization`
in Alertmanager's receiver). Resolved alerts are acknowledged and ignored.

The service of an alert is its `service` label, else `job`, else `app`, else "" (the caller maps it).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from monitoring.detect import Anomaly
from monitoring.events import parse_timestamp
from monitoring.redact import redact

__all__ = ["alertmanager_route", "alerts_to_anomalies"]

log = logging.getLogger(__name__)

_SEVERITY = {
    "critical": "critical",
    "page": "critical",
    "error": "high",
    "high": "high",
    "warning": "medium",
    "warn": "medium",
    "medium": "medium",
    "info": "low",
    "low": "low",
}
# Labels that change between firings of the same problem (instances, pods) are not identity.
_VOLATILE = {"instance", "pod", "pod_name", "container_id", "replica", "endpoint"}


def _service(labels: Mapping[str, str]) -> str:
    return str(labels.get("service") or labels.get("job") or labels.get("app") or "")


def alerts_to_anomalies(payload: Mapping[str, Any], *, now: datetime) -> list[tuple[str, Anomaly]]:
    """(service label, anomaly) for every firing alert; `ValueError` when the payload is malformed."""
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise ValueError("expected an Alertmanager webhook payload with an 'alerts' list")
    out: list[tuple[str, Anomaly]] = []
    for alert in alerts:
        if not isinstance(alert, Mapping):
            raise ValueError("every alert must be a JSON object")
        if alert.get("status", "firing") != "firing":
            continue
        labels = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
        annotations = {str(k): str(v) for k, v in (alert.get("annotations") or {}).items()}
        name = labels.get("alertname", "alert")
        identity = sorted((k, v) for k, v in labels.items() if k not in _VOLATILE)
        fingerprint = hashlib.sha256(repr(("alert", identity)).encode()).hexdigest()[:24]
        summary = redact(annotations.get("summary") or annotations.get("description") or name)
        started = parse_timestamp(alert.get("startsAt")) or now
        samples = tuple(
            redact(text) for text in (annotations.get("summary"), annotations.get("description")) if text
        )
        out.append(
            (
                _service(labels),
                Anomaly(
                    kind="alert",
                    fingerprint=fingerprint,
                    severity=_SEVERITY.get(labels.get("severity", "").lower(), "high"),
                    count=1,
                    template=f"{name}: {summary}",
                    first_seen=started,
                    last_seen=max(started, now),
                    samples=samples or (name,),
                    logger="alertmanager",
                    title=f"{name}: {summary}"[:200],
                ),
            )
        )
    return out


def alertmanager_route(
    *,
    token: str,
    on_alerts: Callable[[list[tuple[str, Anomaly]]], object],
    path: str = "/alertmanager",
    clock: Callable[[], datetime] | None = None,
) -> Route:
    """A POST route for Alertmanager; `on_alerts` runs in a worker thread with the firing alerts."""
    from core.store.models import utcnow

    now = clock or utcnow

    async def receive(request: Request) -> JSONResponse:
        given = request.headers.get("authorization", "")
        expected = f"Bearer {token}"
        if not token or not hmac.compare_digest(given.encode(), expected.encode()):
            return JSONResponse({"error": "missing or wrong bearer token"}, status_code=401)
        try:
            payload = await request.json()
            alerts = alerts_to_anomalies(payload, now=now())
        except ValueError as exc:
            return JSONResponse({"error": f"bad Alertmanager payload: {exc}"}, status_code=400)
        if alerts:
            await run_in_threadpool(on_alerts, alerts)
        log.info("alertmanager: %d firing alert(s) accepted", len(alerts))
        return JSONResponse({"accepted": len(alerts)})

    return Route(path, receive, methods=["POST"])
