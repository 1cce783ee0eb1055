"""Labelled log sets for benchmarks/template_miner.py: messages and the true template of each.

Generated, seeded, 2,000 messages each (the size of a Loghub-2k set), in the shapes the miner must
handle and was not tuned on line by line:

- `python-service`: the messages of a Python web service's `logging` calls: ids, durations, users,
  e-mail addresses, quoted dict keys in exceptions, a reason of one to five words;
- `uvicorn-access`: uvicorn access lines (`10.0.0.7:51234 - "GET /items/7 HTTP/1.1" 200 OK`) with
  the server's own lines; methods are separate statements (as Loghub's OpenStack truth has them),
  and so are the status phrases (`OK`, `Not Found`: a few fixed words, like `VM Paused`/`Resumed`);
- `word-variables`: statements whose variables are words (`feature <w> toggled by <w> for team
  <w> in project`) next to statements that differ in one word of a small fixed set
  (`Deployed <*> to staging` / `... to production`), which must stay apart;
- `varying-lengths`: one statement whose variable spans one to six words
  (`Connection to <*> lost: <*>`), beside fixed statements;
- `loghub-templates:<Name>`: the real corrected templates of eight Loghub-2k sets we have no lines
  for (benchmarks/data/loghub2k_templates), each `<*>` filled with generated values.

Frequencies follow a Zipf law over the statements, as in real logs: a few statements make most lines.
"""

from __future__ import annotations

import csv
import random
import re
import string
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["GENERATED", "LOGHUB_TEMPLATE_SETS", "Labelled", "generate", "loghub_templates"]

Labelled = tuple[list[str], list[str]]
Value = Callable[[random.Random], str]

TEMPLATES = Path(__file__).resolve().parent / "data" / "loghub2k_templates"
LOGHUB_TEMPLATE_SETS = (
    "Proxifier",
    "Spark",
    "HPC",
    "OpenStack",
    "Windows",
    "HealthApp",
    "Hadoop",
    "BGL",
    "Mac",
    "Thunderbird",
    "Android",
)

_SLOT = re.compile(r"\{(\w+)\}")
_NAMES = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yolanda",
]  # fmt: skip


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 10)))


def _hex(rng: random.Random, size: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(size))


_VALUES: dict[str, Value] = {
    "int": lambda r: str(r.randint(0, 99_999)),
    "small": lambda r: str(r.randint(1, 9)),
    "float": lambda r: f"{r.uniform(0, 500):.3f}",
    "ms": lambda r: f"{r.uniform(0.1, 3000):.1f}ms",
    "hex": lambda r: "0x" + _hex(r, 8),
    "uuid": lambda r: f"{_hex(r, 8)}-{_hex(r, 4)}-{_hex(r, 4)}-{_hex(r, 4)}-{_hex(r, 12)}",
    "ip": lambda r: ".".join(str(r.randint(1, 254)) for _ in range(4)),
    "addr": lambda r: f"{'.'.join(str(r.randint(1, 254)) for _ in range(4))}:{r.randint(1024, 65535)}",
    "port": lambda r: str(r.randint(1024, 65535)),
    "path": lambda r: "/" + "/".join(_word(r) for _ in range(r.randint(1, 4))),
    "url": lambda r: f"https://{_word(r)}.example.com/{_word(r)}/{r.randint(1, 999)}",
    "id": lambda r: (
        f"{r.choice(['job', 'task', 'req', 'container'])}_{r.randint(10**9, 10**10)}_{r.randint(1, 99):02d}"
    ),
    "host": lambda r: f"{r.choice(['web', 'db', 'node', 'worker'])}-{r.randint(1, 300)}.internal",
    "email": lambda r: f"{r.choice(_NAMES)}{r.randint(1, 99)}@example.org",
    "name": lambda r: r.choice(_NAMES),
    "word": _word,
    "words": lambda r: " ".join(_word(r) for _ in range(r.randint(1, 4))),
    "key": lambda r: repr(r.choice(["user_id", "email", "token", "order", "cart", "sku", "price", "qty"])),
    "reason": lambda r: r.choice(
        [
            "timed out",
            "connection reset by peer",
            "broken pipe",
            "refused",
            "no route to host",
            "host is unreachable",
            "TLS handshake failed",
            "remote end closed connection without response",
            "name or service not known",
        ]
    ),
}

