"""The edit matcher: exact first, then the declared whitespace rule; ambiguity and absence refused."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fixes.edits import Edit, MatchRule, apply_edits, content_hash, unified_diff
from fixes.errors import EditDoesNotApply, EditIsAmbiguous

SOURCE = "def f():\n    x = 1\n    return x\n\n\ndef g():\n    x = 1\n    return 2\n"


def test_exact_edit_applies_once_and_reports_rule() -> None:
    """A search text that occurs once is replaced and reported as an exact match on its line."""
    applied = apply_edits({"a.py": SOURCE}, [Edit("a.py", "    return 2\n", "    return 3\n")])
    assert SOURCE.replace("return 2", "return 3") == applied.after["a.py"]
    expected_rule, expected_line = MatchRule.EXACT, 8
    assert (expected_rule, expected_line) == (applied.matches[0].rule, applied.matches[0].line)


def test_ambiguous_exact_edit_is_refused_with_line_numbers() -> None:
    """A search text found twice is refused and the message names both lines."""
    with pytest.raises(EditIsAmbiguous) as info:
        apply_edits({"a.py": SOURCE}, [Edit("a.py", "x = 1", "x = 2")])
    assert "lines 2, 7" in str(info.value)
    assert "Include more surrounding lines" in str(info.value)


def test_dedented_block_applies_under_whitespace_rule_and_is_reindented() -> None:
    """A dedented block matches once and the replacement keeps the file's indentation."""
    edit = Edit("a.py", "x = 1\nreturn x\n", "x = 1\nlog(x)\nreturn x\n")
    applied = apply_edits({"a.py": SOURCE}, [edit])
    expected = SOURCE.replace("    x = 1\n    return x\n", "    x = 1\n    log(x)\n    return x\n")
    assert expected == applied.after["a.py"]
    expected_rule = MatchRule.WHITESPACE
    assert expected_rule == applied.matches[0].rule


def test_crlf_file_keeps_its_line_endings() -> None:
    """An LF search text matches a CRLF file and the result uses CRLF throughout."""
    crlf = SOURCE.replace("\n", "\r\n")
    applied = apply_edits({"a.py": crlf}, [Edit("a.py", "    return 2\n", "    return 3\n    # done\n")])
    expected = SOURCE.replace("    return 2\n", "    return 3\n    # done\n").replace("\n", "\r\n")
    assert expected == applied.after["a.py"]


def test_trailing_whitespace_and_blank_edges_are_tolerated() -> None:
    """Trailing spaces and surrounding blank lines in the search text do not prevent a match."""
    edit = Edit("a.py", "\n  def g():   \n      x = 1\n      return 2  \n\n", "  def g():\n      return 7\n")
    applied = apply_edits({"a.py": SOURCE}, [edit])
    expected = "def g():\n    return 7\n"
    assert expected == applied.after["a.py"].split("\n\n\n")[1]


def test_non_uniform_indentation_is_refused_with_explanation() -> None:
    """Lines indented differently by different amounts are not guessed at."""
    with pytest.raises(EditDoesNotApply) as info:
        apply_edits({"a.py": SOURCE}, [Edit("a.py", "def f():\n  x = 1\n", "pass\n")])
    assert "not by the same amount" in str(info.value)


def test_absent_search_names_closest_lines_and_first_difference() -> None:
    """A search that matches nowhere gets the closest candidate lines and the first differing line."""
    with pytest.raises(EditDoesNotApply) as info:
        apply_edits({"a.py": SOURCE}, [Edit("a.py", "def g():\n    y = 1\n    return 2\n", "")])
    message = str(info.value)
    assert "Did you mean lines 6-8?" in message
    assert "search line 2 is 'y = 1' but line 7 of the file is 'x = 1'" in message


def test_missing_file_is_refused() -> None:
    """An edit of a file that does not exist says so instead of creating it by accident."""
    with pytest.raises(EditDoesNotApply) as info:
        apply_edits({}, [Edit("nope.py", "x", "y")])
    assert "nope.py does not exist" in str(info.value)


def test_empty_search_creates_a_new_file() -> None:
    """An empty search text creates a file that did not exist, with a /dev/null diff header."""
    applied = apply_edits({}, [Edit("new.py", "", "print(1)\n")])
    expected = "--- /dev/null\n+++ b/new.py\n@@ -0,0 +1 @@\n+print(1)\n"
    assert expected == applied.diff


def test_one_line_search_without_indentation_indents_continuation_lines() -> None:
    """A one-line search quoted without indentation gets its added replacement lines indented."""
    applied = apply_edits({"a.py": SOURCE}, [Edit("a.py", "return 2", "log()\nreturn 2")])
    assert "    log()\n    return 2\n" in applied.after["a.py"]


