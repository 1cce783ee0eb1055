"""Learning from outcomes: verified fixes become demonstrations for `GenerateFix`.

`FixProgram` is the DSPy program the bot runs (AnalyzeAnomaly, then GenerateFix, or GenerateProvenFix
for a service that allows test edits). `compile_program` turns verified proposals into
`dspy.Example`s and gives them to both generators as labeled demonstrations (`dspy.LabeledFewShot`:
no LM calls). `save_program` writes the program's state as JSON under
`<data_dir>/programs/fixer-<UTC timestamp>.json`; `load_latest_program` picks the newest file there
(or an explicit path), so a running bot uses what `agent learn` produced last.

Outcomes: a proposal's `status` already records approved, rejected (with `reject_reason`), pushed,
deployed, verified and reverted; `outcome_of` reads it, and `record_outcome` stores an explicit one.
A fix is a demonstration only when it was verified *and* the apply pipeline's validation really ran
and passed (`validation_outcome`, see `verified_proposals`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import dspy
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.store.lifecycle import audit
from core.store.models import Proposal, utcnow
from core.store.proposals import get_proposal
from fixes.signatures import AnalyzeAnomaly, EditBlock, GenerateFix, GenerateProvenFix

__all__ = [
    "OUTCOMES",
    "FixProgram",
    "compile_program",
    "examples_from_proposals",
    "latest_program_path",
    "load_latest_program",
    "outcome_of",
    "record_outcome",
    "save_program",
    "verified_proposals",
]

OUTCOMES = ("approved", "rejected", "deployed", "verified", "unresolved", "reverted")
_PROGRAM_GLOB = "fixer-*.json"


class FixProgram(dspy.Module):  # type: ignore[misc]  # dspy ships no type information
    """AnalyzeAnomaly then GenerateFix, as predictors that `agent learn` can give demos to.

    `generate_proven` is GenerateFix with the regression test as an output, asked instead of
    `generate` when the service allows test edits.
    """

    def __init__(self) -> None:
        super().__init__()
        self.analyze = dspy.Predict(AnalyzeAnomaly)
        self.generate = dspy.Predict(GenerateFix)
        self.generate_proven = dspy.Predict(GenerateProvenFix)

    def forward(self, **inputs: Any) -> dspy.Prediction:
        """Analyse, then generate with empty feedback (the bot drives the two steps itself)."""
        analysis = self.analyze(**inputs)
        return self.generate(
            root_cause=analysis.root_cause,
            affected_components=analysis.affected_components,
            current_code=inputs.get("code_context", ""),
            feedback="",
        )


def outcome_of(proposal: Proposal) -> str:
    """The proposal's outcome for learning: the explicit one, else derived from its status."""
    if proposal.outcome:
        return proposal.outcome
    return {
        "approved": "approved",
        "rejected": "rejected",
        "deployed": "deployed",
        "verified": "verified",
        "unresolved": "unresolved",
        "reverted": "reverted",
    }.get(proposal.status, "")


def record_outcome(session: Session, fix_id: str, outcome: str, *, actor: str, reason: str = "") -> None:
    """Store `outcome` (one of `OUTCOMES`) on the proposal, with an audit row."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}; expected one of {', '.join(OUTCOMES)}")
    proposal = get_proposal(session, fix_id)
    proposal.outcome = outcome
    audit(
        session,
        actor=actor,
        action=f"outcome_{outcome}",
        fix_id=fix_id,
        incident_id=proposal.incident_id,
        detail={"reason": reason} if reason else {},
    )


def verified_proposals(session: Session, *, limit: int = 200) -> list[Proposal]:
    """LLM proposals fit to demonstrate a fix, newest first.

    Both must hold: the apply pipeline's validation really ran and passed (`validation_outcome ==
    "passed"`; never "error", a run that did not happen, nor a fix recorded before that column existed,
    whose "passed" could have been one), and the incident was verified in production afterwards.
    """
    query = (
        select(Proposal)
        .where(Proposal.origin == "llm")
        .where(Proposal.validation_outcome == "passed")
        .where(or_(Proposal.status == "verified", Proposal.outcome == "verified"))
        .order_by(Proposal.created_at.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def examples_from_proposals(proposals: Sequence[Proposal]) -> list[dspy.Example]:
    """GenerateFix demonstrations: inputs (root cause, components, the code the edits replaced)."""
    examples = []
    for proposal in proposals:
        edits = proposal.option(proposal.chosen_option or 1)["edits"]
        if not edits or not proposal.root_cause:
            continue
        code = "\n".join(f"### {e['path']}\n{e['search']}" for e in edits)
        example = dspy.Example(
            root_cause=proposal.root_cause,
            affected_components=list(proposal.affected_components or []),
            current_code=code,
            feedback="",
            reasoning=proposal.reasoning,
            edits=[EditBlock(**e).model_dump() for e in edits],
            risk_assessment=proposal.risk,
            test_suggestion=proposal.test_suggestion,
        ).with_inputs("root_cause", "affected_components", "current_code", "feedback")
        examples.append(example)
    return examples


def compile_program(examples: Sequence[dspy.Example], *, k: int = 8) -> FixProgram:
    """A `FixProgram` whose generators carry up to `k` of `examples` as demonstrations.

    The demonstrations carry no regression test (a proposal stores its test among its edits), so
    GenerateProvenFix's demonstrations show the fix and leave that output unsupplied.
    """
    program = FixProgram()
    if examples:
        program.generate = dspy.LabeledFewShot(k=k).compile(program.generate, trainset=list(examples))
        program.generate_proven = dspy.LabeledFewShot(k=k).compile(
            program.generate_proven, trainset=list(examples)
        )
    return program


def save_program(program: FixProgram, programs_dir: Path, *, now: datetime | None = None) -> Path:
    """Write the program state as JSON to `programs_dir/fixer-<UTC timestamp>.json`; returns the path."""
    programs_dir.mkdir(parents=True, exist_ok=True)
    stamp = (now or utcnow()).strftime("%Y%m%dT%H%M%S%fZ")
    path = programs_dir / f"fixer-{stamp}.json"
    program.save(str(path))
    return path


def latest_program_path(programs_dir: Path) -> Path | None:
    """The newest saved program (timestamps sort lexically), or None."""
    candidates = sorted(programs_dir.glob(_PROGRAM_GLOB)) if programs_dir.is_dir() else []
    return candidates[-1] if candidates else None


def load_latest_program(programs_dir: Path | None, *, explicit: Path | None = None) -> FixProgram | None:
    """The program at `explicit`, else the newest one in `programs_dir`; None when there is none.

    Raises:
        ValueError: the file exists but is not a saved FixProgram (its path is in the message).
    """
    path = explicit if explicit is not None else (latest_program_path(programs_dir) if programs_dir else None)
    if path is None or not path.is_file():
        return None
    program = FixProgram()
    try:
        state = json.loads(path.read_text("utf-8"))
        if "generate_proven" not in state and "generate" in state:
            # Saved before GenerateProvenFix existed: its demonstrations serve both generators.
            fresh = program.generate_proven.dump_state()
            state["generate_proven"] = {**fresh, "demos": state["generate"].get("demos", [])}
        program.load_state(state)
    except (
        OSError,
        UnicodeDecodeError,
        json.JSONDecodeError,
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
    ) as exc:
        raise ValueError(
            f"{path} is not a saved fix program ({exc}); delete it or run `agent learn` again"
        ) from exc
    return program
