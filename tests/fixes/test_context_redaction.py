"""Secrets in the repository never reach the model, and edits written against redacted code still apply."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import git
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from fixes.context import ReadPolicy, build_code_context
from fixes.edits import Edit, apply_edits
from fixes.errors import EditDoesNotApply, EditIsAmbiguous
from fixes.generate import propose_fix
from monitoring.redact import REDACTED, redact
from tests.fixes.llm_support import (
    ANALYSIS,
    GIT_IDENTITY,
    ServerFactory,
    add_incident,
    by_signature,
    db,
    fix_answer,
    llm_settings,
    make_sample_repo,
    scripted_lm,
    service_settings,
)

__all__ = ["db", "scripted_lm"]  # fixtures used by this module


def _token(prefix: str, alphabet: str, n: int, seed: int) -> str:
    return prefix + "".join(alphabet[(i * 7 + seed) % len(alphabet)] for i in range(n))


AUDIT_TOKEN = _token("ghp_", string.ascii_letters + string.digits, 36, 3)
AWS_SECRET = _token("", string.ascii_letters + string.digits + "/+", 40, 5)
STRIPE = _token("sk_live_51", string.ascii_letters + string.digits, 60, 11)
DB_PASSWORD = _token("", string.ascii_letters + string.digits, 18, 13)
OPENAI = _token("sk-proj-", string.ascii_letters + string.digits + "_-", 120, 17)
SECRETS = (AUDIT_TOKEN, AWS_SECRET, STRIPE, DB_PASSWORD, OPENAI)

APP = f"""import logging

log = logging.getLogger("service")


def parse_total(payload):
    audit_token = "{AUDIT_TOKEN}"
    items = payload.get("items")
    return sum(item["price"] for item in items)


def handle(payload):
    try:
        return parse_total(payload)
    except TypeError:
        log.error("Failed to total order %s", payload.get("id"))
        raise
