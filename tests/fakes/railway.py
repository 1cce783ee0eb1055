"""A scriptable fake of Railway's public GraphQL API on 127.0.0.1 (reference/railway.md §5, §8).

Serves `POST /graphql/v2` with `deploymentLogs`, `environmentLogs`, `buildLogs`, `deployments`,
`deployment(id)` and `projectToken`. Every document is parsed, validated and executed by
graphql-core against `railway_schema.graphql`, a subset of Railway's real schema (its header names
the source commit): an unknown field, argument, input field or enum value, a wrong variable type or
a `DateTime` that is not RFC 3339 is a GraphQL error, as from Railway.

Tokens: `Authorization: Bearer` for `bearer_tokens`, `Project-Access-Token` for `project_tokens`;
a wrong token gets HTTP 200 with `{"errors": [{"message": "Not Authorized"}]}` as the real API
does. Deployment statuses follow scripted sequences: each `deployment(id)` read returns the current
status and then advances one step (`QUEUED → BUILDING → DEPLOYING → SUCCESS`), staying on the last;
`deployments` shows the current status without advancing. A scripted status outside Railway's
`DeploymentStatus` enum cannot be served (graphql-core refuses to serialize it).
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
from pathlib import Path
from typing import Any

from graphql import GraphQLError, GraphQLScalarType, StringValueNode, ValueNode, build_schema, graphql_sync

from tests.fakes._http import Failure, FakeServer, LocalServer, Reply, Request

__all__ = ["Failure", "FakeDeployment", "FakeRailway"]

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
            "deploymentStopped": False,
            "suggestAddServiceDomain": False,
        }


class FakeRailway(FakeServer):
    """The fake server; see the module docstring."""

    def __init__(
        self, *, bearer_tokens: set[str] | None = None, project_tokens: set[str] | None = None
    ) -> None:
        self.bearer_tokens = set(bearer_tokens or {"railway-test-token"})
        self.project_tokens = set(project_tokens or set())
        self.logs: dict[str, list[dict[str, Any]]] = {}
        self.environment_logs: dict[str, list[dict[str, Any]]] = {}
        self.build_logs: dict[str, list[dict[str, Any]]] = {}
        self.deployments_by_id: dict[str, FakeDeployment] = {}
        self._lock = threading.Lock()
        self._clock = _EPOCH
        self._server = LocalServer(self._handle)

    @property
    def url(self) -> str:
        """The GraphQL endpoint to configure as `railway.endpoint`."""
        return f"{self._server.base_url}/graphql/v2"

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
            self.deployments_by_id[deployment_id] = deployment
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
        # Parse, validate against Railway's schema, coerce the variables and select only the asked
        # fields, as the real server does: an unknown field, argument, type or status fails here.
        with self._lock:
            result = graphql_sync(
                _SCHEMA,
                str(body.get("query", "")),
                root_value=self,
                variable_values=body.get("variables") or {},
                operation_name=body.get("operationName"),
            )
        answer: dict[str, Any] = {"data": result.data}
        if result.errors:
            answer["errors"] = [{"message": error.message} for error in result.errors]
        return Reply(200, answer)

    # -- resolvers (graphql-core calls the root value's attributes with (info, **arguments)) ----
    def deploymentLogs(self, _info: Any, deploymentId: str, **args: Any) -> list[dict[str, Any]]:
        return _limited(self.logs.get(deploymentId, []), args.get("startDate"), args.get("limit"))

    def buildLogs(self, _info: Any, deploymentId: str, **args: Any) -> list[dict[str, Any]]:
        return _limited(self.build_logs.get(deploymentId, []), args.get("startDate"), args.get("limit"))

    def environmentLogs(self, _info: Any, environmentId: str, **args: Any) -> list[dict[str, Any]]:
        """A window around `anchorDate` (default: now), as Railway defines it.

        `afterLimit` lines from the anchor on, up to `afterDate` (the window's upper bound);
        `beforeLimit` lines up to the anchor, from `beforeDate` (its lower bound).
        """
        entries = self.environment_logs.get(environmentId, [])
        anchor = _instant(args.get("anchorDate")) or datetime.now(UTC)
        if args.get("afterLimit") is not None:
            upper = _instant(args.get("afterDate"))
            chosen = [e for e in entries if anchor <= _stamp(e) and (upper is None or _stamp(e) <= upper)]
            return chosen[: args["afterLimit"]]
        lower = _instant(args.get("beforeDate"))
        chosen = [e for e in entries if _stamp(e) <= anchor and (lower is None or lower <= _stamp(e))]
        limit = args.get("beforeLimit")
        return chosen[-limit:] if limit else chosen

    def deployments(self, _info: Any, input: dict[str, Any], **args: Any) -> dict[str, Any]:
        statuses = (input.get("status") or {}).get("in") or None
        found = []
        for deployment in sorted(self.deployments_by_id.values(), key=lambda d: d.created_at, reverse=True):
            if any(
                input.get(key) and input[key] != getattr(deployment, attr)
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
        first = args.get("first")
        found = found[:first] if first else found
        edges = [{"cursor": d.id, "node": d.node()} for d in found]
        return {"edges": edges, "pageInfo": {"hasNextPage": False, "hasPreviousPage": False}}

    def deployment(self, _info: Any, id: str) -> dict[str, Any]:
        deployment = self.deployments_by_id.get(id)
        if deployment is None:
            raise LookupError("Deployment not found")
        node = deployment.node()
        deployment.advance()
        return node

    def projectToken(self, _info: Any) -> dict[str, Any]:
        return {"id": "pt-1", "projectId": "p-1", "environmentId": "e-1"}


def _instant(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", str(value)).replace("Z", "+00:00"))


def _stamp(entry: dict[str, Any]) -> datetime:
    stamp = _instant(entry["timestamp"])
    assert stamp is not None
    return stamp


def _limited(entries: list[dict[str, Any]], start: Any, limit: int | None) -> list[dict[str, Any]]:
    if start:
        since = _instant(start)
        assert since is not None
        chosen = [e for e in entries if _stamp(e) >= since]
        return chosen[:limit] if limit else chosen
    return entries[-limit:] if limit else list(entries)


# RFC 3339 date-time with a zone, as Railway's DateTime scalar demands (fraction digits optional).
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$")


def _datetime_value(value: Any) -> str:
    if not isinstance(value, str) or not _DATETIME.match(value):
        raise GraphQLError(f"DateTime cannot represent an invalid date-time-string {value!r}.")
    return value


def _datetime_literal(node: ValueNode, _variables: Any = None) -> str:
    if not isinstance(node, StringValueNode):
        raise GraphQLError("DateTime cannot represent a non string value.")
    return _datetime_value(node.value)


_SCHEMA = build_schema((Path(__file__).parent / "railway_schema.graphql").read_text())
_DATETIME_TYPE = _SCHEMA.type_map["DateTime"]
assert isinstance(_DATETIME_TYPE, GraphQLScalarType)
# graphql-core 3.3 coerces through `coerce_input_value`; older versions call `parse_value`.
_DATETIME_TYPE.coerce_input_value = _datetime_value
_DATETIME_TYPE.parse_value = _datetime_value  # type: ignore[method-assign]
_DATETIME_TYPE.parse_literal = _datetime_literal  # type: ignore[method-assign,assignment]
