"""The fake Railway serves Railway's real schema, and our client's documents agree with it.

`tests/fakes/railway_schema.graphql` is a subset of railwayapp/cli `src/gql/schema.json` (its header
names the commit). These tests pin the facts that subset was checked for, make sure the fake refuses
what Railway refuses, and validate every document the client sends against the schema.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLObjectType,
    build_schema,
    parse,
    validate,
)

from fixes.deploy_watch import TERMINAL_STATUSES, DeployStatus
from monitoring.railway_api import DEPLOYMENT_QUERY, DEPLOYMENTS_QUERY, PROJECT_TOKEN_QUERY
from monitoring.sources.railway import DEPLOYMENT_LOGS, ENVIRONMENT_LOGS
from tests.fakes.railway import FakeRailway

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "fakes" / "railway_schema.graphql"
SCHEMA = build_schema(SCHEMA_FILE.read_text())
HEADERS = {"Authorization": "Bearer railway-test-token"}
# Railway's own watcher endings that are not deployment statuses.
_WATCHER_ENDINGS = {DeployStatus.TIMEOUT, DeployStatus.ERROR, DeployStatus.UNWATCHED}


def _field_types(type_name: str) -> dict[str, str]:
    named = SCHEMA.type_map[type_name]
    assert isinstance(named, GraphQLObjectType | GraphQLInputObjectType)
    return {name: str(field.type) for name, field in named.fields.items()}


def _arguments(field: str) -> dict[str, str]:
    return {name: str(arg.type) for name, arg in SCHEMA.query_type.fields[field].args.items()}  # type: ignore[union-attr]


def test_the_header_names_the_source_commit() -> None:
    """Where the subset came from is written down, so it can be checked again."""
    header = SCHEMA_FILE.read_text().split("\n\n", 1)[0]
    assert "railwayapp/cli" in header
    assert "src/gql/schema.json" in header
    assert "013a43ee1bcdbda9877b23ae24d8fb32c70f9727" in header


def test_the_subset_has_railways_signatures() -> None:
    """Arguments, types and nullability as in Railway's introspected schema at that commit."""
    assert {
        "afterDate": "String",
        "afterLimit": "Int",
        "anchorDate": "String",
        "beforeDate": "String",
        "beforeLimit": "Int",
        "environmentId": "String!",
        "filter": "String",
    } == _arguments("environmentLogs")
    logs = {
        "deploymentId": "String!",
        "endDate": "DateTime",
        "filter": "String",
        "limit": "Int",
        "startDate": "DateTime",
    }
    assert (logs, logs) == (_arguments("deploymentLogs"), _arguments("buildLogs"))
    assert {
        "after": "String",
        "before": "String",
        "first": "Int",
        "input": "DeploymentListInput!",
        "last": "Int",
    } == _arguments("deployments")
    assert {"id": "String!"} == _arguments("deployment")
    assert "DeploymentMeta" == _field_types("Deployment")["meta"]
    assert {"timestamp": "String!", "message": "String!", "severity": "String"}.items() <= _field_types(
        "Log"
    ).items()
    status = SCHEMA.type_map["DeploymentStatus"]
    assert isinstance(status, GraphQLEnumType)
    assert 13 == len(status.values)


def test_every_status_the_client_knows_is_one_of_railways() -> None:
    """The deploy watcher's final and waiting statuses are values of Railway's DeploymentStatus."""
    status = SCHEMA.type_map["DeploymentStatus"]
    assert isinstance(status, GraphQLEnumType)
    known = set(TERMINAL_STATUSES) | {s.value for s in DeployStatus if s not in _WATCHER_ENDINGS}
    assert set() == known - set(status.values)
    assert {"NEEDS_APPROVAL", "WAITING", "SLEEPING"} <= set(status.values)


@pytest.mark.parametrize(
    "document",
    [DEPLOYMENT_LOGS, ENVIRONMENT_LOGS, DEPLOYMENTS_QUERY, DEPLOYMENT_QUERY, PROJECT_TOKEN_QUERY],
    ids=["deploymentLogs", "environmentLogs", "deployments", "deployment", "projectToken"],
)
def test_every_client_document_validates_against_the_schema(document: str) -> None:
    """No field, argument or variable type the client sends is unknown to Railway."""
    assert [] == [error.message for error in validate(SCHEMA, parse(document))]


@pytest.mark.parametrize(
    ("document", "variables", "expected"),
    [
        ('{ environmentLogs(environmentId: "e-1", limit: 5) { message } }', {}, "Unknown argument 'limit'"),
        ('{ deployment(id: "d-1") { id commitHash } }', {}, "Cannot query field 'commitHash'"),
        ('{ deployment(id: "d-1") { id meta { commitHash } } }', {}, "must not have a selection"),
        (
            "query D($input: DeploymentListInput!) { deployments(input: $input) { edges { cursor } } }",
            {"input": {"serviceId": "s-1", "status": {"in": ["DONE"]}}},
            "DONE",
        ),
        (
            "query D($input: DeploymentListInput!) { deployments(input: $input) { edges { cursor } } }",
            {"input": {"service": "s-1"}},
            "service",
        ),
        (
            'query L($s: DateTime) { deploymentLogs(deploymentId: "d-1", startDate: $s) { message } }',
            {"s": "yesterday"},
            "DateTime",
        ),
        (
            'query L($a: DateTime) { environmentLogs(environmentId: "e-1", anchorDate: $a) { message } }',
            {"a": "2026-10-20T02:30:00Z"},
            "DateTime",
        ),
        ('{ serviceInstance(environmentId: "e-1", serviceId: "s-1") { id } }', {}, "serviceInstance"),
    ],
    ids=[
        "unknown-argument",
        "unknown-field",
        "selection-on-scalar",
        "unknown-enum-value",
        "unknown-input-field",
        "invalid-datetime",
        "wrong-variable-type",
        "field-outside-the-subset",
    ],
)
def test_the_fake_refuses_what_the_schema_does_not_allow(
    fake_railway: FakeRailway, http: httpx.Client, document: str, variables: dict[str, object], expected: str
) -> None:
    """Each mistake is a GraphQL error naming it, and no data is served for it."""
    answer = http.post(
        fake_railway.url, json={"query": document, "variables": variables}, headers=HEADERS
    ).json()

    messages = " | ".join(error["message"] for error in answer.get("errors", []))
    assert expected in messages, answer
    assert answer.get("data") is None


def test_the_fake_serves_a_valid_document(fake_railway: FakeRailway, http: httpx.Client) -> None:
    """The same shapes, written correctly, are answered (the refusals above are not blanket ones)."""
    fake_railway.add_deployment("d-9", ["NEEDS_APPROVAL", "SLEEPING"], commit="3f2c")
    document = (
        "query D($input: DeploymentListInput!) { deployments(input: $input, first: 5) "
        "{ edges { cursor node { id status meta deploymentStopped } } pageInfo { hasNextPage } } }"
    )
    variables = {"input": {"serviceId": "s-1", "status": {"in": ["NEEDS_APPROVAL", "SLEEPING"]}}}

    answer = http.post(
        fake_railway.url, json={"query": document, "variables": variables}, headers=HEADERS
    ).json()

    assert "errors" not in answer, answer
    [edge] = answer["data"]["deployments"]["edges"]
    assert ("d-9", "NEEDS_APPROVAL", False) == (
        edge["node"]["id"],
        edge["node"]["status"],
        edge["node"]["deploymentStopped"],
    )
