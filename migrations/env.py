"""Alembic environment. Called by `core.store.db.upgrade_database` with a connection that already
holds the migration lock; `alembic` on the command line works too (it reads DATABASE_URL)."""

from __future__ import annotations

import os
from typing import Any

import sqlalchemy as sa
from alembic import context
from sqlalchemy import Connection

from core.store.db import make_engine, normalize_database_url
from core.store.models import Base

target_metadata = Base.metadata


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    # Versions must not import the models (they change); UTCDateTime is a plain timestamptz.
    if type_ == "type" and isinstance(obj, sa.types.TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("DATABASE_URL is not set; use `agent db upgrade`, which reads agent.toml")
    engine = make_engine(normalize_database_url(url))
    with engine.connect() as connection:
        _run(connection)
        connection.commit()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
