"""A local stand-in for Railway's GraphQL API, for the offline demo's "simulated deploy" (and tests).

`SimulatedRailway` is a real HTTP server on 127.0.0.1 speaking the shapes in
reference/railway.md §5: `POST /graphql/v2` with `deployments(input:, first:)`, `deployment(id:)`
and `projectToken`; tokens are checked like Railway does (`Project-Access-Token` for project
tokens, `Authorization: Bearer` for account tokens; a bad token is HTTP 200 with
`errors: [{"message": "Not Authorized"}]`). A deployment is scripted as a list of statuses: each
`deployment(id)` query advances one step and the last one repeats. So the bot's real
`fixes.deploy_watch` code follows a simulated deploy end to end without a network.

    with SimulatedRailway() as railway:
        railway.deploy(commit_sha, ["QUEUED", "BUILDING", "DEPLOYING", "SUCCESS"])
        target = railway.target()        # a RailwayTarget pointing at the local endpoint
        secrets = railway.secrets()      # a Secrets with the accepted project token

Every request is recorded in `railway.requests` (headers and body).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from pydantic import SecretStr

from core.settings import RailwayTarget, Secrets

__all__ = ["SimulatedDeployment", "SimulatedRailway"]

_PROJECT, _ENVIRONMENT, _SERVICE = "p-demo", "e-demo", "s-demo"


@dataclass
class SimulatedDeployment:
    """One scripted deployment; `statuses[0]` is what the list shows, each poll advances one."""

    id: str
    commit: str
    statuses: list[str]
    created_at: str = "2026-10-20T08:01:02.345Z"
    appears_after: int = 0  # how many deployment-list queries do not show it yet
    service_id: str = _SERVICE


@dataclass
class _State:
    deployments: list[SimulatedDeployment] = field(default_factory=list)
    project_token: str = "demo-project-token"  # noqa: S105 - a fake token for a local fake
    account_token: str = "demo-account-token"  # noqa: S105 - a fake token for a local fake
    requests: list[dict[str, Any]] = field(default_factory=list)
    list_calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class SimulatedRailway:
    """Railway's GraphQL endpoint on 127.0.0.1 (port chosen by the OS); start with `with` or `start()`."""

    def __init__(self) -> None:
        self._state = _State()
        state = self._state

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return  # the demo prints its own progress

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    self._send(400, {}, json.dumps({"errors": [{"message": "Invalid JSON body"}]}))
                    return
                with state.lock:
                    state.requests.append({"headers": dict(self.headers.items()), "body": body})
                    payload = _answer(state, self.headers, body)
                self._send(200, {"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "999"}, payload)

            def _send(self, status: int, headers: dict[str, str], text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}/graphql/v2"
        self._thread: threading.Thread | None = None

    def start(self) -> SimulatedRailway:
        # A short poll interval keeps shutdown quick (the default waits up to 0.5 s).
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> SimulatedRailway:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # Scripting.

    def deploy(
        self,
        commit: str,
        statuses: Sequence[str] = ("QUEUED", "BUILDING", "DEPLOYING", "SUCCESS"),
        *,
        deployment_id: str = "",
        created_at: str = "",
        appears_after: int = 0,
    ) -> SimulatedDeployment:
        """Script a deployment of `commit` going through `statuses`; returns it."""
        if not statuses:
            raise ValueError("a simulated deployment needs at least one status, e.g. ['SUCCESS']")
        with self._state.lock:
            number = len(self._state.deployments) + 1
            deployment = SimulatedDeployment(
                id=deployment_id or f"d-{number}",
                commit=commit,
                statuses=list(statuses),
                created_at=created_at or f"2026-10-20T08:{number:02d}:00.000Z",
                appears_after=appears_after,
            )
            self._state.deployments.append(deployment)
        return deployment

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self._state.lock:
            return list(self._state.requests)

    @property
    def list_calls(self) -> int:
        with self._state.lock:
            return self._state.list_calls

    def target(self, **overrides: str) -> RailwayTarget:
        """A `RailwayTarget` for the simulated project/environment/service at this endpoint."""
        ids = {"project_id": _PROJECT, "environment_id": _ENVIRONMENT, "service_id": _SERVICE, **overrides}
        return RailwayTarget(endpoint=self.endpoint, **ids)

    def secrets(self, *, account: bool = False) -> Secrets:
        """`Secrets` holding a token this server accepts (project token unless `account`)."""
        if account:
            return Secrets(railway_api_token=SecretStr(self._state.account_token))
        return Secrets(railway_token=SecretStr(self._state.project_token))

    @property
    def project_token(self) -> str:
        return self._state.project_token

    @property
    def account_token(self) -> str:
        return self._state.account_token


def _answer(state: _State, headers: Any, body: dict[str, Any]) -> str:
    project = headers.get("Project-Access-Token")
    bearer = headers.get("Authorization", "")
    if project != state.project_token and bearer != f"Bearer {state.account_token}":
        return _errors("Not Authorized")
    query = str(body.get("query", ""))
    variables = body.get("variables") or {}
    if "projectToken" in query:
        if project is None:
            return _errors("Project token not found")
        return json.dumps({"data": {"projectToken": {"projectId": _PROJECT, "environmentId": _ENVIRONMENT}}})
    if "deployments(" in query:
        return _list(state, variables)
    if "deployment(" in query:
        return _one(state, str(variables.get("id", "")))
    return _errors("Cannot query this field on the simulated Railway")


def _errors(message: str) -> str:
    return json.dumps({"errors": [{"message": message}], "data": None})


def _list(state: _State, variables: dict[str, Any]) -> str:
    state.list_calls += 1
    wanted = (variables.get("input") or {}).get("serviceId")
    edges = [
        {
            "cursor": d.id,
            "node": {
                "id": d.id,
                "status": d.statuses[0],
                "createdAt": d.created_at,
                "meta": {"commitHash": d.commit, "branch": "main"},
            },
        }
        for d in reversed(state.deployments)  # newest first, like Railway
        if state.list_calls > d.appears_after and (not wanted or wanted == d.service_id)
    ]
    return json.dumps({"data": {"deployments": {"edges": edges}}})


def _one(state: _State, deployment_id: str) -> str:
    for d in state.deployments:
        if d.id == deployment_id:
            status = d.statuses.pop(0) if len(d.statuses) > 1 else d.statuses[0]
            node = {"id": d.id, "status": status, "meta": {"commitHash": d.commit}}
            return json.dumps({"data": {"deployment": node}})
    return _errors(f"Deployment {deployment_id} not found")
