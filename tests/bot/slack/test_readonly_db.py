"""A database that refuses writes: commands answer with a reference id, /health says so, nothing is lost.

The database is made unwritable for real, not mocked. SQLite: the file and its WAL get the
immutable attribute (`chattr +i`), which stops root too (plain `chmod` does not): open connections
then fail with "disk I/O error", new ones with "attempt to write a readonly database", reads still
work. PostgreSQL: every new session is read-only (`default_transaction_read_only`), as on a replica
after a failover.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from core.store.db import check_database
from tests.bot.slack.conftest import ALICE, CHANNEL, Served, add_proposal, start_served
from tests.fakes.slack_api import FakeSlack


def _chattr(flag: str, paths: list[Path]) -> None:
    subprocess.run(["chattr", flag, *map(str, paths)], check=True, capture_output=True)


@pytest.fixture
def make_readonly(engine: Engine) -> Iterator[Callable[[], Callable[[], None]]]:
    """Returns a function that makes the database refuse writes and returns its undo."""
    undo: list[Callable[[], None]] = []

    def readonly() -> Callable[[], None]:
        if engine.dialect.name == "sqlite":
            if shutil.which("chattr") is None:
                pytest.skip("chattr is not installed: cannot make the database file immutable")
            database = Path(str(engine.url.database))
            # Not the -shm file: SQLite maps it into memory, and an immutable map is a SIGBUS.
            files = [p for p in (database, database.with_name(database.name + "-wal")) if p.exists()]
            _chattr("+i", files)

            def restore() -> None:
                _chattr("-i", files)
                engine.dispose()
        else:

            def read_only(dbapi_connection: Any, _record: Any) -> None:
                with dbapi_connection.cursor() as cursor:
                    cursor.execute("SET default_transaction_read_only = on")
                dbapi_connection.commit()

            event.listen(engine, "connect", read_only)
            engine.dispose()

            def restore() -> None:
                if event.contains(engine, "connect", read_only):
                    event.remove(engine, "connect", read_only)
                engine.dispose()

        undo.append(restore)
        return restore

    yield readonly
    for restore in undo:
        restore()


@pytest.fixture
def served_with_health(
    settings: Settings, sessions: sessionmaker[Session], fake_slack: FakeSlack, engine: Engine
) -> Iterator[Served]:
    served, stop = start_served(
        settings, sessions, fake_slack, checks={"database": lambda: check_database(engine)}
    )
    yield served
    stop()


def _replies(served: Served, thread_ts: str) -> list[str]:
    """What the asker saw in the thread, in order: replies and the private notes only they see."""
    return [
        str(call.params.get("text", ""))
        for call in served.fake.calls
        if call.method in {"chat.postMessage", "chat.postEphemeral"}
        and call.params.get("thread_ts") == thread_ts
        and call.params.get("channel") == CHANNEL
    ]


@pytest.mark.parametrize("command", ["list", "scan", "implement {fix_id}"])
def test_command_on_a_readonly_database_is_answered_with_a_reference(
    served_with_health: Served,
    make_readonly: Callable[[], Callable[[], None]],
    command: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Acked, then answered in the thread with the cause and a ref that is in the log; a retry later works."""
    served = served_with_health
    fix_id = add_proposal(served.sessions, posted=True)
    text = command.format(fix_id=fix_id)
    ts = "1761900200.000100"
    restore = make_readonly()

    response = served.send.mention(text, user=ALICE, event_id="EvReadOnly", ts=ts)
    assert 200 == response.status_code
    served.drain()
    replies = _replies(served, ts)
    assert 1 == len(replies)
    assert "database refused it" in replies[0]
    assert "not run" in replies[0]
    ref = re.search(r"ref `([0-9a-f]{8})`", replies[0])
    assert ref is not None
    assert any(ref.group(1) in record.getMessage() and record.exc_info for record in caplog.records)
    assert [] == served.pipeline.applied
    assert [] == served.pipeline.scanned

    health = served.send.http.get("/health")
    assert 503 == health.status_code
    assert health.json()["database"].startswith("read-only: ")

    # Nothing was lost: once the database takes writes again, Slack's retry of the same event runs.
    restore()
    assert "ok" == served.send.http.get("/health").json()["database"]
    retried = served.send.mention(text, user=ALICE, event_id="EvReadOnly", ts=ts, retry=1)
    assert 200 == retried.status_code
    served.drain()
    replies = _replies(served, ts)
    assert 2 <= len(replies)
    assert "failed" not in replies[-1]
    if command == "scan":
        assert ["api"] == served.pipeline.scanned
    if command.startswith("implement"):
        assert [fix_id] == served.pipeline.applied


def test_health_reports_a_writable_database_as_ok(served_with_health: Served) -> None:
    """The write probe leaves nothing behind and says ok on a healthy database."""
    response = served_with_health.send.http.get("/health")
    assert "ok" == response.json()["database"]


def test_failure_inside_a_command_reaches_the_user(
    served_with_health: Served,
    make_readonly: Callable[[], Callable[[], None]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A delivery without a durable claim (a DM re-sent by a person) still reports the failure."""
    served = served_with_health
    caplog.set_level(logging.ERROR)
    fix_id = add_proposal(served.sessions, posted=True)
    make_readonly()
    served.stack.runner.submit(
        None,
        lambda: served.stack.runner.handle_text(f"implement {fix_id}", user=ALICE, channel=CHANNEL, ts="1.2"),
        reply_to=(CHANNEL, "1.2"),
    )
    served.drain()
    replies = _replies(served, "1.2")
    assert any("database refused it" in reply and "ref `" in reply for reply in replies)
