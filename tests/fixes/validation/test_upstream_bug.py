"""A real open-source bug, reproduced at the parent of its real upstream fix, through the product's path.

humanize 4.2.0 (vendored sdist, see sdists/README.md): `intcomma(1234.5454545, 0)` ignores
`ndigits=0`. Upstream fixed it in 4.2.1 (python-humanize/humanize#26): `if ndigits:` became
`if ndigits is not None:`, and `test_intcomma` gained the case `([1234.5454545, 0], "1,235")`.

As a user has it: the sdist is a git repository configured as a service with nothing but its
repository, branch and `allow_test_edits`; its validation environment is bootstrapped from its own
setup.cfg/pyproject.toml (the package imports its own metadata; its suite needs its `tests` extra;
its setup.cfg forces colour on); the fix comes through the real DSPy client from the local fake
model, answering GenerateProvenFix with the upstream fix as `edits` and the upstream test as
`regression_test`. The upstream fix is proposed validated and proven; a plausible wrong patch is
never shown as passed and the failing tests are named; nothing of humanize reaches the bot's
environment. Building the environment installs humanize's build backend and test extra from the
package index pip is configured with (PyPI or a mirror).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.render.text import render_proposal
from bot.render.views import ProposalView
from core.settings import ServiceSettings, Settings
from core.store.models import Incident
from core.store.proposals import get_proposal
from fixes.generate import propose_fix
from tests.fixes.llm_support import (
    ServerFactory,
    add_incident,
    by_signature,
    commit_as_remote,
    db,
    llm_settings,
    scripted_lm,
)
from tests.fixes.validation.support import unpack

__all__ = ["db", "scripted_lm"]  # fixtures used by this module

_CASE = '        ([1234.5454545, None], "1,234.5454545"),\n'
UPSTREAM_FIX = {
    "path": "src/humanize/number.py",
    "search": "    if ndigits:\n",
    "replace": "    if ndigits is not None:\n",
}
UPSTREAM_TEST = {
    "path": "tests/test_number.py",
    "search": _CASE,
    "replace": _CASE + '        ([1234.5454545, 0], "1,235"),\n',
}
# Plausible (round to `ndigits`), but it drops the trailing zeros `intcomma` promises: wrong.
WRONG_FIX = [
    UPSTREAM_FIX,
    {
        "path": "src/humanize/number.py",
        "search": '        orig = "{0:.{1}f}".format(value, ndigits)\n',
        "replace": "        orig = str(round(value, ndigits))\n",
    },
]
UPSTREAM_NODE = "tests/test_number.py::test_intcomma[test_args20-1,235]"

ANALYSIS = {
    "root_cause": (
        "src/humanize/number.py: intcomma() tests `if ndigits:`, so ndigits=0 is treated like None "
        "and the value is printed with all its decimals instead of none."
    ),
    "severity": "medium",
    "affected_components": ["src/humanize/number.py"],
    "confidence": 0.9,
}


def _answer(edits: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "reasoning": "ndigits=0 is a request for no decimals: compare with None, not truthiness.",
        "edits": edits,
        "risk_assessment": "Low: only ndigits=0 changes.",
        "test_suggestion": "intcomma(1234.5454545, 0) == '1,235'",
        "regression_test": [UPSTREAM_TEST],
    }


def _service_repo(tmp_path: Path) -> Path:
    """humanize 4.2.0 as its maintainers' repository would hold it, as a bare remote on main."""
    return commit_as_remote(
        unpack("humanize-4.2.0", tmp_path / "src"), tmp_path / "humanize.git", "humanize 4.2.0"
    )


def _incident(sessions: sessionmaker[Session]) -> Incident:
    """What the service's logs showed: a total rendered with every decimal despite ndigits=0."""
    return add_incident(
        sessions,
        service="humanize",
        title="intcomma ignores ndigits=0 (3 times)",
        samples=["invoice total rendered as 1,234.5454545 (intcomma(total, ndigits=0))"],
        template="invoice total rendered as <*> (intcomma(total, ndigits=0))",
        logger="billing",
        exception_type="",
        traceback="",
        frames=[{"file": "/srv/app/src/humanize/number.py", "line": 140, "function": "intcomma"}],
        line_numbers=[140],
    )


def test_upstream_fix_is_proven_and_a_wrong_one_never_passes(
    db: sessionmaker[Session], scripted_lm: ServerFactory, tmp_path: Path
) -> None:
    remote = _service_repo(tmp_path)
    service = ServiceSettings(
        name="humanize", source="file:/dev/null", repo=str(remote), branch="main", allow_test_edits=True
    )
    settings = Settings(
        config_path=None,
        data_dir=tmp_path / "data",
        services=(service,),
        # As load_settings would: the host's pip configuration reaches a bootstrap, nothing else.
        host_env={k: v for k, v in os.environ.items() if k.startswith("PIP_")},
    )

    def propose(edits: list[dict[str, str]]) -> str:
        server, lm = scripted_lm(by_signature(ANALYSIS, [_answer(edits)]))
        proposal = propose_fix(
            _incident(db),
            service=service,
            llm=llm_settings(max_attempts=1),
            sessions=db,
            lm=lm,
            settings=settings,
        )
        assert any("regression_test" in str(r["messages"]) for r in server.requests)
        return proposal.fix_id

    upstream = propose([UPSTREAM_FIX])
    with db() as session:
        proposal = get_proposal(session, upstream)
        assert ("llm", "passed") == (proposal.origin, proposal.validation_status), proposal.validation_output
        assert f"proven: `{UPSTREAM_NODE}` fails on the base, passes with the fix" == proposal.proof
        assert "+    if ndigits is not None:" in proposal.diff
        assert '+        ([1234.5454545, 0], "1,235"),' in proposal.diff
        # Validated in the bootstrapped environment, with colour off although setup.cfg forces it on.
        assert (
            f"environment: bootstrap {tmp_path / 'data' / 'envs' / 'humanize-'}" in proposal.validation_output
        )
        assert "\x1b[" not in proposal.validation_output
        shown = render_proposal(ProposalView.of(proposal))
    assert f"proven: `{UPSTREAM_NODE}`" in shown

    wrong = propose(WRONG_FIX)
    with db() as session:
        refused = get_proposal(session, wrong)
        assert ("report", "failed") == (refused.origin, refused.validation_status)
        reason = refused.no_fix_reason or ""
        shown = render_proposal(ProposalView.of(refused))
    named = [
        "test_args16-14,308.40",
        "test_args17-14,308.400",
        "test_args20-1,235",
        "test_args24-1,234.5454545000",
    ]
    failing = ", ".join(f"tests/test_number.py::test_intcomma[{n}]" for n in named)
    assert f"failed validation at the tests step (new failures: {failing})" in reason
    assert "no fix proposed:" in shown
    assert "proven" not in shown

    # Nothing of the target reached the bot's environment: not importable, no metadata, not in pip.
    assert importlib.util.find_spec("humanize") is None
    assert importlib.util.find_spec("freezegun") is None
    assert "humanize" not in {d.metadata["Name"].lower() for d in importlib.metadata.distributions()}
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True, check=True
    ).stdout.lower()
    assert "humanize==" not in listed
