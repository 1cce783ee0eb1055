"""A sample service for the offline demo: real code with a real bug, real tests, real logs, real git.

`create_sample_service(root)` writes a small shop backend (`shop/`) whose coupon lookup raises
`KeyError` for unknown codes, tests that pass on that buggy code (they never use an unknown coupon),
a git repository with one commit and a bare remote `remote.git` with `main` pushed. The layout
matches the embedded default configuration (`file:<root>/service.log`, repo `<root>/remote.git`):

    <root>/work/         the service's checkout (the code that runs and writes the log)
    <root>/remote.git    the bare remote the bot clones, fixes and pushes to
    <root>/service.log   what `produce_logs` appends to

`produce_logs` runs the service code in a subprocess (`python -m shop.simulate`), which logs with
Python's `logging`: INFO lines, tracebacks via `logger.exception` (one per unknown coupon, three or
more per run with varying codes and order ids), a truncation warning and a slow-query warning.

`sample_fix_edits()` / `sample_broken_edits()` / `SAMPLE_ANALYSIS` are what the demo's scripted
model answers: a correct fix that keeps the tests green, and a plausible fix that applies cleanly but
breaks a test (so validation fails and the pipeline rolls back).

Errors: `SampleServiceError` (a git or subprocess step failed; the message carries its output);
`FileExistsError` when the target folder already holds a sample (nothing is overwritten).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "SAMPLE_ANALYSIS",
    "SAMPLE_BRANCH",
    "SAMPLE_LOG_FORMAT",
    "SAMPLE_ROOT_CAUSE",
    "SampleService",
    "SampleServiceError",
    "create_sample_service",
    "produce_logs",
    "pull_latest",
    "remote_log",
    "sample_broken_edits",
    "sample_fix_edits",
]

SAMPLE_BRANCH = "main"
# The service logs with "%(asctime)s %(levelname)s %(name)s: %(message)s" (see shop/simulate.py);
# in the scanner's header notation:
SAMPLE_LOG_FORMAT = "<Date> <Time> <Level> <Component>: <Content>"

_IDENTITY = (
    "-c",
    "user.name=Sample Dev",
    "-c",
    "user.email=dev@sample.invalid",
    "-c",
    "commit.gpgsign=false",
)

_FILES: dict[str, str] = {
    "README.md": """\
# shop

A tiny shop backend: carts, coupons, checkout. Used by fixbot's offline demo.

    python -m pytest -q                       # the tests
    python -m shop.simulate --log shop.log    # serve a batch of requests, logging to shop.log
""",
    "pyproject.toml": """\
[project]
name = "shop"
version = "0.1.0"
requires-python = ">=3.11"

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["."]
# These tests need no third-party plugins; not loading them makes a run take 0.3 s instead of 2 s.
addopts = ["-p", "no:cacheprovider", "-p", "no:anyio", "-p", "no:hypothesispytest", "-p", "no:timeout"]
""",
    ".gitignore": "__pycache__/\n*.pyc\n.pytest_cache/\n*.log\n",
    "shop/__init__.py": '"""A tiny shop backend."""\n',
    "shop/pricing.py": '''\
"""Prices, carts and coupons."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

COUPONS: dict[str, int] = {"WELCOME10": 10, "SPRING25": 25, "VIP50": 50}


@dataclass(frozen=True)
class Item:
    sku: str
    unit_price: Decimal
    quantity: int


def subtotal(items: Iterable[Item]) -> Decimal:
    """The sum of price times quantity over the cart."""
    return sum((item.unit_price * item.quantity for item in items), Decimal("0"))


def discount_percent(code: str) -> int:
    """The discount a coupon code gives, in percent; codes are case-insensitive."""
    return COUPONS[code.strip().upper()]


def order_total(items: Iterable[Item], coupon: str = "") -> Decimal:
    """The amount to charge, rounded to cents, after the coupon's discount."""
    total = subtotal(items)
    if coupon:
        total -= total * discount_percent(coupon) / 100
    return total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
''',
    "shop/checkout.py": '''\
