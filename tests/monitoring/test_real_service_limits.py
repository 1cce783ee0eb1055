"""The network sources against fakes that refuse what the real Loki and Railway refuse.

The fake Loki enforces Loki's default limits (5000 entries per query, start before end, tenants);
the fake Railway executes every document against Railway's published GraphQL schema
(tests/fakes/railway_schema.graphql), so a wrong field, argument or window fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from core.settings import Secrets
from monitoring.sources import LokiSource, RailwaySource, SourceAuthError, open_source
from monitoring.sources.loki import MAX_ENTRIES
from monitoring.sources.railway import instant_ns
from tests.fakes.loki import FakeLoki
from tests.fakes.railway import FakeRailway

NOW_NS = 1_800_000_000 * 10**9
SECOND = 10**9
QUERY = '{app="api"}'


def _texts(batch) -> list[str]:  # type: ignore[no-untyped-def]
    return [line.text for line in batch.lines]


def _drain(source: LokiSource, limit: int) -> Iterator[list[str]]:
    cursor: dict[str, object] = {}
    while True:
        batch = source.read(cursor, limit)
        cursor = batch.cursor
        yield _texts(batch)
        if not batch.more or not batch.lines:
            return


def test_loki_limit_is_capped_and_reads_page_by_time(fake_loki: FakeLoki, http: httpx.Client) -> None:
    """A scan asking for 50000 lines gets pages of at most 5000 (Loki's maximum), each line once."""
    for i in range(12_000):
        fake_loki.push({"app": "api"}, NOW_NS - 3000 * SECOND + i * 1000, f"line {i}")
    source = LokiSource(f"loki:{fake_loki.url}?query={QUERY}", client=http, clock=lambda: NOW_NS)

    pages = list(_drain(source, 50_000))

    assert MAX_ENTRIES == len(pages[0])
    assert len(pages) >= 3
    assert all(len(page) <= MAX_ENTRIES for page in pages)
    assert [f"line {i}" for i in range(12_000)] == [text for page in pages for text in page]
    assert all(int(r.query["limit"]) <= MAX_ENTRIES for r in fake_loki.requests)


def test_fake_loki_refuses_what_loki_refuses(fake_loki: FakeLoki, http: httpx.Client) -> None:
    """The fake answers 400 to a limit above 5000 and to start >= end, as Loki does."""
    url = f"{fake_loki.url}/loki/api/v1/query_range"
    too_many = http.get(url, params={"query": QUERY, "start": "1", "end": "2", "limit": "50000"})
    backwards = http.get(url, params={"query": QUERY, "start": "5", "end": "5", "limit": "10"})
    assert (400, 400) == (too_many.status_code, backwards.status_code)
    assert "max_entries_limit_per_query" in too_many.text


def test_a_line_from_the_future_does_not_break_later_reads(fake_loki: FakeLoki, http: httpx.Client) -> None:
    """A line stamped ahead of our clock waits until it settles; no request ever has start >= end."""
    now = [NOW_NS]
    fake_loki.push({"app": "api"}, NOW_NS - 60 * SECOND, "past")
    fake_loki.push({"app": "api"}, NOW_NS + 10 * SECOND, "future")
    source = LokiSource(f"loki:{fake_loki.url}?query={QUERY}", client=http, clock=lambda: now[0])

    first = source.read({}, 100)
    again = source.read(first.cursor, 100)
    now[0] += 30 * SECOND
    later = source.read(again.cursor, 100)

    assert (["past"], [], ["future"]) == (_texts(first), _texts(again), _texts(later))
    assert all(int(r.query["start"]) < int(r.query["end"]) for r in fake_loki.requests)


def test_a_just_written_line_is_not_skipped(fake_loki: FakeLoki, http: httpx.Client) -> None:
    """The window ends a few seconds before now, so a line stamped 1 s ago that arrives late is read."""
    now = [NOW_NS]
    fake_loki.push({"app": "api"}, NOW_NS - 30 * SECOND, "older")
    source = LokiSource(f"loki:{fake_loki.url}?query={QUERY}", client=http, clock=lambda: now[0])
    first = source.read({}, 100)
    fake_loki.push({"app": "api"}, NOW_NS - 1 * SECOND, "late arrival")  # ingested after the read
    now[0] += 10 * SECOND

    assert (["older"], ["late arrival"]) == (_texts(first), _texts(source.read(first.cursor, 100)))


def test_multi_tenant_loki_needs_the_tenant_header(http: httpx.Client) -> None:
    """Without `tenant=` a multi-tenant Loki says 401 "no org id"; with it only that tenant's lines come."""
    with FakeLoki(multi_tenant=True, require_token="loki-secret") as loki:
        loki.push({"app": "api"}, NOW_NS - 60 * SECOND, "ours", tenant="team-a")
        loki.push({"app": "api"}, NOW_NS - 60 * SECOND, "theirs", tenant="team-b")
        secrets = Secrets(loki_token=SecretStr("loki-secret"))
        without = open_source(f"loki:{loki.url}?query={QUERY}", client=http, railway_secrets=secrets)
        with_tenant = open_source(
            f"loki:{loki.url}?query={QUERY}&tenant=team-a", client=http, railway_secrets=secrets
        )
        assert isinstance(with_tenant, LokiSource)
        with_tenant.clock = lambda: NOW_NS

        with pytest.raises(SourceAuthError):
            without.read({}, 10)
        assert ["ours"] == _texts(with_tenant.read({}, 10))
        assert "Bearer loki-secret" == loki.requests[-1].headers["authorization"]


def _env_source(server: FakeRailway, http: httpx.Client, now: datetime) -> RailwaySource:
    return RailwaySource(
        "railway:environment=e-1",
        client=http,
        endpoint=server.url,
        secrets=Secrets(railway_api_token=SecretStr("railway-test-token")),
        wall_clock=now.timestamp,
    )


def test_environment_logs_use_railways_anchor_window(fake_railway: FakeRailway, http: httpx.Client) -> None:
    """First read: the latest N before now; then anchor = cursor, afterDate = now + margin."""
    now = datetime.now(UTC)
    for i in range(5):
        fake_railway.add_log("d-1", f"old {i}", timestamp=_stamp(now - timedelta(minutes=10 - i)))
    source = _env_source(fake_railway, http, now)

    first = source.read({}, 3)
    fake_railway.add_log("d-1", "new", timestamp=_stamp(now - timedelta(seconds=5)))
    second = source.read(first.cursor, 3)

    assert (["old 2", "old 3", "old 4"], ["new"]) == (_texts(first), _texts(second))
    variables = [r.json()["variables"] for r in fake_railway.requests]
    assert {"beforeLimit": 3} == {k: v for k, v in variables[0].items() if k == "beforeLimit"}
    assert first.cursor["after"] == variables[1]["anchorDate"]
    assert variables[1]["afterDate"] > _stamp(now)


def test_railway_timestamps_compare_as_instants(fake_railway: FakeRailway, http: httpx.Client) -> None:
    """A later line written with fewer fraction digits (string-smaller) is still after the cursor."""
    now = datetime.now(UTC)
    base = now - timedelta(minutes=1)
    fake_railway.add_log("d-1", "a", timestamp=base.strftime("%Y-%m-%dT%H:%M:%S.") + "900000000Z")
    source = _env_source(fake_railway, http, now)
    first = source.read({}, 10)
    later = (base + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S") + "Z"  # ".9…" > "Z" as strings
    fake_railway.add_log("d-1", "b", timestamp=later)

    assert (["a"], ["b"]) == (_texts(first), _texts(source.read(first.cursor, 10)))


def test_fake_railway_rejects_documents_the_schema_does_not_allow(
    fake_railway: FakeRailway, http: httpx.Client
) -> None:
    """An unknown argument or field is a GraphQL error from the fake, as from Railway."""
    headers = {"Authorization": "Bearer railway-test-token"}
    bad_argument = {"query": '{ environmentLogs(environmentId: "e-1", limit: 5) { message } }'}
    bad_field = {"query": '{ deployment(id: "d") { id commitHash } }'}
    for document in (bad_argument, bad_field):
        answer = http.post(fake_railway.url, json=document, headers=headers).json()
        assert answer.get("errors"), answer


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
    st.integers(min_value=0, max_value=999),
)
def test_instant_ns_agrees_with_datetime_in_any_offset(
    moment: datetime, offset_minutes: int, nanos: int
) -> None:
    """Any RFC 3339 rendering of an instant (offset, 9 fraction digits) parses to the same nanoseconds."""
    zone = timedelta(minutes=offset_minutes)
    local = moment.astimezone(timezone(zone))
    sign = "+" if offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    text = local.strftime("%Y-%m-%dT%H:%M:%S.%f") + f"{nanos:03d}{sign}{hours:02d}:{minutes:02d}"
    expected = int(moment.replace(microsecond=0).timestamp()) * 10**9 + moment.microsecond * 1000 + nanos
    assert expected == instant_ns(text)
