"""From an incident to a stored proposal: analyse, generate edits, check them, validate, store.

```
propose_fix(incident)
  ├─ scratch checkout of the service's repository at its deploy branch head (base commit)
  ├─ no model / budget spent  → playbook fix, else incident report ("no fix proposed: <reason>")
  ├─ AnalyzeAnomaly(code context)          → root cause, severity, components, confidence
  ├─ up to llm.max_attempts times:
  │     GenerateFix(root cause, code, feedback) → edits
  │       (GenerateProvenFix when the service allows test edits: + regression_test, test files only)
  │     apply_edits + policy (inside the repo, allowed, not denied, size caps)
  │     pre-validation in the scratch checkout (compile, imports, tests; only new failures count)
  │     on failure: the error text becomes `feedback` for the next attempt
  ├─ low confidence → up to llm.max_alternatives options, each checked the same way
  ├─ the model fails (timeout, 429, error, unparseable) → playbook, else report with the reason
  └─ create_proposal(origin="llm" | "playbook" | "report"), LlmUsage rows
```

The retry loop is a plain function whose state lives in one call, so every request starts fresh
(DSPy's Refine/BestOfN keep a decreasing failure allowance on the instance and force
temperature 1.0; their reward function is also the wrong place for a side-effecting validation).
`dspy.context(lm=...)` is entered here, in whatever thread calls `propose_fix`.

Whatever the model returns, an edit only survives if its path is inside the repository, allowed
and not denied; the human then approves the exact diff (its content hash is stored).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from core.settings import LLMSettings, ServiceSettings, Settings
from core.store.models import Incident, Proposal
from core.store.proposals import create_proposal
from fixes.cause import cause_line
from fixes.context import CodeContext, ReadPolicy, build_code_context, read_repo_file
from fixes.edits import AppliedEdits, Edit, apply_edits
from fixes.errors import EditError, FixError, LLMNotConfigured, LLMUnavailable, NoFixProposed, PolicyViolation
from fixes.lm import TokenUsage, describe_lm, record_usage, require_budget, usage_from_tracker
from fixes.playbooks import PlaybookFix, find_playbook_fix
from fixes.policy import FixPolicy, check_fix, normalize_path, policy_for
from fixes.prevalidate import PreValidation, ScratchCheckout, prevalidate
from fixes.validation import is_test_path, plan_for
from monitoring.redact import redact

if TYPE_CHECKING:
    import dspy

    from fixes.learning import FixProgram

__all__ = [
    "LOW_CONFIDENCE",
    "FixOption",
    "Validator",
    "check_and_apply",
    "describe_lm_error",
    "propose_fix",
]

log = logging.getLogger(__name__)

# Below this confidence the model is asked for alternative fixes (up to llm.max_alternatives).
LOW_CONFIDENCE = 0.6
_FEEDBACK_LIMIT = 3_000
_OUTPUT_LIMIT = 20_000

Validator = Callable[[AppliedEdits], PreValidation]


def _silent(_message: str) -> None:
    """Progress sink that drops messages."""


@dataclass(frozen=True)
class FixOption:
    """One candidate fix that applied cleanly, with its validation result."""

    edits: tuple[Edit, ...]
    applied: AppliedEdits
    validation: PreValidation
    reasoning: str = ""
    risk: str = ""
    test_suggestion: str = ""
    summary: str = ""

    def as_alternative(self) -> dict[str, Any]:
        """The shape of `Proposal.alternatives` items."""
        return {
            "summary": self.summary,
            "edits": [e.to_dict() for e in self.edits],
            "diff": self.applied.diff,
            "content_hash": self.applied.content_hash,
            "reasoning": self.reasoning,
            "risk": self.risk,
            "test_suggestion": self.test_suggestion,
            "validation_status": self.validation.status,
            "validation_output": self.validation.output[-_OUTPUT_LIMIT:],
            "proof": self.validation.proof,
        }


@dataclass
class _Outcome:
    origin: str = "report"
    no_fix_reason: str = ""
    analysis: dict[str, Any] = field(default_factory=dict)
    options: list[FixOption] = field(default_factory=list)
    failed_option: FixOption | None = None
    playbook: PlaybookFix | None = None
    usage: dict[str, TokenUsage] = field(default_factory=dict)
    attempts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Job:
    """Everything one generation needs, so the steps below take one argument instead of ten."""

    fixer: FixProgram
    outcome: _Outcome
    service: ServiceSettings
    llm: LLMSettings
    checkout: ScratchCheckout
    validate: Validator
    read_policy: ReadPolicy
    progress: Callable[[str], None]
    policy: FixPolicy


def check_and_apply(
    files: Mapping[str, str], edits: Sequence[Edit], *, policy: FixPolicy, root: Path
) -> AppliedEdits:
    """Policy first (paths inside the repo, allowed, not denied), then the matcher, then the caps.

    Raises:
        PolicyViolation, EditDoesNotApply, EditIsAmbiguous: with messages a model can act on.
    """
    if not edits:
        raise PolicyViolation(
            "the answer contains no edits; propose at least one {path, search, replace} block"
        )
    check_fix(replace(policy, max_lines=10**9), [e.path for e in edits], root=root)
    normalized = [
        Edit(p, e.search, e.replace) for p, e in zip([_norm(e.path) for e in edits], edits, strict=True)
    ]
    applied = apply_edits(files, normalized)
    changed = applied.changed_paths
    check_fix(policy, changed, root=root, diff=applied.diff, before=applied.before, after=applied.after)
    return applied


def _norm(path: str) -> str:
    return normalize_path(path)


def describe_lm_error(exc: BaseException, llm: LLMSettings) -> str:
    """A one-line reason for people: what failed, with which model, and what to do."""
    name = type(exc).__name__
    where = describe_lm(llm)
    if "Timeout" in name:
        return (
            f"the language model ({where}) timed out after {llm.timeout_seconds:g}s; "
            "raise [llm] timeout_seconds"
        )
    if "RateLimit" in name:
        return f"the language model ({where}) is rate limited (HTTP 429) after {llm.retries} retries"
    if "AdapterParseError" in name:
        return f"the language model's ({where}) answer could not be parsed, even in JSON mode"
    if "Auth" in name:
        return f"the language model ({where}) refused the API key; check LLM_API_KEY"
    first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return f"the language model ({where}) failed: {name}: {first}"


def propose_fix(
    incident: Incident,
    *,
    service: ServiceSettings,
    llm: LLMSettings,
    sessions: sessionmaker[Session],
    lm: dspy.LM | None,
    repo_path: Path | None = None,
    git_token: str = "",
    program: FixProgram | None = None,
    programs_dir: Path | None = None,
    validator: Callable[[ScratchCheckout], Validator] | None = None,
    progress: Callable[[str], None] = _silent,
    now: datetime | None = None,
    policy: FixPolicy | None = None,
    settings: Settings | None = None,
) -> Proposal:
    """Analyse `incident`, generate and pre-validate a fix, and store the proposal (or a report).

    Args:
        incident: the incident (its `details` and `samples` as the scanner stores them).
        service: the service's settings (repository, branch, policy, validation command).
        llm: model settings (attempts, alternatives, budgets, context budget).
        sessions: opens short transactions (budget check, storing the proposal).
        lm: the `dspy.LM` to use (`fixes.lm.build_lm`); None = no model configured.
        repo_path: a local clone to take the scratch checkout from (default: `service.repo`).
        git_token: for cloning a private repository.
        program: the DSPy program (default: the newest one saved in `programs_dir` by
            `agent learn`, else a fresh `FixProgram`).
        programs_dir: where `agent learn` saves programs (`<data_dir>/programs`).
        validator: builds the validation for a checkout (default: `fixes.prevalidate.prevalidate`
            with the service's validation command and timeout).
        progress: receives short status lines.
        policy: what a fix may touch (`fixes.policy.policy_for`, the same as apply uses); default:
            the service's, without the data dir.
        settings: for the validation's environment cache (`data_dir`) and sandbox (default: an
            empty configuration with its data dir in the system's temporary folder).

    Returns:
        The stored `Proposal` (committed). It is a report (`origin="report"`, `no_fix_reason`) when
        no fix could be proposed; a proposal that failed validation is stored only when
        `llm.post_failed_validation` is set, with `validation_status="failed"`.
    """
    if program is None and programs_dir is not None and lm is not None:
        from fixes.learning import load_latest_program

        program = load_latest_program(
            programs_dir, explicit=Path(llm.program_path) if llm.program_path else None
        )
    source = str(repo_path) if repo_path is not None else service.repo
    progress(f"checking out {service.branch} of {source}")
    with ScratchCheckout(source, service.branch, token=git_token) as checkout:
        validate = (validator or _default_validator(service, settings))(checkout)
        outcome = _generate(
            incident,
            service=service,
            llm=llm,
            sessions=sessions,
            lm=lm,
            checkout=checkout,
            program=program,
            validate=validate,
            progress=progress,
            policy=policy or policy_for(service),
        )
        with sessions.begin() as session:
            proposal = _store(
                session, incident, service=service, llm=llm, checkout=checkout, outcome=outcome, now=now
            )
    progress(f"{proposal.fix_id}: {proposal.origin}, validation {proposal.validation_status}")
    return proposal


def _default_validator(
    service: ServiceSettings, settings: Settings | None
) -> Callable[[ScratchCheckout], Validator]:
    if settings is None:
        settings = Settings(config_path=None, data_dir=Path(tempfile.gettempdir()) / "fixbot")

    def build(checkout: ScratchCheckout) -> Validator:
        plan = plan_for(settings, service, checkout.path)

        def run(applied: AppliedEdits) -> PreValidation:
            return prevalidate(checkout, applied, plan=plan)

        return run

    return build


def _generate(
    incident: Incident,
    *,
    service: ServiceSettings,
    llm: LLMSettings,
    sessions: sessionmaker[Session],
    lm: dspy.LM | None,
    checkout: ScratchCheckout,
    program: FixProgram | None,
    validate: Validator,
    progress: Callable[[str], None],
    policy: FixPolicy,
) -> _Outcome:
    outcome = _Outcome()
    details = dict(incident.details or {})
    samples = [str(s) for s in (incident.samples or [])]
    read_policy = ReadPolicy(denied=service.denied_paths)
    try:
        if lm is None:
            raise LLMNotConfigured("no language model configured ([llm] model is empty)")
        with sessions.begin() as session:
            require_budget(session, llm)
        _llm_fix(
            incident,
            outcome,
            details=details,
            samples=samples,
            service=service,
            llm=llm,
            lm=lm,
            checkout=checkout,
            program=program,
            validate=validate,
            read_policy=read_policy,
            progress=progress,
            policy=policy,
        )
    except NoFixProposed as exc:
        outcome.no_fix_reason = str(exc)
    if outcome.options:
        outcome.origin = "llm"
        return outcome
    if outcome.failed_option is not None and llm.post_failed_validation:
        outcome.origin = "llm"
        return outcome
    playbook = find_playbook_fix(checkout.path, details=details, samples=samples, policy=read_policy)
    if playbook is not None:
        option = _playbook_option(playbook, checkout, service, validate, policy)
        if option is not None:
            progress(f"playbook {playbook.playbook} applies")
            outcome.playbook, outcome.options, outcome.origin = playbook, [option], "playbook"
            return outcome
    outcome.origin = "report"
    outcome.no_fix_reason = outcome.no_fix_reason or "no fix found"
    return outcome


def _playbook_option(
    playbook: PlaybookFix,
    checkout: ScratchCheckout,
    service: ServiceSettings,
    validate: Validator,
    policy: FixPolicy,
) -> FixOption | None:
    files = _files_for(checkout.path, playbook.edits, ReadPolicy(denied=service.denied_paths))
    try:
        applied = check_and_apply(files, playbook.edits, policy=policy, root=checkout.path)
    except FixError as exc:
        log.info("playbook %s does not apply: %s", playbook.playbook, exc)
        return None
    validation = validate(applied)
    if not validation.passed:
        return None
    return FixOption(
        playbook.edits,
        applied,
        validation,
        playbook.reasoning,
        playbook.risk,
        playbook.test_suggestion,
        playbook.summary,
    )


def _files_for(root: Path, edits: Sequence[Edit], policy: ReadPolicy) -> dict[str, str]:
    files: dict[str, str] = {}
    for edit in edits:
        text = read_repo_file(root, edit.path, policy) if edit.path else None
        if text is not None:
            files[edit.path] = text
    return files


def _system_context(incident: Incident, service: ServiceSettings, checkout: ScratchCheckout) -> str:
    return (
        f"service {service.name}; repository branch {service.branch} at {checkout.base_commit[:12]}; "
        f"incident kind {incident.kind}, severity {incident.severity}, seen {incident.count} times "
        f"between {incident.first_seen:%Y-%m-%d %H:%M} and {incident.last_seen:%Y-%m-%d %H:%M} UTC"
        + ("; this is a regression after an earlier fix" if incident.regression else "")
    )


def _anomaly_text(incident: Incident, details: Mapping[str, Any]) -> str:
    parts = [f"{incident.kind}: {incident.title}"]
    for key in ("exception_type", "logger", "template"):
        if details.get(key):
            parts.append(f"{key}: {details[key]}")
    return "\n".join(parts)


def _llm_fix(
    incident: Incident,
    outcome: _Outcome,
    *,
    details: Mapping[str, Any],
    samples: list[str],
    service: ServiceSettings,
    llm: LLMSettings,
    lm: dspy.LM,
    checkout: ScratchCheckout,
    program: FixProgram | None,
    validate: Validator,
    read_policy: ReadPolicy,
    progress: Callable[[str], None],
    policy: FixPolicy,
) -> None:
    import dspy
    from dspy.utils.exceptions import DSPyError

    from fixes.learning import FixProgram

    fixer = program or FixProgram()
    context = build_code_context(
        checkout.path, details=details, policy=read_policy, token_budget=llm.context_token_budget
    )
    log_samples = [*samples]
    if details.get("traceback"):
        log_samples.append(str(details["traceback"]))
    with dspy.context(lm=lm):
        try:
            progress("analysing the root cause")
            with dspy.track_usage() as tracker:
                try:
                    analysis = fixer.analyze(
                        anomaly=_anomaly_text(incident, details),
                        log_samples=log_samples,
                        code_context=context.text or "(no code of the service matched the incident)",
                        system_context=_system_context(incident, service, checkout),
                    )
                finally:
                    outcome.usage["analyze"] = usage_from_tracker(tracker.get_total_tokens(), 1)
            outcome.analysis = {
                "root_cause": str(analysis.root_cause),
                "severity": str(analysis.severity),
                "affected_components": [str(c) for c in analysis.affected_components],
                "confidence": max(0.0, min(1.0, float(analysis.confidence))),
            }
            current = _current_code(
                checkout, context, outcome.analysis["affected_components"], llm, read_policy
            )
            job = _Job(fixer, outcome, service, llm, checkout, validate, read_policy, progress, policy)
            with dspy.track_usage() as tracker:
                try:
                    _attempts(job, current)
                finally:
                    calls = len(outcome.attempts)
                    outcome.usage["generate"] = usage_from_tracker(tracker.get_total_tokens(), calls)
        except DSPyError as exc:
            raise LLMUnavailable(describe_lm_error(exc, llm)) from exc


def _current_code(
    checkout: ScratchCheckout,
    context: CodeContext,
    components: Sequence[str],
    llm: LLMSettings,
    policy: ReadPolicy,
) -> str:
    """The analysis context plus whole files the analysis named (if they fit the budget)."""
    named = [c for c in components if "/" in c or c.endswith(".py")]
    extra = [p for p in named if p not in context.paths]
    if not extra:
        return context.text
    wider = build_code_context(
        checkout.path, details={}, policy=policy, token_budget=llm.context_token_budget, extra_paths=extra
    )
    return "\n".join(t for t in (context.text, wider.text) if t)


def _attempts(job: _Job, current_code: str) -> None:
    outcome, llm = job.outcome, job.llm
    feedback = ""
    for attempt in range(1, llm.max_attempts + 1):
        job.progress(f"generating a fix (attempt {attempt} of {llm.max_attempts})")
        option, feedback = _one_option(job, current_code, feedback)
        unproven = option is not None and not option.validation.proof.startswith("proven:")
        if option is not None and option.validation.passed and unproven and not llm.post_unproven:
            feedback = (
                f"Your previous edits passed validation but are {option.validation.proof}. "
                "Keep the fix and give, as `regression_test`, a test that fails without it and "
                "passes with it."
            )
            outcome.attempts.append(feedback)
            outcome.failed_option = option
            continue
        if option is not None and option.validation.passed:
            outcome.options.append(option)
            break
        if option is not None:
            outcome.failed_option = option
            if option.validation.status == "error":
                # The validation itself cannot judge (no environment, sandbox refused, the base's
                # tests do not run): another attempt would meet the same wall.
                outcome.no_fix_reason = option.validation.reason or "validation error"
                return
    else:
        outcome.no_fix_reason = (
            f"{llm.max_attempts} attempt(s) produced no fix that applies and passes validation; "
            f"last problem: {_last_problem(feedback)}"
        )
        return
    if outcome.analysis["confidence"] >= LOW_CONFIDENCE:
        return
    first = outcome.options[0]
    for number in range(2, llm.max_alternatives + 1):
        job.progress(f"low confidence: asking for alternative {number}")
        ask = (
            f"The model is unsure. Option 1 was: {first.reasoning[:800]}\n"
            "Propose a different, independent fix (a different approach, not a variation)."
        )
        option, _ = _one_option(job, current_code, ask)
        usable = option is not None and (option.validation.passed or llm.post_failed_validation)
        if usable and all(option.applied.content_hash != o.applied.content_hash for o in outcome.options):  # type: ignore[union-attr]
            outcome.options.append(option)  # type: ignore[arg-type]


def _one_option(job: _Job, current_code: str, feedback: str) -> tuple[FixOption | None, str]:
    """One GenerateFix call (GenerateProvenFix when the service allows test edits), checked and
    validated; (option or None, feedback for the next try).

    The regression test is edits like the fix's, to test files only, and goes through the same
    policy, diff and validation: the person approves (and the commit carries) both.
    """
    analysis, outcome = job.outcome.analysis, job.outcome
    proven = job.service.allow_test_edits
    prediction = (job.fixer.generate_proven if proven else job.fixer.generate)(
        root_cause=analysis["root_cause"],
        affected_components=analysis["affected_components"],
        current_code=current_code or "(no code context)",
        feedback=feedback,
    )
    fix_edits = _edits(prediction.edits)
    test_edits = _edits(getattr(prediction, "regression_test", None)) if proven else ()
    edits = fix_edits + test_edits
    files = _files_for(job.checkout.path, [e for e in edits if _safe(e.path)], job.read_policy)
    try:
        _only_tests(test_edits)
        applied = check_and_apply(files, edits, policy=job.policy, root=job.checkout.path)
    except (EditError, PolicyViolation) as exc:
        message = f"Your previous edits were refused and nothing was changed: {exc}"
        outcome.attempts.append(message)
        return None, message[:_FEEDBACK_LIMIT]
    validation = job.validate(applied)
    option = FixOption(
        edits,
        applied,
        validation,
        str(prediction.reasoning),
        str(prediction.risk_assessment),
        str(prediction.test_suggestion),
        _summary(str(prediction.reasoning), analysis),
    )
    if validation.passed:
        outcome.attempts.append("passed")
        return option, ""
    # Test output can print the code's secrets (an assertion on a settings value): redacted like code.
    tail = redact(validation.output[-_FEEDBACK_LIMIT:])
    message = (
        f"Your previous edits applied but failed validation at the {validation.step or 'tests'} step "
        f"(new failures: {', '.join(validation.new_failures) or 'see output'}). Output:\n{tail}"
    )
    outcome.attempts.append(message)
    return option, message


def _edits(blocks: Sequence[Any] | None) -> tuple[Edit, ...]:
    return tuple(Edit(str(b.path), str(b.search), str(b.replace)) for b in (blocks or []))


def _only_tests(test_edits: Sequence[Edit]) -> None:
    """The regression test may only touch test files (the fix itself goes in `edits`)."""
    others = [e.path for e in test_edits if not (_safe(e.path) and is_test_path(_norm(e.path)))]
    if others:
        raise PolicyViolation(
            f"`regression_test` may only edit test files (test_*.py, *_test.py, or .py files under "
            f"tests/), not {', '.join(repr(p) for p in others[:5])}; put code changes in `edits`"
        )


def _last_problem(feedback: str) -> str:
    """What "No fix proposed" says: the feedback's summary and the one line of output that says why.

    The feedback was written for the model (the whole test output); people get the cause.
    """
    summary, _, output = feedback.partition("\n")
    summary = summary.removeprefix("Your previous ").removesuffix(" Output:").rstrip(".") or "none reported"
    cause = cause_line(output)
    return f"{summary}: {cause}" if cause else summary


def _safe(path: str) -> bool:
    try:
        _norm(path)
    except PolicyViolation:
        return False
    return True


def _summary(reasoning: str, analysis: Mapping[str, Any]) -> str:
    text = (reasoning or str(analysis.get("root_cause", ""))).strip().split("\n")[0]
    return text[:200]


def _store(
    session: Session,
    incident: Incident,
    *,
    service: ServiceSettings,
    llm: LLMSettings,
    checkout: ScratchCheckout,
    outcome: _Outcome,
    now: datetime | None,
) -> Proposal:
    total = sum(outcome.usage.values(), TokenUsage())
    fields: dict[str, Any] = {
        "incident_id": incident.id,
        "origin": outcome.origin,
        "base_commit": checkout.base_commit,
        "branch": service.branch,
        "severity": outcome.analysis.get("severity") or incident.severity or "medium",
        "root_cause": outcome.analysis.get("root_cause", ""),
        "confidence": outcome.analysis.get("confidence"),
        "affected_components": outcome.analysis.get("affected_components", []),
        "summary": incident.title[:200],
        "token_usage": {**total.as_dict(), "model": describe_lm(llm) if total.calls else ""},
    }
    chosen = (
        outcome.options[0]
        if outcome.options
        else (outcome.failed_option if outcome.origin == "llm" else None)
    )
    if outcome.playbook is not None:
        fields.update(
            root_cause=outcome.playbook.root_cause, summary=outcome.playbook.summary, confidence=1.0
        )
    if chosen is not None:
        fields.update(
            edits=[e.to_dict() for e in chosen.edits],
            diff=chosen.applied.diff,
            content_hash=chosen.applied.content_hash,
            reasoning=chosen.reasoning,
            risk=chosen.risk,
            test_suggestion=chosen.test_suggestion,
            validation_status=chosen.validation.status,
            validation_output=chosen.validation.output[-_OUTPUT_LIMIT:],
            alternatives=[o.as_alternative() for o in outcome.options[1:]],
            proof=chosen.validation.proof or None,
        )
        if outcome.origin == "llm" and chosen.summary:
            fields["summary"] = chosen.summary
    else:
        failed = outcome.failed_option
        fields.update(
            no_fix_reason=outcome.no_fix_reason,
            validation_status=failed.validation.status if failed else "not_run",
            validation_output=failed.validation.output[-_OUTPUT_LIMIT:] if failed else "",
        )
    proposal = create_proposal(session, service=service.name, now=now, **fields)
    for purpose, usage in outcome.usage.items():
        if usage.calls or usage.total_tokens:
            record_usage(session, service=service.name, purpose=purpose, usage=usage, fix_id=proposal.fix_id)
    return proposal