"""The checkout endpoint."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from shop.pricing import Item, order_total

log = logging.getLogger("shop.checkout")


def handle_checkout(request: dict[str, Any]) -> dict[str, Any]:
    """POST /checkout {"order_id", "items": [{"sku", "price", "quantity"}], "coupon"} -> response."""
    items = [Item(i["sku"], Decimal(str(i["price"])), int(i["quantity"])) for i in request["items"]]
    total = order_total(items, request.get("coupon", ""))
    log.info("order %s checked out: %d items, total %s", request["order_id"], len(items), total)
    return {"status": 200, "body": {"order_id": request["order_id"], "total": str(total)}}
''',
    "shop/reviews.py": '''\
"""Review summaries shown on product pages (a stand-in for an LLM call with a token budget)."""

from __future__ import annotations

import logging

log = logging.getLogger("shop.reviews")


def summarize_reviews(sku: str, reviews: list[str], max_tokens: int = 256) -> str:
    """The first `max_tokens` words of the reviews; warns when the summary is cut."""
    words = " ".join(reviews).split()
    if len(words) > max_tokens:
        log.warning("response truncated at max_tokens=%d (sku %s, %d words)", max_tokens, sku, len(words))
    return " ".join(words[:max_tokens])
''',
    "shop/inventory.py": '''\
"""Stock levels (a stand-in for a database; the cost model makes bulk lookups slow)."""

from __future__ import annotations

import logging

log = logging.getLogger("shop.inventory")

SLOW_QUERY_MS = 2000


def stock_levels(skus: list[str]) -> dict[str, int]:
    """Stock per sku; reports lookups whose estimated cost exceeds SLOW_QUERY_MS."""
    cost_ms = 50 + 115 * len(skus)
    if cost_ms > SLOW_QUERY_MS:
        log.warning("slow query took %d ms: stock_levels for %d skus", cost_ms, len(skus))
    return {sku: (len(sku) * 7) % 23 for sku in skus}
''',
    "shop/app.py": '''\
"""Routing and error handling: every request gets a response, failures are logged with a traceback."""

from __future__ import annotations

import logging
from typing import Any

from shop.checkout import handle_checkout

log = logging.getLogger("shop.app")


def dispatch(path: str, request: dict[str, Any]) -> dict[str, Any]:
    """Serve one request; an unexpected exception becomes a logged HTTP 500."""
    if path != "/checkout":
        return {"status": 404, "body": {"error": f"no route {path}"}}
    try:
        return handle_checkout(request)
    except Exception:
        log.exception("checkout failed for order %s", request.get("order_id", "?"))
        return {"status": 500, "body": {"error": "internal error"}}
''',
    "shop/simulate.py": '''\
"""Serve a batch of realistic requests and log like production: python -m shop.simulate --log PATH."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from shop.app import dispatch
from shop.inventory import stock_levels
from shop.reviews import summarize_reviews

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Campaign codes customers still type although they are gone from the coupon table.
STALE_COUPONS = ("SUMMER5", "FREESHIP", "BOGO20", "BLACKFRIDAY")


