"""The `phoenix:` source against a fake Phoenix on 127.0.0.1: pages, windows, span lines, failures."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from core.settings import (
    DetectorThresholds,
    PhoenixTarget,
    Secrets,
    ServiceSettings,
    Settings,
    load_settings,
)
from core.store.cursors import source_health
from core.store.incidents import list_incidents
from monitoring.detect import DetectorState
from monitoring.events import MAX_LINE_CHARS, RawLine, parse_lines
from monitoring.pipeline import analyze
from monitoring.scan import run_scan
from monitoring.sources import (
    PhoenixSource,
    SourceAuthError,
    SourceBadResponse,
    SourceRateLimited,
    SourceUnavailable,
    open_source,
)
from monitoring.sources.phoenix import LatencyRule, finish_reasons, parse_spec, span_line, span_rowid
from tests.fakes.phoenix import Failure, FakePhoenix, global_id, python_traceback

NOW = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)
KEY = "phx-test-key-0123456789"
FRAMES = [
    ("/app/support/bot.py", 40, "answer"),
    ("/usr/lib/python3.12/site-packages/openai/_client.py", 900, "create"),
]


@pytest.fixture
def phoenix() -> Any:
    with FakePhoenix(projects=("default", "support-bot")) as server:
        yield server


def _source(server: FakePhoenix, http: httpx.Client, **kw: Any) -> PhoenixSource:
    return PhoenixSource(
        "phoenix:project=support-bot",
        client=http,
        endpoint=server.url,
        wall_clock=NOW.timestamp,
        **kw,
    )


def _span(
    name: str,
    kind: str,
    *,
    trace: str = "t1",
    status: str = "OK",
    ms: float = 0.0,
    attributes: dict[str, Any] | None = None,
    events: list[Any] | None = None,
) -> dict[str, Any]:
    """A span as GET /v1/projects/{project}/spans shows it."""
    return {
        "id": global_id("Span", 1),
        "name": name,
        "context": {"trace_id": trace, "span_id": "01"},
        "span_kind": kind,
        "start_time": NOW.isoformat(),
        "end_time": (NOW + timedelta(milliseconds=ms)).isoformat(),
        "status_code": status,
        "status_message": "",
        "attributes": attributes or {},
        "events": events or [],
    }


def _drain(
    source: PhoenixSource, cursor: dict[str, Any], limit: int
) -> tuple[list[str], dict[str, Any], int]:
    """Read until the source says no more, storing the cursor as JSON between reads (a restart)."""
    texts: list[str] = []
    reads = 0
    while True:
        batch = source.read(json.loads(json.dumps(cursor)), limit)
        reads += 1
        texts += [line.text for line in batch.lines]
        cursor = batch.cursor
        if not batch.more:
            return texts, cursor, reads


def _names(texts: list[str]) -> list[str]:
    return [json.loads(text)["span_name"] for text in texts]


def test_spec_and_global_ids() -> None:
    """The spec names a project; span ids are Relay Global IDs whose insertion id orders them."""
    assert "support-bot" == parse_spec("phoenix:project=support-bot")
    for bad in ("phoenix:support-bot", "phoenix:project=", "phoenix:project=a/b", "phoenix:project=a b"):
        with pytest.raises(ValueError, match="phoenix:project=NAME"):
            parse_spec(bad)
    assert 42 == span_rowid(global_id("Span", 42))
    for bad in (global_id("Trace", 42), "not base64!", "", None):
        with pytest.raises(SourceBadResponse, match="Span Global ID"):
            span_rowid(bad)


def test_pages_are_read_once_oldest_first_and_resume_after_a_restart(
    phoenix: FakePhoenix, http: httpx.Client
) -> None:
    """Seven spans in pages of two: every span exactly once, each page oldest first, cursor as JSON."""
    for i in range(7):
        phoenix.add_span(
            f"step{i}", project="support-bot", kind="CHAIN", start=NOW - timedelta(minutes=30 - i)
        )
    phoenix.add_span("elsewhere", project="default", start=NOW - timedelta(minutes=5))
    texts, cursor, reads = _drain(_source(phoenix, http), {}, 2)
    assert (4, 7) == (reads, len(texts))
    assert sorted(f"step{i}" for i in range(7)) == sorted(_names(texts))
    assert ["step5", "step6"] == _names(texts)[:2]  # newest page first, each page in order
    assert {"hwm": 7} == {k: v for k, v in cursor.items() if k != "latency"}
    for request in phoenix.requests:
        assert request.path == "/v1/projects/support-bot/spans"
        assert request.query["start_time"] == (NOW - timedelta(hours=1)).isoformat()
    assert [None, global_id("Span", 5), global_id("Span", 3), global_id("Span", 1)] == [
        r.query.get("cursor") for r in phoenix.requests
    ]

    # Later: only spans stored after the mark, including one that started before the last read.
    phoenix.add_span("late", project="support-bot", kind="CHAIN", start=NOW - timedelta(minutes=50))
    phoenix.add_span("new", project="support-bot", kind="CHAIN", start=NOW)
    again, cursor, _ = _drain(_source(phoenix, http), cursor, 2)
    assert ["late", "new"] == _names(again)
    assert ([], False) == (
        _source(phoenix, http).read(cursor, 2).lines,
        _source(phoenix, http).read(cursor, 2).more,
    )


def test_a_refused_page_cursor_restarts_the_walk(phoenix: FakePhoenix, http: httpx.Client) -> None:
    """A stored next_cursor the server no longer accepts is not a dead end: the walk starts again."""
    for i in range(3):
        phoenix.add_span(f"s{i}", project="support-bot", start=NOW - timedelta(minutes=5))
    stale = {"hwm": 1, "drain": {"head": 3, "page": "bm90IGEgY3Vyc29y", "since": NOW.isoformat()}}
    batch = _source(phoenix, http).read(stale, 10)
    assert (["s1", "s2"], {"hwm": 3}) == (
        _names([line.text for line in batch.lines]),
        {k: v for k, v in batch.cursor.items() if k != "latency"},
    )
    [note] = batch.notes
    assert "Invalid cursor" in note
    assert "cursor" not in phoenix.requests[-1].query


def test_first_read_looks_back_only_the_window_and_pages_are_capped(
    phoenix: FakePhoenix, http: httpx.Client
) -> None:
    """Spans older than the lookback are not read; a huge limit is sent as Phoenix's maximum 1000."""
    phoenix.add_span("ancient", project="support-bot", start=NOW - timedelta(hours=3))
    phoenix.add_span("recent", project="support-bot", start=NOW - timedelta(minutes=10))
    batch = _source(phoenix, http, lookback_seconds=1800).read({}, 50_000)
    assert ["recent"] == _names([line.text for line in batch.lines])
    assert ("1000", (NOW - timedelta(minutes=30)).isoformat()) == (
        phoenix.requests[-1].query["limit"],
        phoenix.requests[-1].query["start_time"],
    )


