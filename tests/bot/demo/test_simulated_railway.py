"""The demo's simulated Railway speaks Railway's wire format and refuses bad input clearly."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bot.demo.simulated_railway import SimulatedRailway
from monitoring.railway_api import RailwayAuthError, RailwayClient, RailwayQueryError, auth_headers


@pytest.fixture
def railway() -> Iterator[SimulatedRailway]:
    with SimulatedRailway() as fake:
        yield fake


@pytest.fixture
def client(railway: SimulatedRailway) -> Iterator[RailwayClient]:
    with httpx.Client(timeout=5.0, trust_env=False) as http:
        yield RailwayClient(http, endpoint=railway.endpoint, headers=auth_headers(railway.secrets()))


def test_status_advances_one_step_per_poll(railway: SimulatedRailway, client: RailwayClient) -> None:
    """Each deployment(id) query moves one status on, and the last status repeats."""
    deployment = railway.deploy("3f2c1ab9d4e5", ["BUILDING", "SUCCESS"])

    seen = [client.deployment(deployment.id)["status"] for _ in range(3)]

    assert ["BUILDING", "SUCCESS", "SUCCESS"] == seen


def test_list_is_newest_first_and_filtered_by_service(
    railway: SimulatedRailway, client: RailwayClient
) -> None:
    """deployments(input:) lists the target service's deployments, newest first, with meta.commitHash."""
    railway.deploy("aaaaaaa1111", ["SUCCESS"])
    railway.deploy("bbbbbbb2222", ["QUEUED"])
    target = railway.target()

    nodes = client.deployments(
        project_id=target.project_id, environment_id=target.environment_id, service_id=target.service_id
    )
    other = client.deployments(project_id="p", environment_id="e", service_id="s-other")

    assert ["bbbbbbb2222", "aaaaaaa1111"] == [n["meta"]["commitHash"] for n in nodes]
    assert [] == other


def test_wrong_token_gets_not_authorized(railway: SimulatedRailway) -> None:
    """A token the server does not know gets Railway's "Not Authorized" in an HTTP 200."""
    with httpx.Client(trust_env=False) as http:
        client = RailwayClient(http, endpoint=railway.endpoint, headers={"Authorization": "Bearer nope"})
        with pytest.raises(RailwayAuthError, match="Not Authorized"):
            client.deployment("d-1")


def test_unknown_field_and_deployment_are_errors(railway: SimulatedRailway, client: RailwayClient) -> None:
    """Unknown queries and unknown deployment ids come back as GraphQL errors."""
    with pytest.raises(RailwayQueryError, match="simulated Railway"):
        client.query("query { me { id } }")
    with pytest.raises(RailwayQueryError, match="d-404 not found"):
        client.deployment("d-404")


def test_invalid_json_is_a_400(railway: SimulatedRailway) -> None:
    """A body that is not JSON is refused with 400 and a message."""
    response = httpx.post(railway.endpoint, content=b"{not json", trust_env=False)

    assert 400 == response.status_code
    assert "Invalid JSON body" in response.text


def test_deployment_without_statuses_is_refused(railway: SimulatedRailway) -> None:
    """Scripting a deployment needs at least one status; the error shows an example."""
    with pytest.raises(ValueError, match=r"\['SUCCESS'\]"):
        railway.deploy("3f2c1ab9d4e5", [])
