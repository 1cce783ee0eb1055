"""Reading runs from structure (JUnit XML node ids, escape codes) and the verdict, as pure functions."""

from __future__ import annotations

from xml.etree import ElementTree

from _pytest.junitxml import mangle_test_address
from hypothesis import given
from hypothesis import strategies as st

from fixes.validation.results import TestReport, compare, node_ids_from_junit, strip_ansi

_PARAM = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from(" []-.:/"), max_size=12
)
_NAME = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True)


def _xunit1(node_ids: list[tuple[str, str]]) -> bytes:
    """A report as pytest writes it (its own `mangle_test_address`), with xunit1's file attribute."""
    suite = ElementTree.Element("testsuite")
    for node, outcome in node_ids:
        names = mangle_test_address(node)
        case = ElementTree.SubElement(
            suite, "testcase", classname=".".join(names[:-1]), name=names[-1], file=node.split("::")[0]
        )
        if outcome != "passed":
            ElementTree.SubElement(
                case, {"failed": "failure", "skipped": "skipped", "error": "error"}[outcome]
            )
    return ElementTree.tostring(suite, encoding="utf-8")


@given(
    st.lists(
        st.tuples(
            _NAME,
            _NAME,
            st.one_of(st.none(), _NAME.map(str.title)),
            _NAME,
            _PARAM,
            st.sampled_from(["passed", "failed", "skipped", "error"]),
        ),
        max_size=6,
    )
)
def test_node_ids_come_back_exactly(cases: list[tuple[str, str, str | None, str, str, str]]) -> None:
    """Any node id (params with spaces, brackets, dots, any Unicode) is read back as pytest wrote it."""
    written = {}
    for folder, module, cls, func, param, outcome in cases:
        node = f"{folder}/test_{module}.py::" + (f"{cls}::" if cls else "") + f"test_{func}[{param}]"
        written[node] = outcome
    outcomes, collection_errors = node_ids_from_junit(_xunit1(list(written.items())))
    assert (written, []) == (outcomes, collection_errors)


def test_strip_ansi_removes_colour_cursor_and_titles() -> None:
    """Colour, cursor movement and OSC title sequences are removed; the text stays."""
    coloured = "\x1b[31mFAILED\x1b[0m tests/a.py::t\x1b[2K\x1b]0;title\x07 - boom"
    assert "FAILED tests/a.py::t - boom" == strip_ansi(coloured)


def _report(outcomes: dict[str, str], error: str = "") -> TestReport:
    return TestReport(("pytest",), 0 if not error else 2, outcomes, "", 0.0, error)


def test_verdict_rules() -> None:
    """New failures and vanished tests fail the fix; a base that did not run is an error."""
    base = _report({"a": "passed", "b": "failed", "c": "passed", "d": "skipped"})
    assert compare(base, _report({"a": "passed", "b": "failed", "c": "passed"})).status == "passed"
    broke = compare(base, _report({"a": "failed", "b": "passed", "c": "passed"}))
    assert ("failed", ("a",)) == (broke.status, broke.new_failures)
    gone = compare(base, _report({"a": "passed", "c": "skipped"}))
    assert ("failed", ("b", "c")) == (gone.status, gone.disappeared)
    assert compare(_report({}, "no tests were collected"), _report({"a": "passed"})).status == "error"
    assert compare(base, _report({}, "timed out after 1s")).status == "failed"