def test_fake_refuses_what_real_phoenix_refuses(phoenix: FakePhoenix, http: httpx.Client) -> None:
    """The fake validates like the server: limit range, datetimes, cursors, unknown params, projects."""
    url = f"{phoenix.url}/v1/projects/support-bot/spans"
    assert 422 == http.get(url, params={"limit": "1001"}).status_code
    assert 422 == http.get(url, params={"limit": "0"}).status_code
    assert 422 == http.get(url, params={"start_time": "yesterday"}).status_code
    assert {"detail": "Invalid cursor"} == http.get(url, params={"cursor": "bogus"}).json()
    assert 422 == http.get(url, params={"statuscode": "ERROR"}).status_code
    assert 404 == http.get(f"{phoenix.url}/v1/projects/nope/spans").status_code
    assert 200 == http.get(f"{phoenix.url}/v1/projects/{global_id('Project', 2)}/spans").status_code


def test_error_span_folds_its_python_traceback(phoenix: FakePhoenix, http: httpx.Client) -> None:
    """An ERROR span becomes an error event with the exception's type and the service's frames."""
    phoenix.add_error_span(
        "answer_question",
        project="support-bot",
        kind="CHAIN",
        start=NOW - timedelta(minutes=1),
        exc_type="openai.RateLimitError",
        message="Error code: 429",
        stacktrace=python_traceback("openai.RateLimitError", "Error code: 429", FRAMES),
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        attributes={"llm.model_name": "gpt-4o", "llm.token_count.prompt": 1200},
    )
    [event] = list(parse_lines(_source(phoenix, http).read({}, 100).lines))
    assert ("error", "openai.RateLimitError", "phoenix.chain") == (
        event.level,
        event.exception_type,
        event.logger,
    )
    assert ["answer", "create"] == [frame.function for frame in event.frames]
    assert "CHAIN span answer_question (trace 4bf92f3577b34da6a3ce929d0e0e4736) failed" in event.message
    assert {
        "span_name": "answer_question",
        "span_kind": "CHAIN",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "model": "gpt-4o",
        "prompt_tokens": 1200,
        "status_code": "ERROR",
    }.items() <= event.fields.items()


