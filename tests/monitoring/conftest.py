"""Fixtures: the fake Railway and Loki servers on 127.0.0.1, and an HTTP client for the sources."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.loki import FakeLoki
from tests.fakes.railway import FakeRailway


@pytest.fixture
def fake_railway() -> Iterator[FakeRailway]:
    with FakeRailway(bearer_tokens={"railway-test-token"}, project_tokens={"project-token"}) as server:
        yield server


@pytest.fixture
def fake_loki() -> Iterator[FakeLoki]:
    with FakeLoki() as server:
        yield server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as client:
        yield client
