"""Validation of a working tree after edits: compile, import, tests — truthfully, and sandboxed.

```
validate_worktree(root, changed_paths, plan, baseline=...)
  ├─ environment  the target's interpreter (setting or bootstrap); unavailable → error
  ├─ sandbox      strict and no isolation here → error
  ├─ test config  conftest.py, pytest.ini, tox.ini, setup.cfg, [tool.pytest.ini_options] edited
  │               → failed, unless the service allows it (`allow_test_config_edits`)
  ├─ compile + import of the changed files, in the target's interpreter, sandboxed
  └─ tests        read per test id (results.py); judged against the base run (`compare`)
```

Modules: `environment` (whose interpreter), `sandbox` (how untrusted code runs), `runners` (the
runs), `results` (reading them and the verdict). `plan_for(settings, service, root)` turns the
configuration into a `ValidationPlan`; pre-validation and the apply pipeline both call it.
"""

from __future__ import annotations

import threading
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from core.settings import ServiceSettings, Settings
from fixes.validation.environment import TargetEnvironment, environment_problem, prepare_environment
from fixes.validation.results import TestReport, Verdict, compare, strip_ansi
from fixes.validation.runners import (
    ImportCheck,
    default_test_command,
    is_pytest,
    module_name_for,
    run_tests,
)
from fixes.validation.sandbox import Limits, Sandbox, SandboxUnavailable, isolation_level

__all__ = [
    "ImportCheck",
    "TargetEnvironment",
    "TestReport",
    "ValidationPlan",
    "ValidationResult",
    "Verdict",
    "baseline_report",
    "compare",
    "default_test_command",
    "is_test_path",
    "isolation_level",
    "module_name_for",
    "plan_for",
    "prove",
    "run_tests",
    "strip_ansi",
    "test_config_edits",
    "validate_worktree",
    "validation_status",
]

_TEST_CONFIG_NAMES = frozenset({"conftest.py", "pytest.ini", "tox.ini", "setup.cfg"})


@dataclass(frozen=True)
class ValidationPlan:
    """Everything a validation needs, decided once from the configuration."""

    environment: TargetEnvironment
    sandbox: Sandbox
    command: str
    timeout: float
    step_timeout: float
    allow_test_config_edits: bool = False
    allow_test_edits: bool = False

    def effective_command(self, root: Path) -> str:
        return self.command or default_test_command(root)


@dataclass(frozen=True)
class ValidationResult:
    """The outcome of `validate_worktree`.

    `status`: "passed", "failed" (the fix broke something: `new_failures`, `disappeared`) or "error"
    (the validation could not judge: environment unavailable, sandbox refused, the base does not
    run). `step` names the step that decided ("" when all passed). `passed` is True only for "passed".
    """

    passed: bool
    step: str  # "environment" | "sandbox" | "test-config" | "compile" | "import" | "tests" | ""
    output: str
    duration_seconds: float
    new_failures: tuple[str, ...] = ()
    status: str = ""
    reason: str = ""
    disappeared: tuple[str, ...] = ()
    flaky: tuple[str, ...] = field(default=())
    report: TestReport | None = None  # the fix's own test run, when it happened

    @property
    def is_error(self) -> bool:
        return self.status == "error"


def _sandbox_for(settings: Settings, service: ServiceSettings) -> Sandbox:
    hide = [settings.data_dir]
    if settings.database_url.startswith("sqlite:///"):
        hide.append(Path(settings.database_url.removeprefix("sqlite:///")))
    limits = Limits(
        cpu_seconds=int(service.validation_timeout_seconds) + 60,
        memory_bytes=settings.validation.memory_limit_mb << 20,
        file_bytes=settings.validation.file_size_limit_mb << 20,
        processes=settings.validation.process_limit,
    )
    return Sandbox(
        settings.validation.sandbox,
        tuple(hide),
        dict(service.validation_env),
        limits,
        locale={k: v for k, v in settings.host_env.items() if not k.startswith("PIP_")},
    )


def plan_for(settings: Settings, service: ServiceSettings, root: Path) -> ValidationPlan:
    """The validation of `service` for the tree at `root` (bootstraps its environment if needed)."""
    sandbox = _sandbox_for(settings, service)
    environment = prepare_environment(
        service=service.name,
        python=service.python,
        root=root,
        cache_dir=settings.data_dir / "envs",
        sandbox=sandbox,
        host_env=settings.host_env,
    )
    if environment.available:
        # The interpreter's venv may live in the hidden data dir: bind it back into the sandbox.
        venv = Path(environment.python).parent.parent
        sandbox = replace(sandbox, expose=(venv,))
    return ValidationPlan(
        environment,
        sandbox,
        service.validation_command,
        service.validation_timeout_seconds,
        settings.apply.step_timeout_seconds,
        service.allow_test_config_edits,
        service.allow_test_edits,
    )