def test_error_without_a_stacktrace_names_the_exception_in_the_message() -> None:
    """A non-Python SDK's exception event (no stacktrace) still says what was raised."""
    span = _span(
        "lookup_order",
        "TOOL",
        trace="ab12",
        status="ERROR",
        events=[{"name": "exception", "attributes": {"exception": {"type": "HTTPError", "message": "500"}}}],
    )
    [event] = list(parse_lines([span_line(span, "p", {})]))
    assert ("error", "TOOL span lookup_order (trace ab12) failed: HTTPError: 500") == (
        event.level,
        event.message,
    )


@pytest.mark.parametrize(
    "attributes",
    [
        {"llm.output_messages.0.message.finish_reason": "length"},
        {"gen_ai.response.finish_reasons": ["length"]},
        {"output.value": json.dumps({"choices": [{"index": 0, "finish_reason": "length"}]})},
        {"output.value": json.dumps({"stop_reason": "max_tokens", "content": []})},
        {"output.value": json.dumps({"candidates": [{"finishReason": "MAX_TOKENS"}]})},
    ],
)
def test_truncated_llm_output_is_a_truncation_warning(attributes: dict[str, Any]) -> None:
    """Each provider's way of saying "cut at the token limit" becomes a truncation warning."""
    span = _span(
        "summarize",
        "LLM",
        trace="77aa",
        ms=3000,
        attributes={"llm.model_name": "gpt-4o-mini", "llm.token_count.completion": 512, **attributes},
    )
    [event] = list(parse_lines([span_line(span, "p", {})]))
    assert "warning" == event.level
    assert event.message.startswith("LLM span summarize (trace 77aa) output truncated: finish reason ")
    assert event.message.endswith("model gpt-4o-mini, 512 completion tokens")
    assert {"stop", "end_turn"}.isdisjoint(finish_reasons(span["attributes"]))


def test_normal_finish_is_info() -> None:
    """`stop` is not a truncation."""
    span = _span(
        "chat", "LLM", attributes={"output.value": json.dumps({"choices": [{"finish_reason": "stop"}]})}
    )
    [event] = list(parse_lines([span_line(span, "p", {})]))
    assert ("info", "LLM span chat ok") == (event.level, event.message)


def test_slower_than_its_own_usual_latency(phoenix: FakePhoenix, http: httpx.Client) -> None:
    """A tool span at 10× its own average is a slow warning; a chain span never is (children add up)."""
    start = NOW - timedelta(minutes=40)
    timings = [(start + timedelta(seconds=i), 200.0) for i in range(25)] + [(NOW - timedelta(minutes=1), 0.0)]
    for when, ms in timings:
        for name, kind, slow in (("search_docs", "TOOL", 2500), ("pipeline", "CHAIN", 9000)):
            phoenix.add_span(name, project="support-bot", kind=kind, start=when, duration_ms=ms or slow)
    texts, cursor, _ = _drain(_source(phoenix, http), {}, 1000)
    events = [e for e in parse_lines(RawLine(text) for text in texts) if e.level == "warning"]
    trace = f"{51:032x}"  # the 51st span stored
    assert [f"TOOL span search_docs (trace {trace}) slower than usual: took 2.50s, usually 0.20s"] == [
        e.message for e in events
    ]
    assert {"TOOL:search_docs"} == set(cursor["latency"])


