"""Log sources against real files, a real subprocess, and real local Railway/Loki servers."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from core.settings import Secrets
from monitoring.sources import (
    CommandSource,
    FileSource,
    LokiSource,
    RailwaySource,
    SourceAuthError,
    SourceBadResponse,
    SourceRateLimited,
    SourceUnavailable,
    open_source,
)
from monitoring.sources.railway import MAX_RETRIES, MAX_WAIT_SECONDS
from tests.fakes._http import Failure
from tests.fakes.loki import FakeLoki
from tests.fakes.railway import FakeRailway


def _texts(batch) -> list[str]:  # type: ignore[no-untyped-def]
    return [line.text for line in batch.lines]


def test_file_reads_only_new_complete_lines(tmp_path: Path) -> None:
    """A second read returns only new lines; a partial last line waits until it is complete."""
    log = tmp_path / "app.log"
    log.write_bytes(b"one\ntwo\nthr")
    source = FileSource(log)
    first = source.read({}, 1000)
    assert (["one", "two"], [1, 2]) == (_texts(first), [line.number for line in first.lines])
    with log.open("ab") as handle:
        handle.write(b"ee\nfour\n")
    second = source.read(first.cursor, 1000)
    assert (["three", "four"], [3, 4]) == (_texts(second), [line.number for line in second.lines])
    assert [] == _texts(source.read(second.cursor, 1000))


def test_file_survives_rotation_and_truncation(tmp_path: Path) -> None:
    """After rotation the rest of the old file, then the new one, are read; truncation restarts at 0."""
    log = tmp_path / "app.log"
    log.write_text("a\n")
    source = FileSource(log)
    cursor = source.read({}, 1000).cursor
    with log.open("a") as handle:
        handle.write("b\n")
    log.rename(tmp_path / "app.log.1")
    log.write_text("c\n")
    rotated = source.read(cursor, 1000)
    assert ["b", "c"] == _texts(rotated)
    log.write_text("")
    log.write_text("d\n")
    truncated = source.read(rotated.cursor, 1000)
    assert (["d"], [1]) == (_texts(truncated), [line.number for line in truncated.lines])


def test_file_limit_and_bad_bytes(tmp_path: Path) -> None:
    """Reads are capped (more=True) and invalid UTF-8 is replaced, not fatal."""
    log = tmp_path / "app.log"
    log.write_bytes(b"\xff\xfe bad\n" + b"x\n" * 10)
    source = FileSource(log)
    batch = source.read({}, 3)
    assert (3, True) == (len(batch.lines), batch.more)
    assert "\ufffd\ufffd bad" == batch.lines[0].text


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.sampled_from(["", "a", "é", "\r", "bb\r", "\r\r", "\x00", " x ", "\xff"]).map("".join), max_size=30
    ),
    st.integers(min_value=1, max_value=7),
    st.booleans(),
)
def test_file_read_in_batches_gives_every_complete_line_once(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str], limit: int, newline_at_end: bool
) -> None:
    """Read `limit` lines at a time until nothing is left: every complete line once, numbered, with
    one CR before its LF dropped, NULs removed, bad UTF-8 replaced; a last line without LF waits."""
    log = tmp_path_factory.mktemp("log") / "app.log"
    log.write_bytes(
        "\n".join(lines).encode("utf-8", "surrogateescape").replace(b"\xc3\xbf", b"\xff")
        + (b"\n" if newline_at_end and lines else b"")
    )
    source, cursor, read = FileSource(log), {}, []
    while True:
        batch = source.read(cursor, limit)
        read += [(raw.number, raw.text) for raw in batch.lines]
        cursor = batch.cursor
        if not batch.more:
            break
    complete = lines if newline_at_end else lines[:-1]
    bare = [text.replace("\x00", "").replace("\xff", "\ufffd") for text in complete]
    expected = [(number, text[:-1] if text.endswith("\r") else text) for number, text in enumerate(bare, 1)]
    assert expected == read


def test_missing_file_is_a_source_error(tmp_path: Path) -> None:
    """A missing file raises SourceUnavailable naming the path."""
    with pytest.raises(SourceUnavailable, match="does not exist"):
        FileSource(tmp_path / "nope.log").read({}, 10)


class _NoSleep:
    """Records the waits the client asks for instead of sleeping (retries stay instant)."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def _railway(
    server: FakeRailway,
    http: httpx.Client,
    spec: str = "railway:deployment=d-1",
    *,
    bearer_token: str = "",
    project_token: str = "",
    sleep: _NoSleep | None = None,
) -> RailwaySource:
    if not bearer_token and not project_token:
        bearer_token = "railway-test-token"
    secrets = Secrets(
        railway_api_token=SecretStr(bearer_token) if bearer_token else None,
        railway_token=SecretStr(project_token) if project_token else None,
    )
    return RailwaySource(
        spec,
        client=http,
        endpoint=server.url,
        secrets=secrets,
        sleep=sleep or _NoSleep(),
        wall_clock=lambda: 1_800_000_000.0,
    )


