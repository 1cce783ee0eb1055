"""Playbooks: deterministic configuration fixes, never guessed when the place is ambiguous."""

from __future__ import annotations

from pathlib import Path

from fixes.context import ReadPolicy
from fixes.edits import Edit
from fixes.playbooks import find_playbook_fix

TRUNCATED = {"template": "LLM response truncated at max_tokens=<*>"}
SAMPLES = ["LLM response truncated at max_tokens=1000 (finish_reason=length)"]


def test_truncation_raises_the_single_max_tokens_assignment(tmp_path: Path) -> None:
    """The one `max_tokens = 1000` in the repository is doubled, labelled as a playbook."""
    (tmp_path / "settings.py").write_text("model = 'x'\nmax_tokens = 1000\n")
    fix = find_playbook_fix(tmp_path, details=TRUNCATED, samples=SAMPLES, policy=ReadPolicy())
    assert fix is not None
    assert (Edit("settings.py", "max_tokens = 1000", "max_tokens = 2000"),) == fix.edits
    assert "raise-max-tokens" == fix.playbook


def test_keyword_argument_form_is_found(tmp_path: Path) -> None:
    """`max_tokens=1000` inside a call is found as well."""
    (tmp_path / "client.py").write_text("call(model='m', max_tokens=1000)\n")
    fix = find_playbook_fix(tmp_path, details=TRUNCATED, samples=SAMPLES, policy=ReadPolicy())
    assert fix is not None
    assert "call(model='m', max_tokens=2000)" == fix.edits[0].replace


def test_two_candidate_assignments_give_no_playbook_fix(tmp_path: Path) -> None:
    """Two places setting max_tokens = 1000 are ambiguous: no playbook fix."""
    (tmp_path / "a.py").write_text("max_tokens = 1000\n")
    (tmp_path / "b.py").write_text("max_tokens = 1000\n")
    assert None is find_playbook_fix(tmp_path, details=TRUNCATED, samples=SAMPLES, policy=ReadPolicy())


def test_denied_files_are_not_considered(tmp_path: Path) -> None:
    """A matching assignment in a denied file is neither read nor edited."""
    (tmp_path / "deploy.toml").write_text("max_tokens = 1000\n")
    policy = ReadPolicy(denied=("deploy.toml",))
    assert None is find_playbook_fix(tmp_path, details=TRUNCATED, samples=SAMPLES, policy=policy)


def test_unrelated_incident_matches_no_playbook(tmp_path: Path) -> None:
    """An ordinary error does not trigger a playbook."""
    (tmp_path / "settings.py").write_text("max_tokens = 1000\n")
    details = {"template": "KeyError in handler <*>"}
    assert None is find_playbook_fix(tmp_path, details=details, samples=[], policy=ReadPolicy())


def test_annotated_default_parameter_is_found(tmp_path: Path) -> None:
    """`max_tokens: int = 1000` in a signature is the place that sets the limit."""
    (tmp_path / "reviews.py").write_text(
        "def summarize(text: str, max_tokens: int = 1000) -> str:\n    ...\n"
    )
    fix = find_playbook_fix(tmp_path, details=TRUNCATED, samples=SAMPLES, policy=ReadPolicy())
    assert fix is not None
    assert "def summarize(text: str, max_tokens: int = 2000) -> str:" == fix.edits[0].replace


def test_json_and_yaml_keys_are_found(tmp_path: Path) -> None:
    """A quoted JSON key and a YAML key set the limit too (one file each, so each is unambiguous)."""
    (tmp_path / "model.json").write_text('{"model": "m", "max_tokens": 1000}\n')
    fix = find_playbook_fix(tmp_path, details=TRUNCATED, samples=SAMPLES, policy=ReadPolicy())
    assert fix is not None
    assert '{"model": "m", "max_tokens": 2000}' == fix.edits[0].replace
    (tmp_path / "model.json").unlink()
    (tmp_path / "model.yaml").write_text("model: m\nmax_tokens: 1000\n")
    fix = find_playbook_fix(tmp_path, details=TRUNCATED, samples=SAMPLES, policy=ReadPolicy())
    assert fix is not None
    assert "max_tokens: 2000" == fix.edits[0].replace


def test_other_values_and_longer_names_are_not_matched(tmp_path: Path) -> None:
    """`max_tokens = 10000`, `max_tokens_total = 1000` and `self.max_tokens = 1000` are not the limit seen."""
    (tmp_path / "a.py").write_text(
        "max_tokens = 10000\nmax_tokens_total = 1000\nself.max_tokens = 1000\nx: int = 1000\n"
    )
    assert None is find_playbook_fix(tmp_path, details=TRUNCATED, samples=SAMPLES, policy=ReadPolicy())