def _pytest_section(text: str | None) -> object:
    if text is None:
        return None
    try:
        return tomllib.loads(text).get("tool", {}).get("pytest")
    except tomllib.TOMLDecodeError:
        return "unreadable"


def test_config_edits(
    root: Path, changed_paths: Sequence[str], originals: Mapping[str, str | None] | None
) -> list[str]:
    """The changed paths that edit pytest's configuration (pyproject.toml only if its section changed)."""
    edits = []
    for rel in changed_paths:
        name = PurePosixPath(rel).name
        if name in _TEST_CONFIG_NAMES:
            edits.append(rel)
        elif name == "pyproject.toml":
            after = (root / rel).read_text("utf-8") if (root / rel).is_file() else None
            before = (originals or {}).get(rel, "unknown") if originals is not None else "unknown"
            if before == "unknown" or _pytest_section(before) != _pytest_section(after):
                edits.append(rel)
    return edits


_BASELINES: dict[tuple[str, ...], tuple[TestReport, frozenset[str]]] = {}
_BASELINES_LOCK = threading.Lock()


def baseline_report(
    root: Path, plan: ValidationPlan, *, key: str = "", prepare: Callable[[], None] | None = None
) -> tuple[TestReport, frozenset[str]]:
    """The base's test run and its flaky tests (failures that pass on a rerun), cached by `key`.

    `key` names the base's content (its commit); "" disables the cache. `prepare` puts the tree in
    its base state before the run (called only when the run is not cached).
    """
    command = plan.effective_command(root)
    cache_key = (key, command, plan.environment.python) if key else ()
    if cache_key:
        with _BASELINES_LOCK:
            if cache_key in _BASELINES:
                return _BASELINES[cache_key]
    if prepare is not None:
        prepare()
    base = run_tests(
        root, command=command, timeout=plan.timeout, environment=plan.environment, sandbox=plan.sandbox
    )
    flaky: frozenset[str] = frozenset()
    failures = sorted(base.failures)
    if base.happened and failures and is_pytest(base.command):
        rerun = run_tests(
            root,
            command=command,
            timeout=plan.timeout,
            environment=plan.environment,
            sandbox=plan.sandbox,
            select=failures,
        )
        flaky = frozenset(n for n in failures if rerun.outcomes.get(n) == "passed")
    if cache_key and base.happened:
        with _BASELINES_LOCK:
            _BASELINES[cache_key] = (base, flaky)
    return base, flaky


def validate_worktree(
    root: Path,
    changed_paths: Sequence[str],
    plan: ValidationPlan,
    *,
    baseline: Callable[[], tuple[TestReport, frozenset[str]]] | None = None,
    originals: Mapping[str, str | None] | None = None,
    import_check: ImportCheck | None = None,
) -> ValidationResult:
    """Validate the tree at `root` (already holding the edits) against its base.

    Args:
        root: the working tree.
        changed_paths: repository-relative paths the fix touched.
        plan: environment, sandbox, command and timeouts (`plan_for`).
        baseline: gives the base's test run and its flaky tests (`baseline_report`); called after
            the fix's own run. None: there is no base to compare with, every test must pass.
        originals: the changed files' base contents (None = new file), to tell whether a
            pyproject.toml edit touched pytest's configuration.
        import_check: a compile-and-import process started earlier with the same plan.
    """
    started = time.monotonic()
    outputs: list[str] = []

    def result(status: str, step: str, reason: str, **details: Any) -> ValidationResult:
        if reason:
            outputs.append(reason if status == "passed" else f"=> {status}: {reason}")
        output = strip_ansi("\n".join(outputs))
        return ValidationResult(
            status == "passed",
            step,
            output,
            time.monotonic() - started,
            status=status,
            reason=reason,
            **details,
        )

    if not plan.environment.available:
        return result("error", "environment", plan.environment.error)
    try:
        plan.sandbox.check()
    except SandboxUnavailable as exc:
        return result("error", "sandbox", str(exc))
    outputs.append(f"$ environment: {plan.environment.origin}; sandbox: {plan.sandbox.level()}")

    config_edits = test_config_edits(root, changed_paths, originals)
    if config_edits and not plan.allow_test_config_edits:
        return result(
            "failed",
            "test-config",
            f"the fix edits the test configuration ({', '.join(config_edits)}); "
            "this service does not allow it (allow_test_config_edits)",
        )

    files = [p for p in changed_paths if p.endswith(".py") and (root / p).is_file()]
    modules = sorted({m for p in files if (m := module_name_for(p))})
    if files:
        check = import_check if import_check is not None and import_check.pid is not None else None
        with check or ImportCheck(root, plan.environment, plan.sandbox) as running:
            done = running.run(files, modules, timeout=plan.step_timeout)
        outputs.append(f"$ compile {' '.join(files)}; import {' '.join(modules)}\n{done.output}".rstrip())
        if done.status != 0:
            step = "compile" if done.status == 2 else "import"
            # The traceback's last line names the error ("ImportError: cannot import name …").
            last = next((line for line in reversed(done.output.splitlines()) if line.strip()), "")
            why = done.error or f"{step} failed: {last.strip()[:300]}"
            # A fix whose import hangs failed; a check that could not start says nothing of the fix.
            judged = done.status is not None or done.error.startswith("timed out")
            return result("failed" if judged else "error", step, why)

    command = plan.effective_command(root)
    if not command:
        return result("passed", "", "tests: no test command and no tests found (skipped)")
    fix = run_tests(
        root, command=command, timeout=plan.timeout, environment=plan.environment, sandbox=plan.sandbox
    )
    outputs.append(f"$ {' '.join(fix.command)}\n{fix.output}".rstrip())
    if baseline is None:
        empty = TestReport(fix.command, 0, {}, "", 0.0)
        verdict = compare(empty, fix)
    else:
        base, flaky = baseline()
        verdict = compare(base, fix, flaky=flaky)
    if verdict.base_failures:
        outputs.append(f"(failing on the base too, not counted: {', '.join(verdict.base_failures)})")
    if verdict.flaky:
        outputs.append(f"flaky on the base (failed, then passed on a rerun): {', '.join(verdict.flaky)}")
    step = "" if verdict.passed else "tests"
    return result(
        verdict.status,
        step,
        verdict.reason,
        new_failures=verdict.new_failures,
        disappeared=verdict.disappeared,
        flaky=verdict.flaky,
        report=fix,
    )