# (template with {slot} markers, relative weight before the Zipf law is applied)
_PYTHON_SERVICE = [
    "Fetched {int} items for user {int} in {ms}",
    "User {name} logged in from {ip}",
    "User {name} logged out",
    "Cache miss for key user:{int}:profile",
    "Cache hit for key user:{int}:profile",
    "Payment {uuid} succeeded",
    "Payment {uuid} failed: card declined",
    "Retrying request to {url} (attempt {small} of 3)",
    "Job {uuid} finished in {float}s",
    "Connection to {addr} lost: {reason}",
    "Slow query on table {word} took {ms}",
    "Sending password reset e-mail to {email}",
    "Loaded configuration from {path}",
    "Scheduler tick: {int} jobs pending",
    "Health check passed",
    "Health check failed: {reason}",
    "Invalid token for user {name}",
    "Rate limit exceeded for {ip}",
    "Uploaded file {word}.pdf ({int} bytes) to bucket {word}",
    "Unhandled exception in request handler: KeyError: {key}",
    "Order {int} shipped to {word} via {word}",
    "Started worker process [{int}]",
]
_UVICORN = [
    '{addr} - "GET {path} HTTP/1.1" {status_ok} OK',
    '{addr} - "GET {path} HTTP/1.1" 404 Not Found',
    '{addr} - "GET {path} HTTP/1.1" 304 Not Modified',
    '{addr} - "GET {path} HTTP/1.1" 500 Internal Server Error',
    '{addr} - "POST {path} HTTP/1.1" 201 Created',
    '{addr} - "POST {path} HTTP/1.1" 422 Unprocessable Entity',
    '{addr} - "POST {path} HTTP/1.1" {status_ok} OK',
    '{addr} - "DELETE {path} HTTP/1.1" 204 No Content',
    '{addr} - "PUT {path} HTTP/1.1" {status_ok} OK',
    "Started server process [{int}]",
    "Waiting for application startup.",
    "Application startup complete.",
    "Uvicorn running on http://0.0.0.0:{port} (Press CTRL+C to quit)",
    "Shutting down",
    "Finished server process [{int}]",
    "Exception in ASGI application",
]
_WORD_VARIABLES = [
    "feature {word} toggled by {word} for team {word} in project",
    "User {word} joined channel {word}",
    "Deployed {word} to staging",
    "Deployed {word} to production",
    "Cache for tenant {word} warmed up",
    "Cache for tenant {word} evicted",
    "Reindexing collection {word} started by {name}",
    "Reindexing collection {word} finished",
    "Queue {word} is empty",
]
_VARYING_LENGTHS = [
    "Connection to {addr} lost: {reason}",
    "Task {id} failed: {reason}",
    "Resolved host {host} in {ms}",
    "Closing idle connection to {addr}",
    "Pool size is {small}",
]
_EXTRA_VALUES: dict[str, Value] = {"status_ok": lambda r: r.choice(["200", "200", "200", "206"])}

GENERATED: dict[str, Sequence[str]] = {
    "python-service": _PYTHON_SERVICE,
    "uvicorn-access": _UVICORN,
    "word-variables": _WORD_VARIABLES,
    "varying-lengths": _VARYING_LENGTHS,
}


def _zipf(count: int, rng: random.Random) -> list[float]:
    weights = [1 / (rank + 1) for rank in range(count)]
    rng.shuffle(weights)
    return weights


def _fill(template: str, rng: random.Random) -> tuple[str, str]:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return (_EXTRA_VALUES.get(name) or _VALUES[name])(rng)

    return _SLOT.sub(value, template), _SLOT.sub("<*>", template)


def generate(name: str, *, lines: int = 2000, seed: int = 20261129) -> Labelled:
    """(messages, truth templates) of one generated set, or of `loghub-templates:<Name>`."""
    if name.startswith("loghub-templates:"):
        return loghub_templates(name.split(":", 1)[1], lines=lines, seed=seed)
    rng = random.Random(f"{name}:{seed}")
    statements = GENERATED[name]
    weights = _zipf(len(statements), rng)
    messages, truth = [], []
    for template in rng.choices(statements, weights, k=lines):
        message, true = _fill(template, rng)
        messages.append(message)
        truth.append(true)
    return messages, truth


# Kinds of value a `<*>` of a real template gets, and how often: mostly the numbers and ids that
# Loghub's variables are, sometimes words (and a few runs of words), which the miner has to learn.
_SLOT_KINDS = [
    ("int", 30),
    ("float", 8),
    ("hex", 8),
    ("ip", 6),
    ("addr", 6),
    ("path", 8),
    ("id", 14),
    ("host", 6),
    ("word", 10),
    ("words", 4),
]


_NUMERIC = {"int", "float", "hex"}
_OPEN = "[('\""
_CLOSE = "])',.;:\""


def _slot_kind(system: str, event: str, slot: int, *, first: bool, attached: bool) -> str:
    """The kind of value one `<*>` holds, fixed per template and position (as in a real log).

    A `<*>` glued to other characters (`node-<*>`, `HWID=<*>`, `<*>ms`) holds a number: a path or
    a run of words there is no shape a real log has.
    """
    kinds = [
        k
        for k in _SLOT_KINDS
        if not (first and k[0] in ("word", "words")) and not (attached and k[0] not in _NUMERIC)
    ]
    point = zlib.crc32(f"{system}:{event}:{slot}".encode()) % sum(w for _, w in kinds)
    for kind, weight in kinds:
        if point < weight:
            return kind
        point -= weight
    return "int"


def loghub_templates(system: str, *, lines: int = 2000, seed: int = 20261129) -> Labelled:
    """Lines made from the corrected Loghub-2k templates of `system`, each `<*>` filled with a value.

    A `<*>` at the very start of a message never gets a word: a word variable in first position is
    a known limit of prefix-tree miners (ours and Drain) and no Loghub statement is made of it alone.
    """
    with (TEMPLATES / f"{system}.csv").open(newline="", encoding="utf-8") as handle:
        # A template holding a line break is left out: Mac's E152 and E281 (a log line never holds
        # one), and Thunderbird's E29, whose unclosed quote in the source file swallows E30-E34.
        events = [(row["EventId"], row["EventTemplate"]) for row in csv.DictReader(handle)]
        events = [(event, template) for event, template in events if "\n" not in template]
    rng = random.Random(f"{system}:{seed}")
    weights = _zipf(len(events), rng)
    messages, truth = [], []
    for event, template in rng.choices(events, weights, k=lines):
        parts = template.split("<*>")
        out = [parts[0]]
        for slot, part in enumerate(parts[1:]):
            before, after = parts[slot][-1:], part[:1]
            attached = bool(before.strip() and before not in _OPEN) or bool(
                after.strip() and after not in _CLOSE
            )
            kind = _slot_kind(
                system, event, slot, first=slot == 0 and not parts[0].strip(), attached=attached
            )
            out.append(_VALUES[kind](rng))
            out.append(part)
        messages.append("".join(out))
        truth.append(template)
    return messages, truth