"""

SETTINGS = f'''"""Settings of the sample service (hard-coded, as found in the wild)."""

AWS_SECRET_ACCESS_KEY = "{AWS_SECRET}"
STRIPE_KEY = "{STRIPE}"
DATABASE_URL = "postgresql://app:{DB_PASSWORD}@db.internal:5432/prod"
OPENAI_API_KEY = "{OPENAI}"
TIMEOUT = 30
'''

FRAMES = [
    {"file": "/srv/app/service/app.py", "line": 14, "function": "handle"},
    {"file": "/srv/app/service/app.py", "line": 9, "function": "parse_total"},
]
NAMED = {**ANALYSIS, "affected_components": ["service/app.py", "service/settings.py"]}

# The model quotes the redacted line it was shown as context, unchanged, around its change.
CONTEXT_EDIT = {
    "path": "service/app.py",
    "search": f'    audit_token = "{REDACTED}"\n    items = payload.get("items")\n',
    "replace": f'    audit_token = "{REDACTED}"\n    items = payload.get("items") or []\n',
}


@pytest.fixture
def secret_remote(tmp_path: Path) -> Path:
    remote = make_sample_repo(tmp_path / "sample", app=APP)
    work = tmp_path / "sample" / "work"
    (work / "service" / "settings.py").write_text(SETTINGS)
    repo = git.Repo(work)
    repo.git.add("-A")
    repo.git.commit("-q", "-m", "settings", env=GIT_IDENTITY)
    repo.git.push(str(remote), "main")
    return remote


def _sent(server: Any) -> str:
    return "\n".join(str(m.get("content", "")) for r in server.requests for m in r["messages"])


def _propose(sessions: sessionmaker[Session], remote: Path, lm: Any) -> Any:
    incident = add_incident(sessions, frames=FRAMES)
    return propose_fix(
        incident, service=service_settings(remote), llm=llm_settings(), sessions=sessions, lm=lm
    )


def test_code_context_is_redacted_with_line_numbers_kept(tmp_path: Path) -> None:
    """The context shows each secret line as [REDACTED] at its own line number; other lines verbatim."""
    root = tmp_path / "repo"
    (root / "service").mkdir(parents=True)
    (root / "service" / "settings.py").write_text(SETTINGS)
    context = build_code_context(
        root, details={}, policy=ReadPolicy(), token_budget=10_000, extra_paths=["service/settings.py"]
    )
    for secret in SECRETS:
        assert secret not in context.text
    rows = [line for line in context.text.split("\n") if " | " in line]
    assert len(SETTINGS.split("\n")) == len(rows)
    assert f'    3 | AWS_SECRET_ACCESS_KEY = "{REDACTED}"' in rows
    assert '    5 | DATABASE_URL = "postgresql://app:[REDACTED]@db.internal:5432/prod"' in rows
    assert "    7 | TIMEOUT = 30" in rows


def test_no_secret_reaches_the_model_and_a_context_edit_applies(
    db: sessionmaker[Session], secret_remote: Path, scripted_lm: ServerFactory
) -> None:
    """Through the real model client no secret is sent, and an edit quoting a redacted line applies."""
    server, lm = scripted_lm(by_signature(NAMED, [fix_answer([CONTEXT_EDIT])]))
    proposal = _propose(db, secret_remote, lm)
    sent = _sent(server)
    assert [] == [secret for secret in SECRETS if secret in sent]
    assert f'    7 |     audit_token = "{REDACTED}"' in sent
    assert "passed" == proposal.validation_status
    assert '+    items = payload.get("items") or []' in proposal.diff
    # The secret line is context, not a change: the marker is never written into the file.
    changed = [
        line for line in proposal.diff.split("\n") if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert [] == [line for line in changed if REDACTED in line or "audit_token" in line]


def test_an_edit_changing_a_redacted_line_is_refused_and_explained(
    db: sessionmaker[Session], secret_remote: Path, scripted_lm: ServerFactory
) -> None:
    """A replacement that alters a hidden line is refused with the reason; the next attempt applies."""
    altering = {**CONTEXT_EDIT, "replace": f'    audit_token = "{REDACTED}".strip()\n    items = []\n'}
    server, lm = scripted_lm(by_signature(NAMED, [fix_answer([altering]), fix_answer([CONTEXT_EDIT])]))
    proposal = _propose(db, secret_remote, lm)
    assert "stands for a secret hidden from you" in _sent(server)
    assert "passed" == proposal.validation_status
    assert REDACTED not in proposal.diff


def test_a_search_that_matches_nowhere_is_answered_without_the_secret(
    db: sessionmaker[Session], secret_remote: Path, scripted_lm: ServerFactory
) -> None:
    """The matcher's 'did you mean' quotes the file's lines redacted, like the context."""
    wrong = {**CONTEXT_EDIT, "search": f'    audit_tokn = "{REDACTED}"\n    items = payload.get("items")\n'}
    server, lm = scripted_lm(by_signature(NAMED, [fix_answer([wrong]), fix_answer([CONTEXT_EDIT])]))
    _propose(db, secret_remote, lm)
    sent = _sent(server)
    assert "Did you mean lines" in sent
    assert AUDIT_TOKEN not in sent


def test_ordinary_edits_are_untouched_by_restoration() -> None:
    """An edit without the marker applies exactly as before, even in a file holding secrets."""
    edit = Edit(
        "service/app.py", '    items = payload.get("items")\n', '    items = payload.get("items") or []\n'
    )
    applied = apply_edits({"service/app.py": APP}, [edit])
    assert (
        APP.replace('payload.get("items")\n', 'payload.get("items") or []\n')
        == applied.after["service/app.py"]
    )


def test_a_new_marker_is_never_written() -> None:
    """A replacement adding [REDACTED] where the search has none is refused."""
    edit = Edit("service/app.py", "    try:\n", f'    token = "{REDACTED}"\n    try:\n')
    with pytest.raises(EditDoesNotApply, match="secret hidden from you"):
        apply_edits({"service/app.py": APP}, [edit])


_ORDINARY = ["x = 1", "    return x", "def f():", "", "# note", "    y = f(x)", "print(y)"]
_SECRET_LINES = [f'KEY_{i} = "{_token("sk_live_", string.ascii_letters, 30, i)}"' for i in range(4)]


@given(
    st.lists(st.sampled_from(_ORDINARY + _SECRET_LINES), min_size=3, max_size=30).map(
        lambda ls: [*ls, "end = 0"]
    ),
    st.data(),
)
def test_quoting_the_redacted_view_unchanged_applies_to_the_real_file(lines: list[str], data: Any) -> None:
    """A window of the redacted view, quoted as shown plus one line, applies at that place only."""
    text = "\n".join(lines) + "\n"
    shown = redact(text).split("\n")
    start = data.draw(st.integers(0, len(lines) - 1))
    end = data.draw(st.integers(start + 1, len(lines)))
    window = shown[start:end]
    search = "\n".join(window) + "\n"
    edit = Edit("f.py", search, search + "added = 1\n")
    keys = [line.strip() for line in window]
    unique = 1 == sum(
        [line.strip() for line in shown[i : i + len(keys)]] == keys for i in range(len(shown) - len(keys) + 1)
    )
    if not unique or REDACTED not in search or not any(keys):
        # Refused or applied, but never applied anywhere else than the quoted place.
        try:
            applied = apply_edits({"f.py": text}, [edit])
        except (EditDoesNotApply, EditIsAmbiguous):
            return
    else:
        applied = apply_edits({"f.py": text}, [edit])
    expected = "\n".join([*lines[:end], "added = 1", *lines[end:]]) + "\n"
    assert expected == applied.after["f.py"]
