"""A scriptable fake of Railway's public GraphQL API on 127.0.0.1 (reference/railway.md §5, §8).

Serves `POST /graphql/v2` with `deploymentLogs`, `environmentLogs`, `buildLogs`, `deployments`,
`deployment(id)` and `serviceInstance { latestDeployment }`, dispatching on `operationName` or the
query's root field. Tokens: `Authorization: Bearer` for `bearer_tokens`, `Project-Access-Token`
for `project_tokens`; a wrong token gets HTTP 200 with `{"errors": [{"message": "Not Authorized"}]}`
as the real API does. Deployment statuses follow scripted sequences: each `deployment(id)` read
returns the current status and then advances one step (`QUEUED → BUILDING → DEPLOYING → SUCCESS`),
staying on the last; `deployments` and `serviceInstance` show the current status without advancing.
`fail_next(Failure(429, headers={"Retry-After": "3"}))` scripts rate limits or broken answers.

    with FakeRailway(bearer_tokens={"tok"}) as railway:
        railway.add_log("d-1", "boom", severity="error")
        railway.add_deployment("d-9", ["QUEUED", "BUILDING", "SUCCESS"], commit="3f2c")
        ... endpoint=railway.url ...
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes._http import Failure, LocalServer, Reply, Request

__all__ = ["Failure", "FakeDeployment", "FakeRailway"]

_ROOT_FIELD = re.compile(r"{\s*(\w+)")
_EPOCH = datetime(2026, 10, 20, 2, 30, tzinfo=UTC)


@dataclass
class FakeDeployment:
    id: str
    statuses: list[str]
    meta: dict[str, Any] = field(default_factory=dict)
    service_id: str = "s-1"
    environment_id: str = "e-1"
    project_id: str = "p-1"
    created_at: str = ""
    step: int = 0

    @property
    def status(self) -> str:
        return self.statuses[min(self.step, len(self.statuses) - 1)]

    def advance(self) -> None:
        self.step = min(self.step + 1, len(self.statuses) - 1)

    def node(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "createdAt": self.created_at,
            "updatedAt": self.created_at,
            "statusUpdatedAt": self.created_at,
            "meta": self.meta,
            "serviceId": self.service_id,
            "environmentId": self.environment_id,
            "projectId": self.project_id,
            "canRollback": True,
            "canRedeploy": True,
        }


class FakeRailway:
    """The fake server; see the module docstring."""

    def __init__(
        self, *, bearer_tokens: set[str] | None = None, project_tokens: set[str] | None = None
    ) -> None:
        self.bearer_tokens = set(bearer_tokens or {"railway-test-token"})
        self.project_tokens = set(project_tokens or set())
        self.logs: dict[str, list[dict[str, Any]]] = {}
        self.environment_logs: dict[str, list[dict[str, Any]]] = {}
        self.build_logs: dict[str, list[dict[str, Any]]] = {}
        self.deployments: dict[str, FakeDeployment] = {}
        self._lock = threading.Lock()
        self._clock = _EPOCH
        self._server = LocalServer(self._handle)

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> FakeRailway:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    @property
    def url(self) -> str:
        """The GraphQL endpoint to configure as `railway.endpoint`."""
        return f"{self._server.base_url}/graphql/v2"

    @property
    def requests(self) -> list[Request]:
        return self._server.requests

    def fail_next(self, *failures: Failure) -> None:
        self._server.fail_next(*failures)

    # -- scripting ---------------------------------------------------------------------------
    def add_log(
        self,
        deployment_id: str,
        message: str,
        *,
        timestamp: str | None = None,
        severity: str | None = "info",
        attributes: dict[str, str] | None = None,
        environment_id: str = "e-1",
    ) -> dict[str, Any]:
        """Append a runtime log line (also visible in its environment's logs)."""
        with self._lock:
            if timestamp is None:
                self._clock += timedelta(milliseconds=250)
                timestamp = self._clock.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
            entry = {
                "timestamp": timestamp,
                "message": message,
                "severity": severity,
                "attributes": [{"key": k, "value": v} for k, v in (attributes or {}).items()],
                "tags": {"deploymentId": deployment_id, "environmentId": environment_id},
            }
            self.logs.setdefault(deployment_id, []).append(entry)
            self.environment_logs.setdefault(environment_id, []).append(entry)
            return entry

    def add_deployment(
        self,
        deployment_id: str,
        statuses: list[str],
        *,
        commit: str = "",
        meta: dict[str, Any] | None = None,
        service_id: str = "s-1",
        environment_id: str = "e-1",
        project_id: str = "p-1",
    ) -> FakeDeployment:
        """A deployment whose status moves along `statuses` one step per `deployment(id)` read."""
        with self._lock:
            self._clock += timedelta(seconds=1)
            deployment = FakeDeployment(
                id=deployment_id,
                statuses=list(statuses),
                meta={**({"commitHash": commit} if commit else {}), **(meta or {})},
                service_id=service_id,
                environment_id=environment_id,
                project_id=project_id,
                created_at=self._clock.isoformat().replace("+00:00", "Z"),
            )
            self.deployments[deployment_id] = deployment
            return deployment

    # -- protocol ----------------------------------------------------------------------------
    def _authorized(self, request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        if auth.startswith("Bearer ") and auth[7:] in self.bearer_tokens:
            return True
        return request.headers.get("project-access-token", "") in self.project_tokens

    def _handle(self, request: Request) -> Reply:
        if request.method != "POST" or request.path != "/graphql/v2":
            return Reply(404, {"error": "not found"})
        try:
            body = request.json()
        except ValueError:
            return Reply(400, {"errors": [{"message": "invalid JSON body"}]})
        if not self._authorized(request):
            return Reply(200, {"errors": [{"message": "Not Authorized"}], "data": None})
        query = str(body.get("query", ""))
        variables = body.get("variables") or {}
        match = _ROOT_FIELD.search(query[query.find("{") :]) if "{" in query else None
        root = match.group(1) if match else ""
        handlers = {
            "deploymentLogs": self._deployment_logs,
            "buildLogs": self._build_logs,
            "environmentLogs": self._environment_logs,
            "deployments": self._deployments,
            "deployment": self._deployment,
            "serviceInstance": self._service_instance,
        }
        handler = handlers.get(root)
        if handler is None:
            return Reply(200, {"errors": [{"message": f"Cannot query field {root!r} on type Query"}]})
        with self._lock:
            return handler(variables)

    @staticmethod
    def _window(entries: list[dict[str, Any]], start: str | None, limit: int | None) -> list[dict[str, Any]]:
        if start:
            chosen = [e for e in entries if e["timestamp"] >= start]
            return chosen[:limit] if limit else chosen
        return entries[-limit:] if limit else list(entries)

    @staticmethod
    def _public(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in e.items() if k != "tags"} | {"tags": e["tags"]} for e in entries]

    def _deployment_logs(self, variables: dict[str, Any]) -> Reply:
        entries = self.logs.get(str(variables.get("deploymentId")), [])
        chosen = self._window(entries, variables.get("startDate"), variables.get("limit"))
        return Reply(200, {"data": {"deploymentLogs": self._public(chosen)}})

    def _build_logs(self, variables: dict[str, Any]) -> Reply:
        entries = self.build_logs.get(str(variables.get("deploymentId")), [])
        chosen = self._window(entries, variables.get("startDate"), variables.get("limit"))
        return Reply(200, {"data": {"buildLogs": self._public(chosen)}})

    def _environment_logs(self, variables: dict[str, Any]) -> Reply:
        entries = self.environment_logs.get(str(variables.get("environmentId")), [])
        chosen = self._window(entries, variables.get("afterDate"), variables.get("afterLimit"))
        return Reply(200, {"data": {"environmentLogs": self._public(chosen)}})

    def _deployments(self, variables: dict[str, Any]) -> Reply:
        wanted = variables.get("input") or {}
        statuses = ((wanted.get("status") or {}).get("in")) or None
        found = []
        for deployment in sorted(self.deployments.values(), key=lambda d: d.created_at, reverse=True):
            if any(
                wanted.get(key) and wanted[key] != getattr(deployment, attr)
                for key, attr in (
                    ("serviceId", "service_id"),
                    ("environmentId", "environment_id"),
                    ("projectId", "project_id"),
                )
            ):
                continue
            if statuses and deployment.status not in statuses:
                continue
            found.append(deployment)
        first = variables.get("first")
        found = found[:first] if first else found
        edges = [{"cursor": d.id, "node": d.node()} for d in found]
        page = {"hasNextPage": False, "hasPreviousPage": False}
        return Reply(200, {"data": {"deployments": {"edges": edges, "pageInfo": page}}})

    def _deployment(self, variables: dict[str, Any]) -> Reply:
        deployment = self.deployments.get(str(variables.get("id")))
        if deployment is None:
            return Reply(200, {"errors": [{"message": "Deployment not found"}], "data": None})
        node = deployment.node()
        deployment.advance()
        return Reply(200, {"data": {"deployment": node}})

    def _service_instance(self, variables: dict[str, Any]) -> Reply:
        mine = [
            d
            for d in self.deployments.values()
            if d.service_id == variables.get("serviceId")
            and d.environment_id == variables.get("environmentId")
        ]
        latest = max(mine, key=lambda d: d.created_at, default=None)
        node = {"id": latest.id, "status": latest.status} if latest else None
        return Reply(200, {"data": {"serviceInstance": {"latestDeployment": node}}})
