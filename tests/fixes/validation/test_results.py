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


def test_a_case_inserted_into_a_parametrized_list_renumbers_but_removes_nothing() -> None:
    """A new case shifts pytest's own indexes (`test_args1-b` → `test_args2-b`): nothing disappeared.
    Dropping a case (the same list, one fewer) or renumbering into a skip still counts as gone."""
    base = _report(
        {"t.py::f[test_args0-a]": "passed", "t.py::f[test_args1-b]": "passed", "t.py::g": "passed"}
    )
    inserted = {"t.py::f[test_args0-a]": "passed", "t.py::f[test_args1-new]": "passed", "t.py::g": "passed"}
    inserted["t.py::f[test_args2-b]"] = "passed"
    assert ("passed", ()) == (
        compare(base, _report(inserted)).status,
        compare(base, _report(inserted)).disappeared,
    )
    dropped = compare(base, _report({"t.py::f[test_args0-b]": "passed", "t.py::g": "passed"}))
    assert ("failed", ("t.py::f[test_args0-a]",)) == (dropped.status, dropped.disappeared)
    skipped = compare(base, _report({**inserted, "t.py::f[test_args2-b]": "skipped"}))
    assert ("failed", ("t.py::f[test_args1-b]",)) == (skipped.status, skipped.disappeared)


def test_an_object_address_in_a_parametrized_id_is_not_a_vanished_test() -> None:
    """`<FakeDate object at 0x…>` ids (humanize's own suite) get a new address on every run."""
    base = _report({"t.py::f[test_input7-<t.FakeDate object at 0x7f905fb7b490>]": "passed"})
    fix = _report({"t.py::f[test_input7-<t.FakeDate object at 0x7f905f333f50>]": "passed"})
    assert "passed" == compare(base, fix).status
    assert "failed" == compare(base, _report({})).status
