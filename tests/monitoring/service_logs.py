"""Realistic logs of a Python web service, with labelled incidents, in three formats.

`service_log(fmt, seed)` returns the lines and the labels. The service (an order API behind uvicorn)
logs steady traffic for 70 minutes of warm-up, then the incidents, each at its own time, over
steady traffic that goes on. Formats:

- "plain": `logging` lines (`2026-10-20 00:00:01,123 INFO app.api: …`), tracebacks under them;
- "json": structlog JSON, exceptions in the `exception` field, some error lines cut mid-JSON;
- "mixed": uvicorn's own lines (`INFO:     10.0.0.7:51234 - "GET /health HTTP/1.1" 200 OK`, no time,
  `ERROR:    Exception in ASGI application` + traceback, one an exception group) among `logging` lines.

Variables are drawn from word pools (user names, cities, tenants, models), ids and lognormal
durations, so lines of one statement differ in words, not only digits. Steady traffic must never
become an incident: health checks, successful requests, routine durations (an LLM call of ~3 s), a
rare warning, a rare known error. `steady_lines(fmt, count, seed)` yields only that traffic (for the
throughput benchmark), streamed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitoring.detect import Anomaly

__all__ = ["LABELS", "Label", "match_labels", "service_log", "steady_lines"]

START = datetime(2026, 10, 20, 0, 0, tzinfo=UTC)
WARMUP = timedelta(minutes=70)

USERS = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yolanda", "zoe",
]  # fmt: skip
CITIES = ["berlin", "paris", "lisbon", "oslo", "madrid", "vienna", "prague", "dublin", "rome", "warsaw"]
TENANTS = ["acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka", "tyrell"]
MODELS = ["gpt-4o-mini", "claude-haiku", "llama-3-8b"]
WAREHOUSES = ["north", "south", "east", "west", "central"]
HOSTS = ["hooks.acme.io", "api.globex.com", "events.initech.net", "notify.hooli.dev"]
JOBS = ["reindex", "invoice-export", "cleanup", "digest-mail", "stock-sync"]


ALL = range(1, 11)


@dataclass(frozen=True)
class Label:
    """An incident the detectors must find: its kind and a text that names it."""

    kind: str
    needle: str  # found in the anomaly's title, template, exception type or samples


LABELS = (
    Label("error_pattern", "KeyError"),
    Label("error_pattern", "ZeroDivisionError"),
    Label("error_pattern", "payment provider"),
    Label("unusual", "duplicate event"),
    Label("performance", "inventory"),
    Label("unusual", "/api/search"),
    Label("new_error", "AttributeError"),
    Label("new_value", "503"),
    Label("new_value", "price must be positive"),
    Label("performance", "truncated"),
)


def _text(anomaly: Anomaly) -> str:
    return " ".join([anomaly.title, anomaly.template, anomaly.exception_type, *anomaly.samples])


def _matches(label: Label, anomaly: Anomaly) -> bool:
    return label.kind == anomaly.kind and label.needle in _text(anomaly)


def match_labels(labels: tuple[Label, ...], anomalies: list[Anomaly]) -> tuple[list[Label], list[str]]:
    """(labels no anomaly matches, anomalies no label explains as `kind: title`)."""
    missing = [label for label in labels if not any(_matches(label, a) for a in anomalies)]
    extra = [f"{a.kind}: {a.title}" for a in anomalies if not any(_matches(label, a) for label in labels)]
    return missing, extra


def _frames(*frames: tuple[str, int, str, str]) -> list[str]:
    out = ["Traceback (most recent call last):"]
    for file, line, function, code in frames:
        out += [f'  File "{file}", line {line}, in {function}', f"    {code}"]
    return out


_ANYIO = "/usr/local/lib/python3.12/site-packages/anyio/_backends/_asyncio.py"
_STARLETTE = ("/usr/local/lib/python3.12/site-packages/starlette/routing.py", 74, "app", "await func()")
KEYERROR = [
    *_frames(_STARLETTE, ("/app/api/orders.py", 41, "get_order", "return ORDERS[order_id]['owner']")),
    "KeyError: 'owner'",
]
ZERODIV = [
    *_frames(_STARLETTE, ("/app/api/stats.py", 17, "average", "return total / count")),
    "ZeroDivisionError: division by zero",
]
ATTRIBUTE = [
    *_frames(("/app/api/users.py", 88, "profile", "return user.settings.theme")),
    "AttributeError: 'NoneType' object has no attribute 'theme'",
]


def _sync_error(text: str) -> list[str]:
    return [*_frames(("/app/jobs/sync.py", 52, "sync_order", "validate(order)")), f"ValueError: {text}"]


def _words(rng: random.Random, count: int) -> list[str]:
    """`count` distinct made-up words (`kavoren`, `tisma`), for pools far larger than the lists above."""
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"] + ["an", "el", "or", "is", "um"]
    words: set[str] = set()
    while len(words) < count:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return sorted(words)


class _Writer:
    """Renders one record in one of the formats; `pool` > 0 widens every word pool to that size."""

    def __init__(self, fmt: str, rng: random.Random, pool: int = 0) -> None:
        self.fmt = fmt
        self.rng = rng
        extra = _words(random.Random(pool), pool) if pool else []
        self.users = USERS + extra
        self.cities = CITIES + extra[: pool // 4]
        self.tenants = TENANTS + extra[pool // 2 : pool // 2 + pool // 10]
        self.warehouses = WAREHOUSES + extra[-(pool // 50) :] if pool else WAREHOUSES
        self.hosts = HOSTS + [f"{word}.example.com" for word in extra[: pool // 20]]
        self.jobs = JOBS + [f"{word}-sync" for word in extra[pool // 3 : pool // 3 + pool // 50]]

    @staticmethod
    def _plain_stamp(at: datetime) -> str:
        return at.strftime("%Y-%m-%d %H:%M:%S,") + f"{at.microsecond // 1000:03d}"

    def log(
        self,
        at: datetime,
        level: str,
        logger: str,
        message: str,
        traceback: list[str] | None = None,
        *,
        cut: int = 0,
        **fields: object,
    ) -> list[str]:
        if self.fmt == "json":
            record: dict[str, object] = {"event": message, "level": level.lower(), "logger": logger}
            record["timestamp"] = at.isoformat().replace("+00:00", "Z")
            record.update(fields)
            if traceback:
                record["exception"] = "\n".join(traceback)
            line = json.dumps(record)
            return [line[:cut] if cut else line]
        head = f"{self._plain_stamp(at)} {level} {logger}: {message}"
        return [head, *(traceback or [])]

    def request(  # noqa: PLR0917 - reads like the access line it renders
        self, at: datetime, method: str, path: str, status: int, duration_ms: float, client: str
    ) -> list[str]:
        level = "ERROR" if status >= 500 else "WARNING" if status >= 400 else "INFO"
        if self.fmt == "json":
            return self.log(
                at,
                level,
                "app.access",
                "request finished",
                method=method,
                path=path,
                status=status,
                duration_ms=round(duration_ms, 1),
                client=client,
            )
        reason = {
            200: "OK",
            201: "Created",
            401: "Unauthorized",
            404: "Not Found",
            422: "Unprocessable Entity",
        }
        line = f'{client} - "{method} {path} HTTP/1.1" {status}'
        if self.fmt == "mixed":
            return [f"{level + ':':<10}{line} {reason.get(status, 'Service Unavailable')}"]
        return [f"{self._plain_stamp(at)} {level} uvicorn.access: {line}"]

    def asgi_error(self, at: datetime, traceback: list[str], *, group: bool) -> list[str]:
        """An unhandled exception in a request: uvicorn's own line in the mixed format."""
        if self.fmt != "mixed":
            return self.log(at, "ERROR", "app.api", "unhandled error in request handler", traceback)
        if not group:
            return ["ERROR:    Exception in ASGI application", *traceback]
        inner = ["Traceback (most recent call last):", *traceback[1:]]
        return [
            "ERROR:    Exception in ASGI application",
            "  + Exception Group Traceback (most recent call last):",
            f'  |   File "{_ANYIO}", line 767, in __aexit__',
            "  |     raise BaseExceptionGroup(",
            "  | ExceptionGroup: unhandled errors in a TaskGroup (1 sub-exception)",
            "  +-+---------------- 1 ----------------",
            *(f"    | {line}" for line in inner),
            "    +------------------------------------",
        ]