def test_railway_cursor_returns_each_line_once(fake_railway: FakeRailway, http: httpx.Client) -> None:
    """Lines come once each, in order, across reads, including lines sharing a timestamp."""
    fake_railway.add_log("d-1", "first")
    fake_railway.add_log("d-1", "second", severity="error", attributes={"logger": '"app.mcp"'})
    source = _railway(fake_railway, http)
    batch = source.read({}, 500)
    assert 2 == len(batch.lines)
    assert "error" == batch.lines[1].level
    assert '"logger": "app.mcp"' in batch.lines[1].text
    stamp = fake_railway.logs["d-1"][-1]["timestamp"]
    fake_railway.add_log("d-1", "third", timestamp=stamp)
    fake_railway.add_log("d-1", "fourth")
    again = source.read(batch.cursor, 500)
    assert ["third", "fourth"] == _texts(again)
    assert [] == _texts(source.read(again.cursor, 500))
    assert "DeploymentLogs" == fake_railway.requests[-1].json()["operationName"]


def test_railway_environment_logs_with_project_token(fake_railway: FakeRailway, http: httpx.Client) -> None:
    """environmentLogs with a Project-Access-Token header work too."""
    fake_railway.add_log("d-1", "env line", environment_id="e-7")
    source = _railway(fake_railway, http, "railway:environment=e-7", project_token="project-token")
    assert ["env line"] == _texts(source.read({}, 100))
    assert "project-token" == fake_railway.requests[-1].headers["project-access-token"]


def test_railway_failures_map_to_source_errors(fake_railway: FakeRailway, http: httpx.Client) -> None:
    """Not Authorized, 429 with Retry-After, bad JSON and 5xx become distinct SourceErrors."""
    with pytest.raises(SourceAuthError, match="Not Authorized"):
        _railway(fake_railway, http, bearer_token="wrong").read({}, 10)
    source = _railway(fake_railway, http)
    fake_railway.fail_next(
        Failure(429, b"{}", {"Retry-After": "7"}),
        Failure(200, b"<html>"),
        *[Failure(502, b"")] * (1 + MAX_RETRIES),
    )
    with pytest.raises(SourceRateLimited) as limited:
        source.read({}, 10)
    assert 7.0 == limited.value.retry_after
    with pytest.raises(SourceBadResponse, match="not JSON"):
        source.read({}, 10)
    with pytest.raises(SourceUnavailable, match="502"):
        source.read({}, 10)


def test_railway_long_retry_after_is_rate_limited_at_once(
    fake_railway: FakeRailway, http: httpx.Client
) -> None:
    """A 429 asking for 300 s is not slept on: one request, SourceRateLimited(retry_after=300)."""
    sleep = _NoSleep()
    source = _railway(fake_railway, http, sleep=sleep)
    fake_railway.fail_next(Failure(429, b"{}", {"Retry-After": "300"}))

    with pytest.raises(SourceRateLimited) as limited:
        source.read({}, 10)

    assert (300.0, [], 1) == (limited.value.retry_after, sleep.sleeps, len(fake_railway.requests))


def test_railway_short_rate_limit_is_retried_within_the_read(
    fake_railway: FakeRailway, http: httpx.Client
) -> None:
    """A 429 with Retry-After 0 is retried inside the read, which then returns the lines."""
    fake_railway.add_log("d-1", "after the limit")
    sleep = _NoSleep()
    source = _railway(fake_railway, http, sleep=sleep)
    fake_railway.fail_next(Failure(429, b"{}", {"Retry-After": "0"}))

    batch = source.read({}, 10)

    assert (["after the limit"], [0.0], 2) == (_texts(batch), sleep.sleeps, len(fake_railway.requests))


def test_railway_retries_are_bounded(fake_railway: FakeRailway, http: httpx.Client) -> None:
    """Persistent 502s end as SourceUnavailable after 1 + MAX_RETRIES requests and short waits."""
    sleep = _NoSleep()
    source = _railway(fake_railway, http, sleep=sleep)
    fake_railway.fail_next(*[Failure(502, b"")] * 10)

    with pytest.raises(SourceUnavailable, match="HTTP 502"):
        source.read({}, 10)

    assert 1 + MAX_RETRIES == len(fake_railway.requests)
    assert all(wait <= MAX_WAIT_SECONDS for wait in sleep.sleeps)


def test_railway_not_authorized_in_a_200_is_an_auth_error(
    fake_railway: FakeRailway, http: httpx.Client
) -> None:
    """The fake's HTTP 200 "Not Authorized" for a wrong project token is a SourceAuthError, not retried."""
    source = _railway(fake_railway, http, project_token="someone-elses")

    with pytest.raises(SourceAuthError, match="Not Authorized") as refused:
        source.read({}, 10)

    assert 1 == len(fake_railway.requests)
    assert "someone-elses" not in str(refused.value)


def test_railway_without_a_token_is_an_auth_error(fake_railway: FakeRailway, http: httpx.Client) -> None:
    """No Railway token at all is a SourceAuthError naming both variables, and nothing is sent."""
    source = RailwaySource(
        "railway:deployment=d-1", client=http, endpoint=fake_railway.url, secrets=Secrets()
    )

    with pytest.raises(SourceAuthError, match=r"RAILWAY_TOKEN.*RAILWAY_API_TOKEN"):
        source.read({}, 10)

    assert [] == fake_railway.requests