def test_latency_needs_samples_and_a_floor() -> None:
    """No verdict before min_samples spans, and nothing below min_ms counts as slow."""
    rule = LatencyRule(factor=3, min_ms=1000, min_samples=3)
    table: dict[str, list[float]] = {}

    def line(ms: float) -> str:
        span = _span("rerank", "RERANKER", ms=ms)
        return json.loads(span_line(span, "p", table, rule).text)["level"]

    assert ["info", "info", "info", "info", "warning"] == [line(ms) for ms in (50, 5000, 50, 900, 9000)]


@settings(max_examples=200, deadline=None)
@given(
    attributes=st.dictionaries(
        st.one_of(
            st.sampled_from(
                [
                    "llm.model_name",
                    "llm.token_count.prompt",
                    "llm.token_count.completion",
                    "output.value",
                    "gen_ai.response.finish_reasons",
                    "llm.output_messages.0.message.finish_reason",
                ]
            ),
            st.text(max_size=30),
        ),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.floats(),
            st.text(),
            st.lists(st.text(), max_size=3),
            st.builds(
                json.dumps,
                st.dictionaries(
                    st.sampled_from(["choices", "candidates", "stop_reason", "incomplete_details"]),
                    st.one_of(st.text(), st.integers(), st.lists(st.dictionaries(st.text(), st.text()))),
                ),
            ),
        ),
    ),
    events=st.lists(
        st.dictionaries(
            st.sampled_from(["name", "attributes", "timestamp"]),
            st.one_of(st.text(), st.just("exception"), st.dictionaries(st.text(max_size=20), st.text())),
        ),
        max_size=3,
    ),
    status=st.sampled_from(["OK", "ERROR", "UNSET", ""]),
    name=st.text(),
)
def test_any_span_becomes_exactly_one_parseable_event(
    attributes: dict[str, Any], events: list[dict[str, Any]], status: str, name: str
) -> None:
    """Hostile attribute and event shapes never break the line: one JSON event per span."""
    span = _span(name, "LLM", status=status, attributes=attributes, events=events)
    line = span_line(span, "p", {})
    assert "\n" not in json.loads(line.text)["message"]
    assert 1 == len(list(parse_lines([line])))


def test_a_huge_stacktrace_keeps_the_line_whole() -> None:
    """A 200 KB stacktrace full of quotes and non-ASCII is shortened from the top, never cut mid-JSON."""
    frames = [(f"/app/deep/mod_é{i}.py", i, f"level_{i}") for i in range(3000)]
    stacktrace = python_traceback("RecursionError", 'too deep: "☃" ' * 2000, frames)
    span = _span(
        "recurse",
        "CHAIN",
        status="ERROR",
        events=[
            {
                "name": "exception",
                "attributes": {"exception.type": "RecursionError", "exception.stacktrace": stacktrace},
            }
        ],
    )
    line = span_line(span, "p", {})
    [event] = list(parse_lines([line]))
    assert len(line.text) <= MAX_LINE_CHARS
    assert ("RecursionError", "level_2999") == (event.exception_type, event.frames[-1].function)
    assert event.traceback.lstrip().startswith(("File ", "..."))  # whole lines only
    assert event.message.startswith('CHAIN span recurse (trace t1) failed: RecursionError: too deep: "☃"')


def test_span_events_reach_the_detectors(phoenix: FakePhoenix, http: httpx.Client) -> None:
    """Repeated failures, two cut outputs and one slow call become the anomalies a log would give."""
    start = NOW - timedelta(minutes=14)
    cut = {"llm.model_name": "gpt-4o", "gen_ai.response.finish_reasons": ["length"]}
    for i in range(20):
        phoenix.add_span("search", project="support-bot", kind="TOOL", start=start + timedelta(seconds=i))
    for i in range(3):
        phoenix.add_error_span(
            "tool_call",
            project="support-bot",
            kind="TOOL",
            start=start + timedelta(minutes=1 + i),
            exc_type="ValueError",
            message=f"bad order {i}",
            stacktrace=python_traceback("ValueError", f"bad order {i}", FRAMES),
        )
        phoenix.add_span(
            "summarize", project="support-bot", start=start + timedelta(minutes=2), attributes=cut
        )
    phoenix.add_span("search", project="support-bot", kind="TOOL", start=NOW, duration_ms=4000)
    texts, _, _ = _drain(_source(phoenix, http), {}, 1000)
    anomalies = analyze([RawLine(text) for text in texts], DetectorThresholds(), DetectorState(), now=NOW)
    found = sorted((a.kind, a.title.split(" (trace")[0]) for a in anomalies.anomalies)
    assert [
        ("error_pattern", "ValueError: TOOL span tool_call"),
        ("performance", "LLM span summarize"),
        ("performance", "TOOL span search"),
    ] == found