def _client(rng: random.Random) -> str:
    return f"10.0.{rng.randrange(256)}.{rng.randrange(1, 255)}:{rng.randrange(30000, 65000)}"


def _lognormal(rng: random.Random, typical: float, sigma: float = 0.3) -> float:
    return rng.lognormvariate(0.0, sigma) * typical


def _steady_second(w: _Writer, at: datetime, second: int, rng: random.Random) -> list[str]:
    """The lines of one second of steady traffic (about 40 a minute)."""
    out: list[str] = []
    if second % 10 == 0:
        out += w.request(at, "GET", "/health", 200, _lognormal(rng, 2), _client(rng))
    if rng.random() < 0.17:
        order = rng.randrange(10_000, 99_999)
        status = 404 if rng.random() < 0.03 else 200
        out += w.request(at, "GET", f"/api/orders/{order}", status, _lognormal(rng, 40), _client(rng))
    if rng.random() < 0.05:
        status = 422 if rng.random() < 0.05 else 201
        out += w.request(at, "POST", "/api/orders", status, _lognormal(rng, 90), _client(rng))
    if rng.random() < 0.08:
        out += w.request(
            at, "GET", f"/api/search?q={rng.choice(w.cities)}", 200, _lognormal(rng, 60), _client(rng)
        )
    if rng.random() < 0.08:
        out += w.log(
            at, "INFO", "app.auth", f"user {rng.choice(w.users)} logged in from {rng.choice(w.cities)}"
        )
    if rng.random() < 0.05:
        out += w.log(
            at,
            "INFO",
            "app.orders",
            f"order {rng.randrange(10_000, 99_999)} created for customer {rng.choice(w.users)} "
            f"total {rng.randrange(5, 500)}.{rng.randrange(100):02d} EUR",
        )
    if rng.random() < 0.03:
        out += w.log(
            at,
            "INFO",
            "app.llm",
            f"LLM call completed model={rng.choice(MODELS)} in {_lognormal(rng, 3.0, 0.15):.2f}s",
        )
    if rng.random() < 0.03:
        out += w.log(
            at,
            "INFO",
            "app.inventory",
            f"fetched inventory for warehouse {rng.choice(w.warehouses)} in {_lognormal(rng, 120):.0f}ms",
        )
    if rng.random() < 0.02:
        out += w.log(
            at,
            "INFO",
            "app.jobs",
            f"background job {rng.choice(w.jobs)} finished for tenant {rng.choice(w.tenants)} "
            f"in {_lognormal(rng, 800, 0.3):.0f}ms",
        )
    if rng.random() < 0.004:
        out += w.log(
            at,
            "WARNING",
            "app.webhooks",
            f"retrying webhook delivery to {rng.choice(w.hosts)} attempt {rng.randrange(1, 4)}",
        )
    if rng.random() < 0.004:
        out += w.log(at, "DEBUG", "app.cache", f"cache refreshed for tenant {rng.choice(w.tenants)}")
    return out


