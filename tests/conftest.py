"""Shared fixtures. Databases are real: SQLite always, PostgreSQL when TEST_DATABASE_URL is set.

In CI (CI=true) a missing or unreachable PostgreSQL is a failure, not a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from core.store.db import make_engine, make_session_factory, normalize_database_url, upgrade_database

# Tests must reach the fakes on loopback even where a proxy is configured, and must never fetch
# the LLM price map from the network.
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ["no_proxy"] = os.environ["NO_PROXY"]
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("SKIP_SLACK_SDK_WARNING", "1")
for _leaky in ("OPENAI_API_BASE", "OPENAI_BASE_URL", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"):
    os.environ.pop(_leaky, None)


def _postgres_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return normalize_database_url(url)
    if os.environ.get("CI"):
        pytest.fail("CI must run the database tests on PostgreSQL: TEST_DATABASE_URL is not set")
    return None


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An engine on the PostgreSQL test database (skips outside CI when not configured)."""
    url = _postgres_url()
    if url is None:
        pytest.skip(
            "PostgreSQL tests skipped: set TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test"
        )
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        message = f"PostgreSQL at TEST_DATABASE_URL is unreachable: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    yield engine
    engine.dispose()


def _fresh_postgres(admin: Engine) -> Iterator[Engine]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(
        admin.url.render_as_string(hide_password=False),
        connect_args={"options": f"-csearch_path={schema}"},
    )
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """An engine on an empty database: SQLite file, then a throwaway PostgreSQL schema."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'agent.db'}")
        yield engine
        engine.dispose()
    else:
        yield from _fresh_postgres(request.getfixturevalue("postgres_admin"))


@pytest.fixture
def engine(empty_engine: Engine) -> Engine:
    """A migrated database (both backends)."""
    upgrade_database(empty_engine)
    return empty_engine


@pytest.fixture
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A migrated SQLite database, for tests that need a database but not both backends."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'agent.db'}")
    upgrade_database(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)