def validation_status(settings: Settings) -> tuple[list[str], list[str]]:
    """For `agent status` and `/health`: (lines, problems). Cheap: starts nothing but the probe.

    Lines: `sandbox: <level>` and, per service, where its validation runs. Problems: a strict
    sandbox that cannot isolate here, an interpreter that does not exist, a bootstrap that failed.
    """
    lines = [f"sandbox: {isolation_level(settings.validation.sandbox)}"]
    problems = []
    if settings.validation.sandbox == "strict" and not isolation_level("strict").startswith("namespaces"):
        problems.append(f"validation is refused: {lines[0]}")
    for service in settings.services:
        error = environment_problem(service.python, service.name, settings.data_dir / "envs")
        if error:
            problems.append(f"{service.name}: {error}")
            lines.append(f"{service.name}: {error}")
        elif service.python:
            lines.append(f"{service.name}: validates with {service.python}")
        else:
            lines.append(f"{service.name}: validates in a virtualenv bootstrapped from its dependency files")
    return lines, problems


def is_test_path(rel: str) -> bool:
    """A test module by pytest's default naming, or a `.py` file under a tests/ or test/ folder."""
    path = PurePosixPath(rel)
    if path.suffix != ".py" or path.name == "conftest.py":
        return False
    named = path.name.startswith("test_") or path.name.endswith("_test.py")
    return named or any(part in ("tests", "test") for part in path.parts[:-1])


def prove(
    root: Path,
    plan: ValidationPlan,
    result: ValidationResult,
    *,
    changed_paths: Sequence[str],
    to_base_with_tests: Callable[[], None],
) -> str:
    """The regression-test proof of a fix that passed: "proven: …" or "not proven: <why>".

    The tests of the fix's own test files that pass with the fix are run on the base code (with the
    fix's test files written over it by `to_base_with_tests`); those that fail there reproduce the
    incident. The tree is left in the base-with-tests state: the caller restores it.
    """
    if not plan.allow_test_edits:
        return "not proven: this service does not allow fixes to edit tests (allow_test_edits = false)"
    tests = [p for p in changed_paths if is_test_path(p)]
    if not tests:
        return "not proven: the fix adds or changes no test"
    outcomes = result.report.outcomes if result.report is not None else {}
    candidates = sorted(n for n, o in outcomes.items() if o == "passed" and n.split("::")[0] in tests)
    if not candidates:
        return f"not proven: no test in {', '.join(tests)} passes with the fix"
    to_base_with_tests()
    base = run_tests(
        root,
        command=plan.effective_command(root),
        timeout=plan.timeout,
        environment=plan.environment,
        sandbox=plan.sandbox,
        select=candidates,
    )
    reproducing = [n for n in candidates if base.outcomes.get(n) in ("failed", "error")]
    if reproducing:
        named = ", ".join(f"`{n}`" for n in reproducing[:3])
        return f"proven: {named} fails on the base, passes with the fix"
    if not base.happened:
        return f"not proven: the new test could not run on the base ({base.error})"
    return f"not proven: {', '.join(f'`{n}`' for n in candidates[:3])} passes on the base too"