def steady_lines(fmt: str, count: int, seed: int = 7, pool: int = 0) -> Iterator[str]:
    """`count` lines of steady traffic (no incidents), generated as they are consumed; `pool` widens
    the word pools (user names, cities, tenants, hosts, …) to that many made-up words."""
    rng = random.Random(seed)
    w = _Writer(fmt, rng, pool)
    produced = 0
    second = 0
    while True:
        at = START + timedelta(seconds=second, milliseconds=rng.randrange(1000))
        for line in _steady_second(w, at, second, rng):
            yield line
            produced += 1
            if produced >= count:
                return
        second += 1


def service_log(
    fmt: str, seed: int = 7, minutes: int = 110, incidents: Collection[int] = ALL
) -> tuple[list[str], tuple[Label, ...]]:
    """A labelled log: steady traffic for `minutes`, then the `incidents` (1-based numbers into
    `LABELS`) after the warm-up. Returns the lines and the labels of the incidents it holds."""
    rng = random.Random(seed)
    w = _Writer(fmt, rng)
    lines: list[str] = []
    t0 = START + WARMUP
    for second in range(minutes * 60):
        at = START + timedelta(seconds=second, milliseconds=rng.randrange(1000))
        lines += _steady_second(w, at, second, rng)
        # A rare known error: order sync fails for a bad sku about every 20 minutes (never 3 in 15 min).
        if second % 1200 == 300:
            lines += w.log(
                at, "ERROR", "app.sync", "order sync failed", _sync_error(f"invalid sku SKU-{second}")
            )
        offset = int((at - t0).total_seconds())
        if offset >= 0:
            minute, tick = divmod(offset, 60)
            lines += _errors(w, at, minute, tick, rng, incidents)
            lines += _changes(w, at, minute, tick, rng, incidents)
    return lines, tuple(label for number, label in enumerate(LABELS, 1) if number in incidents)


