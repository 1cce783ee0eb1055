"""The Alertmanager webhook route: bearer token, payload translation, hand-off to the callback."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.applications import Starlette

from monitoring.alertmanager import alertmanager_route, alerts_to_anomalies
from monitoring.detect import Anomaly

NOW = datetime(2026, 10, 20, 3, 0, tzinfo=UTC)
PAYLOAD = {
    "version": "4",
    "status": "firing",
    "receiver": "fixbot",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "HighErrorRate",
                "service": "api",
                "severity": "critical",
                "instance": "10.0.0.1:80",
            },
            "annotations": {"summary": "5xx above 5%", "description": "token=abcdef123456 leaked"},
            "startsAt": "2026-10-20T02:55:00Z",
        },
        {"status": "resolved", "labels": {"alertname": "Old"}, "annotations": {}},
    ],
}


def test_firing_alerts_become_anomalies() -> None:
    """Firing alerts become kind=alert with severity, service and redacted samples; resolved are ignored."""
    [(service, anomaly)] = alerts_to_anomalies(PAYLOAD, now=NOW)
    assert ("api", "alert", "critical") == (service, anomaly.kind, anomaly.severity)
    assert "abcdef123456" not in " ".join(anomaly.samples)
    other_instance = {**PAYLOAD["alerts"][0], "labels": {**PAYLOAD["alerts"][0]["labels"], "instance": "b"}}  # type: ignore[dict-item]
    [(_, again)] = alerts_to_anomalies({"alerts": [other_instance]}, now=NOW)
    assert anomaly.fingerprint == again.fingerprint


def test_route_checks_the_bearer_token_and_hands_alerts_over() -> None:
    """Wrong token → 401, bad payload → 400, good request → the callback gets the alerts."""
    received: list[list[tuple[str, Anomaly]]] = []
    app = Starlette(routes=[alertmanager_route(token="s3cret", on_alerts=received.append, clock=lambda: NOW)])

    async def post(body: Any, token: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://fixbot") as client:
            return await client.post("/alertmanager", json=body, headers={"Authorization": f"Bearer {token}"})

    assert 401 == asyncio.run(post(PAYLOAD, "nope")).status_code
    assert 400 == asyncio.run(post({"x": 1}, "s3cret")).status_code
    response = asyncio.run(post(PAYLOAD, "s3cret"))
    assert (200, {"accepted": 1}) == (response.status_code, response.json())
    assert [["HighErrorRate: 5xx above 5%"]] == [[a.template for _, a in batch] for batch in received]