_ANY_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional=dict.fromkeys(
            (
                "name",
                "context",
                "span_kind",
                "start_time",
                "end_time",
                "status_code",
                "status_message",
                "attributes",
                "events",
            ),
            _ANY_JSON,
        ),
    )
)
def test_any_span_shape_becomes_one_event(span: dict[str, Any]) -> None:
    """Whatever types a span's fields hold, it is one event; the scan never raises on it."""
    assert 1 == len(list(parse_lines([span_line(span, "p", {})])))


def test_a_span_naming_the_bots_marker_is_not_dropped_as_the_bots_own_line() -> None:
    """A span whose name or status holds `[fixbot]` (the bot's own log marker) is still an event.

    Hypothesis found it: the folder drops lines with the marker, and a span's text is the
    service's, never the bot's; the line spells the marker with a JSON escape, so it reads the same."""
    span = {"name": "[fixbot] lookup", "span_kind": "LLM", "status_code": "[fixbot]"}
    line = span_line(span, "p", {})
    [event] = parse_lines([line])
    assert "[fixbot] lookup" in event.message


def test_secrets_in_span_text_are_redacted_at_the_source(phoenix: FakePhoenix, http: httpx.Client) -> None:
    """Keys in a span's name, status, exception or stacktrace never leave the source; prompts are not read."""
    secret = "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX"
    phoenix.add_error_span(
        f"call api_key={secret}",
        project="support-bot",
        start=NOW - timedelta(minutes=1),
        exc_type="AuthenticationError",
        message=f"Incorrect API key provided: {secret}",
        stacktrace=python_traceback("AuthenticationError", f"Authorization: Bearer {secret}", FRAMES),
        attributes={"input.value": f"my password is hunter2 and key {secret}", "llm.model_name": "gpt-4o"},
    )
    [line] = _source(phoenix, http).read({}, 10).lines
    assert secret not in line.text
    assert "hunter2" not in line.text
    assert "[REDACTED]" in line.text


def test_http_failures_are_source_errors(phoenix: FakePhoenix, http: httpx.Client) -> None:
    """429 keeps Retry-After, 5xx and an unreachable server are unavailable, 404 names the project."""
    source = _source(phoenix, http)
    phoenix.fail_next(Failure(429, b"{}", {"Retry-After": "90"}), Failure(503, b"down"))
    with pytest.raises(SourceRateLimited) as limited:
        source.read({}, 10)
    assert 90.0 == limited.value.retry_after
    with pytest.raises(SourceUnavailable, match="HTTP 503"):
        source.read({}, 10)
    with pytest.raises(SourceBadResponse, match="project 'nope' not found"):
        PhoenixSource("phoenix:project=nope", client=http, endpoint=phoenix.url).read({}, 10)
    phoenix.fail_next(
        Failure(200, b"<html>"),
        Failure(200, b'{"spans": []}'),
        Failure(200, b'{"data": [{"name": "x", "id": ""}], "next_cursor": null}'),
    )
    with pytest.raises(SourceBadResponse, match="not JSON"):
        source.read({}, 10)
    with pytest.raises(SourceBadResponse, match="no data list"):
        source.read({}, 10)
    with pytest.raises(SourceBadResponse, match="returns `id`"):
        source.read({}, 10)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SourceUnavailable, match="cannot reach"):
        PhoenixSource("phoenix:project=p", client=http, endpoint=f"http://127.0.0.1:{port}").read({}, 10)