def test_fake_railway_scripts_deployments(fake_railway: FakeRailway, http: httpx.Client) -> None:
    """The fake serves deployments and steps a deployment's status on each poll."""
    fake_railway.add_deployment("d-9", ["QUEUED", "BUILDING", "SUCCESS"], commit="3f2c")
    poll = {
        "query": "query ($id: String!) { deployment(id: $id) { id status } }",
        "variables": {"id": "d-9"},
    }
    headers = {"Authorization": "Bearer railway-test-token"}
    statuses = [
        http.post(fake_railway.url, json=poll, headers=headers).json()["data"]["deployment"]["status"]
        for _ in range(4)
    ]
    assert ["QUEUED", "BUILDING", "SUCCESS", "SUCCESS"] == statuses
    listing = {
        "query": "query D($input: DeploymentListInput!) "
        "{ deployments(input: $input, first: 5) { edges { node { id status meta } } } }",
        "variables": {"input": {"serviceId": "s-1"}},
    }
    edges = http.post(fake_railway.url, json=listing, headers=headers).json()["data"]["deployments"]["edges"]
    assert [("d-9", "3f2c")] == [(e["node"]["id"], e["node"]["meta"]["commitHash"]) for e in edges]


def test_loki_query_range_with_nanosecond_cursor(fake_loki: FakeLoki, http: httpx.Client) -> None:
    """Loki lines come in time order once each; other streams are not selected."""
    base = 1_800_000_000_000_000_000
    fake_loki.push({"app": "api"}, base + 2, "second")
    fake_loki.push({"app": "api"}, base + 1, "first")
    fake_loki.push({"app": "worker"}, base + 1, "other")
    settled = base + 10 * 10**9  # past the source's settle delay
    source = LokiSource(f'loki:{fake_loki.url}?query={{app="api"}}', client=http, clock=lambda: settled)
    batch = source.read({}, 100)
    assert ["first", "second"] == _texts(batch)
    fake_loki.push({"app": "api"}, base + 3, "third")
    assert ["third"] == _texts(source.read(batch.cursor, 100))


def test_loki_errors(fake_loki: FakeLoki, http: httpx.Client) -> None:
    """An unreachable Loki and a broken answer are SourceErrors."""
    source = LokiSource(f'loki:{fake_loki.url}?query={{app="api"}}', client=http)
    fake_loki.fail_next(Failure(200, b'{"status": "success", "data": {}}'))
    with pytest.raises(SourceBadResponse):
        source.read({}, 10)
    dead = LokiSource('loki:http://127.0.0.1:9?query={app="api"}', client=http)
    with pytest.raises(SourceUnavailable):
        dead.read({}, 10)


def test_command_source_emits_only_new_output(tmp_path: Path) -> None:
    """A command's output is read; the next run returns only lines after those already seen."""
    log = tmp_path / "out.txt"
    log.write_text("a\nb\n")
    source = CommandSource(
        f'cmd:{sys.executable} -c "import sys; sys.stdout.write(open(sys.argv[1]).read())" {log}'
    )
    first = source.read({}, 100)
    assert ["a", "b"] == _texts(first)
    log.write_text("a\nb\nc\n")
    assert ["c"] == _texts(source.read(first.cursor, 100))
    failing = CommandSource(f'cmd:{sys.executable} -c "raise SystemExit(3)"')
    with pytest.raises(SourceUnavailable, match="exited with 3"):
        failing.read({}, 10)


def test_every_source_drops_terminal_escapes(
    tmp_path: Path, fake_loki: FakeLoki, fake_railway: FakeRailway, http: httpx.Client
) -> None:
    """A line printed in colour (or with a title-setting escape) reaches the parser as the text a
    terminal would show: from a file, a command, Loki and Railway alike."""
    coloured = "\x1b[31mERROR\x1b[0m:    Exception in ASGI application\x1b]0;pwned\x07"
    plain = "ERROR:    Exception in ASGI application"
    log = tmp_path / "out.txt"
    log.write_text(f"{coloured}\n", encoding="utf-8")
    assert [plain] == _texts(FileSource(log).read({}, 10))
    command = CommandSource(
        f'cmd:{sys.executable} -c "import sys; sys.stdout.write(open(sys.argv[1]).read())" {log}'
    )
    assert [plain] == _texts(command.read({}, 10))
    base = 1_800_000_000_000_000_000
    fake_loki.push({"app": "api"}, base + 1, coloured)
    loki = LokiSource(
        f'loki:{fake_loki.url}?query={{app="api"}}', client=http, clock=lambda: base + 10 * 10**9
    )
    assert [plain] == _texts(loki.read({}, 10))
    fake_railway.add_log("d-1", coloured)
    assert [plain] == _texts(_railway(fake_railway, http).read({}, 10))


def test_open_source_rejects_unknown_specs() -> None:
    """An unknown source kind is a ValueError listing the accepted shapes."""
    with pytest.raises(ValueError, match="expected file:PATH"):
        open_source("ftp:somewhere")
