"""Reading test runs from structure, and the verdict that compares a fix with its base.

Pure functions only. A pytest run is read from its JUnit XML report (`--junitxml`, built into pytest,
written with `junit_family=xunit1` so each test case carries its file), keyed by pytest node id; the
console output is kept only to show a person (escape codes stripped). A run that did not really
happen (the runner is missing, was interrupted, hit an internal or usage error, collected nothing,
could not collect a file, or timed out) is a `RunError`, never an empty list of failures.

The verdict (`compare`): a fix passes only if its run happened, no test that passed on the base now
fails or errors, and no test of the base disappeared (deleted, skipped or deselected). A regression
test added as a new case of a parametrized list shifts the ids pytest numbers itself (`test_args20-x`
becomes `test_args21-x`), and an id that prints an object (`<FakeDate object at 0x7f90…>`) carries an
address that differs on every run: a base test counts as still there when the fix runs as many tests
that differ from it only in such numbers (see `_unnumbered`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from xml.etree import ElementTree

__all__ = [
    "Outcome",
    "TestReport",
    "Verdict",
    "compare",
    "node_ids_from_junit",
    "pytest_exit_reason",
    "strip_ansi",
]

# CSI sequences (colours, cursor moves), OSC sequences (titles, links) and lone two-byte escapes.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")

_REPORT_LIMIT = 64 << 20
Outcome = str  # "passed" | "failed" | "error" | "skipped"

_PYTEST_EXIT = {
    2: "pytest was interrupted (exit status 2: a collection error, or Ctrl-C)",
    3: "pytest hit an internal error (exit status 3)",
    4: "pytest was called wrongly (exit status 4: a usage error)",
    5: "no tests were collected (exit status 5)",
}


def strip_ansi(text: str) -> str:
    """`text` without terminal escape sequences (what a person or a model is shown)."""
    return _ANSI.sub("", text)


def pytest_exit_reason(status: int) -> str:
    """Why a pytest exit status means the run did not really happen ("" for 0 and 1)."""
    if status in (0, 1):
        return ""
    return _PYTEST_EXIT.get(status, f"pytest ended with exit status {status}")


def _node_id(case: ElementTree.Element) -> str:
    """Rebuild pytest's node id from an xunit1 test case: `file::Class::name[params]`.

    pytest writes `classname` as the dotted module path plus classes and `name` as the last part of
    the node id, parameters included verbatim (spaces, brackets, any Unicode), so with the file
    attribute the node id comes back exactly.
    """
    classname = case.get("classname", "")
    name = case.get("name", "")
    path = case.get("file", "")
    if not path:
        return "::".join(part for part in (classname, name) if part)
    module = path[: -len(".py")] if path.endswith(".py") else path
    dotted = module.replace("/", ".").replace("\\", ".")
    classes = classname[len(dotted) :].lstrip(".") if classname.startswith(dotted) else ""
    parts = [path, *(classes.split(".") if classes else []), name]
    return "::".join(part for part in parts if part)


def node_ids_from_junit(xml: bytes) -> tuple[dict[str, Outcome], list[str]]:
    """Per-test outcomes from a JUnit XML report, and the collection errors it records.

    Raises `ValueError` when the report cannot be read (a run that wrote half a file did not happen).
    """
    if len(xml) > _REPORT_LIMIT:
        raise ValueError(f"the JUnit report is larger than {_REPORT_LIMIT >> 20} MiB")
    try:
        # The report was written by code a model changed. ElementTree resolves no external
        # entities, and the expat it uses (>= 2.4.1, which every supported Python ships) refuses
        # billion-laughs and quadratic-blowup documents; the size cap above bounds the rest.
        root = ElementTree.fromstring(xml)  # noqa: S314
    except ElementTree.ParseError as exc:
        raise ValueError(f"the JUnit report cannot be read: {exc}") from None
    outcomes: dict[str, Outcome] = {}
    collection_errors: list[str] = []
    for case in root.iter("testcase"):
        node = _node_id(case)
        children = {child.tag for child in case}
        if "error" in children:
            error = case.find("error")
            message = error.get("message", "") if error is not None else ""
            if "collection failure" in message or not case.get("classname"):
                collection_errors.append(node)
                continue
            outcome = "error"
        elif "failure" in children:
            outcome = "failed"
        elif "skipped" in children:
            outcome = "skipped"
        else:
            outcome = "passed"
        # A test with a failing teardown appears twice; the worse outcome wins.
        if outcomes.get(node) in ("failed", "error") and outcome == "passed":
            continue
        outcomes[node] = outcome
    return outcomes, collection_errors


@dataclass(frozen=True)
class TestReport:
    """One run of the tests. `error` is why the run did not really happen ("" when it did).

    `outcomes` maps pytest node ids to outcomes; for other runners it holds one pseudo test,
    `"exit status"`, passed or failed by the exit status.
    """

    __test__ = False  # not a pytest test class

    command: tuple[str, ...]
    exit_code: int | None  # None: timed out or never started
    outcomes: Mapping[str, Outcome]
    output: str
    duration_seconds: float
    error: str = ""

    @property
    def happened(self) -> bool:
        return not self.error

    @property
    def failures(self) -> frozenset[str]:
        """Tests that failed or errored (empty when the run did not happen: see `error`)."""
        return frozenset(n for n, o in self.outcomes.items() if o in ("failed", "error"))

    @property
    def ok(self) -> bool:
        return self.happened and not self.failures


@dataclass(frozen=True)
class Verdict:
    """The fix against its base: `status` is "passed", "failed" (the fix broke something) or "error"."""

    status: str
    reason: str
    new_failures: tuple[str, ...] = ()
    disappeared: tuple[str, ...] = ()
    base_failures: tuple[str, ...] = ()
    flaky: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def compare(base: TestReport, fix: TestReport, *, flaky: frozenset[str] = frozenset()) -> Verdict:
    """Judge the fix run against the base run (see the module docstring).

    A base that does not run is an error of the validation itself (nothing can be judged); a fix
    run that does not happen when the base did is the fix's failure (it broke collection, hung...).
    """
    flaky_names = tuple(sorted(flaky))
    if not base.happened:
        return Verdict("error", f"the tests do not run on the base: {base.error}", flaky=flaky_names)
    base_failures = tuple(sorted(base.failures))
    if not fix.happened:
        return Verdict(
            "failed", f"the tests did not run with the fix: {fix.error}", base_failures=base_failures
        )
    new = tuple(
        sorted(n for n, o in fix.outcomes.items() if o in ("failed", "error") and n not in base.failures)
    )
    gone = tuple(
        sorted(
            n
            for n, o in base.outcomes.items()
            if o != "skipped" and fix.outcomes.get(n, "skipped") == "skipped"
        )
    )
    gone = _not_renumbered(gone, base, fix)
    parts = []
    if new:
        parts.append(f"{len(new)} test(s) fail with the fix: {', '.join(new)}")
    if gone:
        parts.append(f"{len(gone)} test(s) of the base disappeared or are skipped: {', '.join(gone)}")
    if parts:
        return Verdict("failed", "; ".join(parts), new, gone, base_failures, flaky_names)
    ran = sum(1 for o in fix.outcomes.values() if o != "skipped")
    return Verdict("passed", f"{ran} test(s) ran, none newly failing", (), (), base_failures, flaky_names)


# pytest's own ids for a parameter it cannot print are `<argname><index>` (`test_args20`), one
# segment of the bracketed id; a case inserted above shifts every index after it.
_NUMBERED = re.compile(r"(?:^|(?<=-))([A-Za-z_]\w*?)\d+(?=-|\]$)")
# A default repr (`<x.FakeDate object at 0x7f905fb7b490>`) in an id: a new address on every run.
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _unnumbered(node: str) -> str:
    """`node` with pytest's parameter indexes and object addresses blanked:
    `f[test_args20-1,235]` → `f[test_args#-1,235]`, `<D object at 0x7f90>` → `<D object at 0x#>`."""
    head, bracket, params = node.partition("[")
    if not bracket:
        return node
    return head + bracket + _ADDRESS.sub(" at 0x#", _NUMBERED.sub(r"\1#", params))


def _not_renumbered(gone: tuple[str, ...], base: TestReport, fix: TestReport) -> tuple[str, ...]:
    """The tests of `gone` that really disappeared, not just renumbered.

    Counted per blanked id, so deleting one case of a list is still seen: the fix must run at least
    as many tests with that blanked id as the base did.
    """
    if not gone:
        return gone
    ran_base = Counter(_unnumbered(n) for n, o in base.outcomes.items() if o != "skipped")
    ran_fix = Counter(_unnumbered(n) for n, o in fix.outcomes.items() if o != "skipped")
    return tuple(n for n in gone if "[" not in n or ran_fix[_unnumbered(n)] < ran_base[_unnumbered(n)])