def test_form_feed_lines_keep_diff_applicable() -> None:
    """A form feed inside a line does not split it in the diff (str.splitlines would)."""
    text = "a = 1\n\x0c\nb = 2\n"
    applied = apply_edits({"a.py": text}, [Edit("a.py", "b = 2", "b = 3")])
    assert "-b = 2\n+b = 3\n" in applied.diff
    assert "No newline" not in applied.diff


def test_content_hash_is_sha256_of_diff() -> None:
    """The content hash changes whenever the diff does."""
    diff = unified_diff({"a": "1\n"}, {"a": "2\n"})
    assert content_hash(diff) != content_hash(diff + " ")
    expected_length = 64
    assert expected_length == len(content_hash(diff))


# --- properties -------------------------------------------------------------------------------

_WORDS = st.sampled_from(["x", "y", "total", "run()", "return x", "pass", "if a:", "x = 1", "f(y)"])
_LINE = st.builds(lambda depth, word: "    " * depth + word, st.integers(0, 2), _WORDS)


@st.composite
def _unique_block(draw: st.DrawFn) -> tuple[list[str], int, int]:
    lines = draw(st.lists(_LINE, min_size=1, max_size=12))
    marker = draw(st.integers(0, len(lines) - 1))
    # A line nobody else has makes the block unique under every rule.
    lines[marker] = "    " * draw(st.integers(0, 2)) + f"unique_{draw(st.integers(0, 999))}()"
    start = draw(st.integers(0, marker))
    end = draw(st.integers(marker + 1, len(lines)))
    return lines, start, end


@given(_unique_block(), st.lists(_LINE, max_size=3))
@settings(max_examples=200, deadline=None)
def test_exact_edits_round_trip(case: tuple[list[str], int, int], new_lines: list[str]) -> None:
    """Applying an exact edit and then its inverse gives back the original text."""
    lines, start, end = case
    text = "".join(line + "\n" for line in lines)
    search = "".join(line + "\n" for line in lines[start:end])
    replace = "".join(line + "\n" for line in [*new_lines, f"marker_{start}()"])
    forward = apply_edits({"f.py": text}, [Edit("f.py", search, replace)])
    assert text.replace(search, replace, 1) == forward.after["f.py"]
    back = apply_edits(forward.after, [Edit("f.py", replace, search)])
    assert text == back.after["f.py"]


@given(_unique_block(), st.sampled_from(["dedent", "indent", "trailing", "crlf"]))
@settings(max_examples=200, deadline=None)
def test_drifted_unique_block_applies_like_the_exact_edit(
    case: tuple[list[str], int, int], drift: str
) -> None:
    """Indentation, trailing-whitespace and line-ending drift of a unique block give the exact result."""
    lines, start, end = case
    lines = ["    " + line if line else line for line in lines]  # every line indented at least once
    text = "".join(line + "\n" for line in lines)
    block = lines[start:end]
    replace_block = [*block, block[-1][: len(block[-1]) - len(block[-1].lstrip())] + "added()"]
    expected = text.replace("".join(x + "\n" for x in block), "".join(x + "\n" for x in replace_block), 1)
    if drift == "dedent":
        search, replace = [x[4:] for x in block], [x[4:] for x in replace_block]
    elif drift == "indent":
        search, replace = ["  " + x for x in block], ["  " + x for x in replace_block]
    elif drift == "trailing":
        search, replace = [x + "  " for x in block], replace_block
    else:
        search, replace = block, replace_block
    newline = "\r\n" if drift == "crlf" else "\n"
    edit = Edit("f.py", newline.join(search) + newline, newline.join(replace) + newline)
    assert expected == apply_edits({"f.py": text}, [edit]).after["f.py"]


@given(st.lists(_LINE, min_size=1, max_size=4), st.lists(_LINE, max_size=4), st.booleans())
@settings(max_examples=200, deadline=None)
def test_duplicated_block_is_never_applied(block: list[str], between: list[str], dedent: bool) -> None:
    """A block present twice is refused as ambiguous, quoted exactly or dedented."""
    body = ["    " + line for line in [*block, *between, *block]]
    text = "".join(line + "\n" for line in body)
    search_lines = block if dedent else ["    " + line for line in block]
    edit = Edit("f.py", "\n".join(search_lines) + "\n", "changed()\n")
    # A dedented quote that is verbatim present as whole lines elsewhere is an exact match there.
    assume(dedent is False or "\n" + edit.search not in "\n" + text)
    with pytest.raises(EditIsAmbiguous):
        apply_edits({"f.py": text}, [edit])