def test_api_key_is_sent_as_bearer_and_a_refusal_names_the_variable(http: httpx.Client) -> None:
    """Without (or with a wrong) PHOENIX_API_KEY the error says so; with it the spans are read."""
    with FakePhoenix(api_key=KEY, projects=("support-bot",)) as server:
        server.add_span("chat", project="support-bot", start=NOW - timedelta(minutes=1))
        with pytest.raises(SourceAuthError, match=r"unauthorized .* check PHOENIX_API_KEY .*not set"):
            _source(server, http).read({}, 10)
        with pytest.raises(SourceAuthError, match=r"check PHOENIX_API_KEY$"):
            _source(server, http, api_key="wrong").read({}, 10)
        source = open_source(
            "phoenix:project=support-bot",
            client=http,
            railway_secrets=Secrets(phoenix_api_key=SecretStr(KEY)),
            phoenix=PhoenixTarget(endpoint=server.url, lookback_seconds=10**9),
        )
        assert 1 == len(source.read({}, 10).lines)
        assert f"Bearer {KEY}" == server.requests[-1].headers["authorization"]


def test_settings_accept_a_phoenix_service(tmp_path: Path) -> None:
    """`phoenix:project=` is a valid source; the endpoint is configured, the key read from the environment."""
    config = tmp_path / "agent.toml"
    config.write_text(
        '[[services]]\nname = "bot"\nsource = "phoenix:project=support-bot"\nrepo = "."\n'
        '[services.phoenix]\nendpoint = "http://phoenix:6006"\nlookback_seconds = "2h"\n'
    )
    settings = load_settings(config, environ={"PHOENIX_API_KEY": KEY})
    [service] = settings.services
    assert ("http://phoenix:6006", 7200.0) == (service.phoenix.endpoint, service.phoenix.lookback_seconds)
    assert settings.secrets.phoenix_api_key is not None
    assert KEY == settings.secrets.phoenix_api_key.get_secret_value()
    assert KEY not in repr(settings.secrets)


def test_example_configuration_shows_a_phoenix_service() -> None:
    """agent.example.toml has a Phoenix service with its endpoint; the key is not in the file."""
    example = Path(__file__).resolve().parents[2] / "agent.example.toml"
    [service] = [s for s in load_settings(example, environ={}).services if s.source.startswith("phoenix:")]
    assert ("support-bot", "http://phoenix.railway.internal:6006") == (
        parse_spec(service.source),
        service.phoenix.endpoint,
    )


def _service(tmp_path: Path, url: str, key: str | None) -> tuple[Settings, ServiceSettings]:
    service = ServiceSettings(
        name="bot",
        source="phoenix:project=support-bot",
        repo=str(tmp_path),
        phoenix=PhoenixTarget(endpoint=url, lookback_seconds=10**9),
    )
    secrets = Secrets(phoenix_api_key=SecretStr(key) if key else None)
    return Settings(config_path=None, data_dir=tmp_path, services=(service,), secrets=secrets), service


def test_scan_turns_failing_spans_into_one_incident_and_keeps_its_cursor(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    """Three failing spans → one incident; a refused key is a source status with backoff, not a crash."""
    with FakePhoenix(api_key=KEY, projects=("support-bot",)) as server:
        for i in range(3):
            server.add_error_span(
                "answer_question",
                project="support-bot",
                start=NOW - timedelta(minutes=5 - i),
                exc_type="KeyError",
                message="'sku'",
                stacktrace=python_traceback("KeyError", "'sku'", FRAMES),
            )
        settings, service = _service(tmp_path, server.url, KEY)
        http = httpx.Client(timeout=5.0)
        report = run_scan(settings, sessions, service, client=http, now=lambda: NOW)
        assert ("", 3, ["error_pattern"]) == (report.error, report.events, [a.kind for a in report.anomalies])
        again = run_scan(settings, sessions, service, client=http, now=lambda: NOW)
        assert (0, []) == (again.events, again.anomalies)

        refused, _ = _service(tmp_path, server.url, "wrong-key")
        failed = run_scan(refused, sessions, service, client=http, now=lambda: NOW)
        http.close()
    assert "phoenix: unauthorized (HTTP 401) — check PHOENIX_API_KEY" == failed.error
    with sessions() as session:
        [health] = source_health(session)
        [incident] = list_incidents(session)
    assert (False, 1, failed.error) == (health.ok, health.consecutive_failures, health.last_error)
    assert health.next_attempt_at is not None
    assert health.next_attempt_at > NOW
    assert incident.title.startswith("KeyError: LLM span answer_question (trace ")
    assert "bot.py" in json.dumps(incident.details["frames"])
