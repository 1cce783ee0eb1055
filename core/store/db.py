"""Engines, sessions and migrations.

SQLite (the default) runs in WAL mode with a busy timeout, and every transaction starts with
`BEGIN IMMEDIATE` so that concurrent writers queue instead of failing half-way. PostgreSQL URLs in
the `postgres://` and `postgresql://` forms that hosting platforms hand out are normalised to the
installed psycopg 3 driver.

Migrations run under a database-wide lock (a PostgreSQL advisory lock, or a file lock next to the
SQLite file) so two overlapping deployments never migrate at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

__all__ = [
    "alembic_config",
    "check_database",
    "current_revision",
    "head_revision",
    "make_engine",
    "make_session_factory",
    "normalize_database_url",
    "upgrade_database",
]

_MIGRATION_LOCK_KEY = 0x6669786274  # "fixbt": an arbitrary, stable advisory-lock key


def normalize_database_url(url: str) -> str:
    """`postgres://` / `postgresql://` → `postgresql+psycopg://`; anything else unchanged."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`, with the SQLite pragmas this bot relies on."""
    url = normalize_database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **kwargs)

    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy (not pysqlite) decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (edges read them to render replies)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def check_database(engine: Engine) -> str:
    """ "ok", "read-only: …" when a write is refused, or "error: …": for /health.

    Reading is not enough: a database file made immutable, a full disk or a PostgreSQL replica
    still answers `SELECT 1`. The probe inserts a row into `processed_events` and deletes it again.
    """
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"
    key = f"health-probe:{uuid.uuid4().hex}"
    try:
        # Committed, not rolled back: SQLite writes nothing to disk for a rolled-back transaction,
        # so only a commit finds out. Insert and delete leave the table as it was.
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO processed_events (key, kind, received_at) VALUES (:key, 'health', :now)"),
                {"key": key, "now": datetime.now(UTC)},
            )
            connection.execute(text("DELETE FROM processed_events WHERE key = :key"), {"key": key})
    except DBAPIError as exc:
        return f"read-only: {type(exc.orig).__name__}: {str(exc.orig).strip()[:200]}"
    except Exception as exc:
        return f"read-only: {type(exc).__name__}: {str(exc)[:200]}"
    return "ok"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic configured for the packaged `migrations` directory."""
    import migrations

    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
            connection.commit()
            try:
                yield connection
            finally:
                connection.rollback()
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK_KEY})
                connection.commit()
        return
    database = engine.url.database
    lock_path = Path(f"{database}.migrate.lock") if database and database != ":memory:" else None
    with contextlib.ExitStack() as stack:
        if lock_path is not None:
            handle = stack.enter_context(lock_path.open("a"))
            fcntl.flock(handle, fcntl.LOCK_EX)
        with engine.connect() as connection:
            yield connection


def upgrade_database(engine: Engine, revision: str = "head") -> None:
    """Run migrations up to `revision` while holding the migration lock."""
    with _migration_lock(engine) as connection:
        command.upgrade(alembic_config(connection), revision)
        connection.commit()


def downgrade_database(engine: Engine, revision: str = "base") -> None:
    """Run migrations down to `revision` while holding the migration lock."""
    with _migration_lock(engine) as connection:
        command.downgrade(alembic_config(connection), revision)
        connection.commit()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None when never migrated)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision shipped with this code."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
