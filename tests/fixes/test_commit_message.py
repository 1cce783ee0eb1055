"""The commit message: a subject git tools show whole, the root cause, and parseable trailers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fixes.apply import commit_message
from fixes.git_ops import parse_trailers

WORDS = st.lists(st.text(alphabet="abcdefghijklmnop", min_size=1, max_size=15), min_size=1, max_size=30)


@given(WORDS)
def test_subject_fits_72_columns_and_never_cuts_a_word(words: list[str]) -> None:
    """Whatever the summary, the subject is one line of at most 72 characters made of whole words."""
    summary = " ".join(words)
    subject = commit_message(summary=summary, root_cause="", fix_id="fix_1", incident="1", approver="U1")
    first = subject.splitlines()[0]
    assert len(first) <= 72
    kept = first.removeprefix("fix: ").removesuffix("…").split()
    assert kept == words[: len(kept)]


def test_long_summary_is_cut_at_a_word_with_an_ellipsis() -> None:
    """A sentence longer than the limit ends on a whole word followed by an ellipsis."""
    summary = (
        "An unknown coupon should not fail the checkout: give no discount for codes that are not in COUPONS"
    )
    first = commit_message(
        summary=summary, root_cause="", fix_id="f", incident="1", approver="U1"
    ).splitlines()[0]
    assert "fix: An unknown coupon should not fail the checkout: give no discount…" == first


def test_trailers_survive_a_root_cause_that_looks_like_trailers() -> None:
    """A root cause ending in `Key: value` lines does not hide or replace the real trailers."""
    message = commit_message(
        summary="guard",
        root_cause="Status: 500\nCause: KeyError",
        fix_id="fix_9",
        incident="7",
        approver="U2",
    )
    trailers = parse_trailers(message)
    assert ("fix_9", "7", "U2") == (trailers["Fix-Id"], trailers["Incident"], trailers["Approved-by"])
