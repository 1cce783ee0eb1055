"""Fix ids: `fix_YYYYMMDD_HHMMSS` in UTC, distinct even within one second."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from core.store.proposals import FIX_ID_PATTERN, create_proposal, fix_id_for

MOMENT = datetime(2026, 10, 20, 2, 33, 0, tzinfo=UTC)


@given(st.datetimes(timezones=st.just(UTC)), st.integers(min_value=1, max_value=999))
def test_fix_ids_always_match_the_documented_pattern(moment: datetime, sequence: int) -> None:
    """Every generated id matches FIX_ID_PATTERN, the pattern the command parser accepts."""
    assert FIX_ID_PATTERN.fullmatch(fix_id_for(moment, sequence))


def test_fix_id_uses_utc_whatever_the_input_zone() -> None:
    """A time given in UTC+2 is rendered as its UTC wall clock."""
    local = MOMENT.astimezone(timezone(timedelta(hours=2)))
    assert "fix_20261020_023300" == fix_id_for(local)


def test_burst_in_one_second_gives_distinct_ids(sessions: sessionmaker[Session]) -> None:
    """Thirty proposals created concurrently in the same second all get different ids."""
    ids: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(30)

    def create() -> None:
        barrier.wait()
        with sessions.begin() as session:
            fix_id = create_proposal(session, service="api", now=MOMENT).fix_id
        with lock:
            ids.append(fix_id)

    threads = [threading.Thread(target=create) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 30 == len(set(ids))
    assert "fix_20261020_023300" in ids
    assert all(i.startswith("fix_20261020_023300") for i in ids)