def serve_batch(run: int) -> None:
    """One batch: good checkouts, checkouts with stale coupons, a long review page, a bulk lookup."""
    log = logging.getLogger("shop.simulate")
    log.info("batch %d started", run)
    base = 1000 + run * 100
    carts = [
        [{"sku": "mug", "price": "12.50", "quantity": 2}],
        [{"sku": "tee", "price": "19.99", "quantity": 1}, {"sku": "cap", "price": "15.00", "quantity": 1}],
        [{"sku": "poster", "price": "8.00", "quantity": 3}],
    ]
    good = ("", "WELCOME10", "spring25")
    for offset, (cart, coupon) in enumerate(zip(carts, good, strict=True)):
        dispatch("/checkout", {"order_id": f"o-{base + offset}", "items": cart, "coupon": coupon})
    for offset in range(3):
        coupon = STALE_COUPONS[(run + offset) % len(STALE_COUPONS)]
        order = {"order_id": f"o-{base + 10 + offset}", "items": carts[offset], "coupon": coupon}
        dispatch("/checkout", order)
    summarize_reviews(f"tee-{run}", ["Great fit, soft fabric, washes well."] * 60)
    stock_levels([f"sku-{n}" for n in range(20)])
    log.info("batch %d finished", run)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--log", type=Path, required=True, help="log file to append to")
    parser.add_argument("--runs", type=int, default=1, help="number of batches")
    parser.add_argument("--first-run", type=int, default=0, help="number of the first batch")
    args = parser.parse_args(argv)
    handler = logging.FileHandler(args.log, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    for run in range(args.first_run, args.first_run + args.runs):
        serve_batch(run)


if __name__ == "__main__":
    main()
''',
    "tests/test_pricing.py": '''\
from decimal import Decimal

from shop.pricing import Item, discount_percent, order_total, subtotal

CART = [Item("mug", Decimal("12.50"), 2), Item("cap", Decimal("15.00"), 1)]


def test_subtotal_multiplies_quantities():
    """The subtotal is the sum of price times quantity."""
    assert Decimal("40.00") == subtotal(CART)


def test_known_coupon_discounts_the_total():
    """WELCOME10 takes 10 % off."""
    assert Decimal("36.00") == order_total(CART, "WELCOME10")


def test_coupon_codes_are_case_insensitive():
    """Customers type codes in any case, with stray spaces."""
    assert 25 == discount_percent("  spring25 ")


def test_no_coupon_charges_the_subtotal():
    """Without a coupon the total is the subtotal, rounded to cents."""
    assert Decimal("40.00") == order_total(CART)
''',
    "tests/test_checkout.py": '''\
from shop.app import dispatch


def test_checkout_answers_the_total():
    """A checkout answers 200 with the order's total."""
    request = {"order_id": "o-1", "items": [{"sku": "tee", "price": "19.99", "quantity": 2}], "coupon": ""}
    assert {"status": 200, "body": {"order_id": "o-1", "total": "39.98"}} == dispatch("/checkout", request)


def test_checkout_applies_a_coupon():
    """A valid coupon is applied at checkout."""
    request = {"order_id": "o-2", "items": [{"sku": "mug", "price": "10", "quantity": 1}], "coupon": "VIP50"}
    assert "5.00" == dispatch("/checkout", request)["body"]["total"]


def test_unknown_route_is_404():
    """Only /checkout is served."""
    assert 404 == dispatch("/cart", {})["status"]
''',
}

_BUGGY_LINE = "    return COUPONS[code.strip().upper()]\n"

SAMPLE_ROOT_CAUSE = (
    "shop/pricing.py: discount_percent() looks the coupon code up with COUPONS[code], which raises "
    "KeyError for any code that is not in the table (stale campaign codes such as 'SUMMER5' or "
    "'FREESHIP'). order_total() calls it for every checkout with a coupon and nothing catches the "
    "error, so shop/app.py turns the whole checkout into an HTTP 500 instead of charging the "
    "undiscounted price."
)

SAMPLE_ANALYSIS: dict[str, Any] = {
    "root_cause": SAMPLE_ROOT_CAUSE,
    "severity": "high",
    "affected_components": ["shop/pricing.py", "shop/checkout.py"],
    "confidence": 0.9,
    "reasoning": (
        "An unknown coupon should not fail the checkout: give no discount for codes that are not "
        "in COUPONS, keeping the case-insensitive lookup."
    ),
    "risk_assessment": (
        "Low: only the unknown-code path changes (from KeyError to 0 %); known codes are looked up "
        "exactly as before."
    ),
    "test_suggestion": "assert order_total(cart, 'SUMMER5') == order_total(cart) for an unknown code",
}


def sample_fix_edits() -> list[dict[str, str]]:
    """The correct fix: unknown coupons give no discount; every existing test keeps passing."""
    return [
        {
            "path": "shop/pricing.py",
            "search": _BUGGY_LINE,
            "replace": (
                "    # A stale or mistyped code gives no discount instead of failing the whole checkout.\n"
                "    return COUPONS.get(code.strip().upper(), 0)\n"
            ),
        }
    ]


SAMPLE_REGRESSION_TEST = '''\
from decimal import Decimal

from shop.pricing import Item, order_total


def test_stale_coupon_charges_the_subtotal():
    """A code gone from the coupon table (SUMMER5) gives no discount instead of failing the checkout."""
    cart = [Item("mug", Decimal("12.50"), 2)]
    assert Decimal("25.00") == order_total(cart, "SUMMER5")
'''


def sample_regression_test() -> list[dict[str, str]]:
    """The coupon fix's regression test: a new test file (an edit with an empty `search`)."""
    return [{"path": "tests/test_stale_coupon.py", "search": "", "replace": SAMPLE_REGRESSION_TEST}]


def sample_broken_edits() -> list[dict[str, str]]:
    """A plausible fix that applies cleanly but drops the case-insensitive lookup: a test fails."""
    return [
        {"path": "shop/pricing.py", "search": _BUGGY_LINE, "replace": "    return COUPONS.get(code, 0)\n"}
    ]


class SampleServiceError(Exception):
    """A git or subprocess step of the sample service failed; the message carries its output."""


@dataclass(frozen=True)
class SampleService:
    """Where the sample service lives and how to validate it."""

    root: Path
    workdir: Path
    remote: Path
    log_path: Path
    branch: str
    initial_commit: str

    @property
    def validation_command(self) -> str:
        """The service's test command; `python` is the service's interpreter (see `interpreter`)."""
        return "python -m pytest -q"

    @property
    def interpreter(self) -> str:
        """The sample's own environment: this interpreter run as a separate, sandboxed process.

        The shop needs nothing but pytest, which the product declares as a dependency for exactly this
        reason, so the demo validates offline right after `pip install -e .`.
        """
        return sys.executable


def _git(*args: str, cwd: Path) -> str:
    try:
        done = subprocess.run(
            ["git", *_IDENTITY, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SampleServiceError(f"git {' '.join(args)} could not run in {cwd}: {exc}") from exc
    if done.returncode != 0:
        raise SampleServiceError(
            f"git {' '.join(args)} failed in {cwd} (exit {done.returncode}): {done.stderr.strip()}"
        )
    return done.stdout.strip()


def create_sample_service(root: Path) -> SampleService:
    """Write the sample service under `root`, commit it and push `main` to `root/remote.git`.

    Raises:
        FileExistsError: `root/work` or `root/remote.git` already exists (nothing is touched).
        SampleServiceError: a git step failed.
    """
    root = Path(root).resolve()
    workdir, remote, log_path = root / "work", root / "remote.git", root / "service.log"
    for existing in (workdir, remote):
        if existing.exists():
            raise FileExistsError(
                f"{existing} already exists; remove {root} or pick another folder for the sample service"
            )
    workdir.mkdir(parents=True)
    for relative, text in _FILES.items():
        path = workdir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    _git("init", "-q", "-b", SAMPLE_BRANCH, cwd=workdir)
    _git("add", "-A", cwd=workdir)
    _git("commit", "-q", "-m", "shop: carts, coupons and checkout", cwd=workdir)
    _git("init", "-q", "--bare", "-b", SAMPLE_BRANCH, str(remote), cwd=root)
    _git("remote", "add", "origin", str(remote), cwd=workdir)
    _git("push", "-q", "-u", "origin", SAMPLE_BRANCH, cwd=workdir)
    head = _git("rev-parse", "HEAD", cwd=workdir)
    return SampleService(root, workdir, remote, log_path, SAMPLE_BRANCH, head)


def produce_logs(sample: SampleService, *, runs: int = 1, first_run: int = 0, timeout: float = 60.0) -> Path:
    """Run the service code in `sample.workdir` for `runs` batches, appending to `sample.log_path`.

    Each batch logs at least three KeyError tracebacks (different codes and order ids), INFO lines,
    one truncation warning and one slow-query warning.

    Raises:
        ValueError: `runs` < 1. SampleServiceError: the service process failed.
    """
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    command = [
        sys.executable,
        "-m",
        "shop.simulate",
        "--log",
        str(sample.log_path),
        "--runs",
        str(runs),
        "--first-run",
        str(first_run),
    ]
    try:
        done = subprocess.run(
            command, cwd=sample.workdir, capture_output=True, text=True, check=False, timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SampleServiceError(f"the sample service did not run in {sample.workdir}: {exc}") from exc
    if done.returncode != 0:
        output = done.stderr.strip()[-2000:]
        raise SampleServiceError(
            f"the sample service exited with {done.returncode} in {sample.workdir}: {output}"
        )
    return sample.log_path


def pull_latest(sample: SampleService) -> str:
    """Fast-forward the service's checkout to the remote's branch (what a deploy would run); new HEAD."""
    _git("pull", "-q", "--ff-only", "origin", sample.branch, cwd=sample.workdir)
    return _git("rev-parse", "HEAD", cwd=sample.workdir)


def remote_log(sample: SampleService, *, limit: int = 5) -> list[str]:
    """The newest commits on the remote's branch as "sha subject" lines, newest first."""
    out = _git(
        "--git-dir", str(sample.remote), "log", "--format=%h %s", f"-n{limit}", sample.branch, cwd=sample.root
    )
    return out.splitlines()