def _errors(  # noqa: PLR0917 - one call site, the clock and the choice
    w: _Writer, at: datetime, minute: int, tick: int, rng: random.Random, on: Collection[int]
) -> list[str]:
    """Incidents 1, 2, 3, 7, 9 of `LABELS` (minutes after the warm-up)."""
    out: list[str] = []
    # 1, 2: two exceptions behind the same log message, interleaved, minutes 0-3.
    if 1 in on and minute < 3 and tick in {5, 35}:
        out += w.asgi_error(at, KEYERROR, group=False)
    if 2 in on and minute < 2 and tick in {20, 50}:
        out += w.asgi_error(at, ZERODIV, group=True)
    # 3: the payment provider fails six times (in JSON, cut mid-line by a 150-byte log shipper).
    if 3 in on and minute == 5 and tick % 10 == 0:
        trace = [
            *_frames(("/app/payments/client.py", 66, "charge", "resp.raise_for_status()")),
            "httpx.ReadTimeout: timed out",
        ]
        json_only = trace if w.fmt == "json" else None
        message = f"payment provider timeout for order {rng.randrange(10_000, 99_999)}"
        out += w.log(at, "ERROR", "app.payments", message, json_only, cut=150 if w.fmt == "json" else 0)
    # 7: a new error, once.
    if 7 in on and minute == 30 and tick == 0:
        out += w.asgi_error(at, ATTRIBUTE, group=False)
    # 9: the known sync error with a message it never had, once.
    if 9 in on and minute == 34 and tick == 0:
        out += w.log(at, "ERROR", "app.sync", "order sync failed", _sync_error("price must be positive"))
    return out


def _changes(  # noqa: PLR0917 - one call site, the clock and the choice
    w: _Writer, at: datetime, minute: int, tick: int, rng: random.Random, on: Collection[int]
) -> list[str]:
    """Incidents 4, 5, 6, 8, 10 of `LABELS` (minutes after the warm-up)."""
    out: list[str] = []
    # 4: duplicate-event retries, normally absent, 40 a minute for 4 minutes.
    if 4 in on and 10 <= minute < 14 and tick % 3 != 2:
        message = f"duplicate event evt_{rng.randrange(10**6)} ignored, retrying"
        out += w.log(at, "WARNING", "app.events", message)
    # 5: inventory fetches become 8x slower for 6 minutes (more of them, too: retries).
    if 5 in on and 16 <= minute < 22 and tick % 15 == 0:
        took = _lognormal(rng, 950)
        message = f"fetched inventory for warehouse {rng.choice(WAREHOUSES)} in {took:.0f}ms"
        out += w.log(at, "INFO", "app.inventory", message)
    # 6: /api/search starts refusing most callers (401) for 4 minutes.
    if 6 in on and 24 <= minute < 28 and tick % 2 == 0:
        status = 401 if rng.random() < 0.7 else 200
        took = 5.0 if status == 401 else _lognormal(rng, 60)
        out += w.request(at, "GET", f"/api/search?q={rng.choice(CITIES)}", status, took, _client(rng))
    # 8: a known route answers with a status it never had, once.
    if 8 in on and minute == 32 and tick == 0:
        out += w.request(at, "POST", "/api/orders", 503, 30_000.0, _client(rng))
    # 10: LLM answers truncated, three times.
    if 10 in on and minute == 36 and tick in {0, 20, 40}:
        out += w.log(at, "WARNING", "app.llm", "LLM response truncated at 4096 tokens")
    return out
