"""Migrations go up and down on both backends, and the models match them."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from core.store.db import current_revision, downgrade_database, head_revision, upgrade_database
from core.store.models import Base

EXPECTED_TABLES = {
    "incidents",
    "proposals",
    "audit_events",
    "source_cursors",
    "processed_events",
    "leases",
    "runtime_state",
    "llm_usage",
}


def test_upgrade_from_empty_reaches_head_with_every_table(empty_engine: Engine) -> None:
    """Upgrading an empty database creates every model table and records the head revision."""
    upgrade_database(empty_engine)
    assert head_revision() == current_revision(empty_engine)
    assert EXPECTED_TABLES <= set(inspect(empty_engine).get_table_names())


def test_downgrade_to_base_removes_every_table(empty_engine: Engine) -> None:
    """Downgrading to base leaves only Alembic's own version table."""
    upgrade_database(empty_engine)
    downgrade_database(empty_engine, "base")
    assert set() == set(inspect(empty_engine).get_table_names()) - {"alembic_version"}
    assert current_revision(empty_engine) is None


def test_models_match_migrations(engine: Engine) -> None:
    """Autogenerate against a migrated database finds no difference from the models."""
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [] == differences


def test_upgrade_twice_is_a_no_op(engine: Engine) -> None:
    """A second upgrade (the next deploy's startup) changes nothing and does not fail."""
    upgrade_database(engine)
    assert head_revision() == current_revision(engine)
