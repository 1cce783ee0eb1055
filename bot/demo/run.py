"""`agent demo`: the whole loop, offline, on a real sample service — with a scripted model.

What is real: the sample service's code, bug and tests; the logs it writes; the scanner; DSPy's LM
client and signatures; pre-validation; the terminal chat (same parser and Operations as Slack); the
apply pipeline (git clone, backup, validation running the tests, commit with trailers, push to a bare
remote, rollback); the deploy watcher (against a local Railway stand-in); verification.
What is simulated: the model (a local OpenAI-compatible server answering with text written in
advance) and Railway (a local GraphQL server that "deploys" every commit pushed to the remote).

Three acts: a fix is implemented, deployed and verified; a proposal is rejected; a fix whose
validation fails is rolled back, leaving the remote untouched.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from textwrap import shorten
from typing import TextIO, cast

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.demo.sample_service import SampleService, create_sample_service, produce_logs, pull_latest
from bot.demo.script import sample_shop_script
from bot.demo.scripted_lm import ScriptedLMServer
from bot.demo.simulated_railway import SimulatedRailway
from bot.jobs import scan_and_propose
from bot.runtime import Runtime, build_runtime
from bot.terminal_chat import TerminalChat
from core.settings import Settings, load_settings, prefer_offline_libraries
from core.store.models import Proposal
from core.store.proposals import list_proposals

__all__ = ["DemoFailed", "run_demo"]

APPROVER = "U0DEMOOPS"
_MARKER = ".fixbot-demo"
_DEPLOY_STATUSES = ("QUEUED", "BUILDING", "DEPLOYING", "SUCCESS")
_VERIFY_WINDOW_SECONDS = 3


class DemoFailed(Exception):
    """An act of the demo did not end the way the product promises (the message says which)."""


@dataclass
class _World:
    sample: SampleService
    runtime: Runtime
    chat: TerminalChat
    console: Console
    interactive: bool
    stdin: TextIO


def run_demo(workdir: Path, *, console: Console, stdin: TextIO = sys.stdin) -> None:
    """Run the three acts in `workdir` (recreated). Raises DemoFailed when an act goes wrong."""
    prefer_offline_libraries()
    interactive = stdin.isatty()
    _fresh(workdir)
    console.print(
        Panel.fit(
            "[bold]fixbot offline demo[/] — no tokens, no network.\n"
            "The model is [bold yellow]SCRIPTED[/]: a local server answering DSPy with text "
            "written in advance.\n"
            "Railway is [bold yellow]SIMULATED[/]: a local GraphQL server that deploys every push.\n"
            "Everything else is the real product.",
            border_style="cyan",
        )
    )
    if not interactive:
        console.print("[dim]stdin is not a terminal: the demo plays the human's part itself.[/]")

    _step(console, 1, "A sample service with a real bug and real tests")
    sample = create_sample_service(workdir / "shop")
    console.print(f"  service checkout {sample.workdir}\n  bare remote      {sample.remote}")
    console.print("  bug: shop/pricing.py raises KeyError for stale coupon codes → checkout answers 500")

    _step(console, 2, "Running the service to produce real logs")
    produce_logs(sample, runs=2)
    lines = sample.log_path.read_text(encoding="utf-8").count("\n")
    console.print(f"  {lines} log lines in {sample.log_path}")

    with (
        ScriptedLMServer(sample_shop_script(), model="scripted-demo") as model,
        SimulatedRailway() as railway,
    ):
        settings = _settings(workdir, sample, model, railway)
        runtime = build_runtime(settings, terminal=True, out=cast(TextIO, _ConsoleStream(console)))
        runtime.jobs.sleep = lambda seconds: time.sleep(min(seconds, 0.2))
        try:
            runtime.start(scheduled=False)
            with _auto_deploy(railway, sample):
                world = _World(
                    sample,
                    runtime,
                    TerminalChat(runtime.operations, cast(TextIO, _ConsoleStream(console)), user=APPROVER),
                    console,
                    interactive,
                    stdin,
                )
                _acts(world)
        finally:
            runtime.stop(wait=True)


def _acts(world: _World) -> None:
    console, runtime = world.console, world.runtime
    _step(console, 3, "The scheduled scan finds the anomalies; DSPy explains them and proposes fixes")
    with _spinner(console, "scanning logs, analysing, generating and pre-validating fixes") as say:
        scan_and_propose(runtime.jobs, "shop", say)
    runtime.notifier.new_proposals()  # the terminal chat shows each new proposal, as Slack would
    proposals = _proposals(runtime)
    coupon = _find(proposals, "pricing.py", "the stale-coupon fix")
    truncation = _find(proposals, "reviews.py", "the truncation fix")
    slow = _find(proposals, "inventory.py", "the slow-query fix")

    _step(console, 4, f"Act 1 — implement {coupon.fix_id}: apply, validate, commit, push, deploy, verify")
    before = _remote_head(world.sample)
    _human(world, f"@Agent implement {coupon.fix_id}", coupon.fix_id, done={"pushed", "deployed", "verified"})
    pushed = _wait_status(runtime, coupon.fix_id, {"deployed", "deploy_failed", "pushed"}, settled=True)
    if pushed.status != "deployed":
        raise DemoFailed(
            f"{coupon.fix_id} ended {pushed.status} after the deploy watch: {pushed.failure_reason}"
        )
    _show_remote(world, before)
    console.print("  [dim]the deploy runs the new code: the service handles another batch of requests[/]")
    pull_latest(world.sample)
    produce_logs(world.sample, runs=1, first_run=2)
    scan_and_propose(runtime.jobs, "shop", lambda line: None)
    _countdown(console, _VERIFY_WINDOW_SECONDS, "watching the incident's fingerprint (verification window)")
    runtime.housekeeping()
    verified = _wait_status(runtime, coupon.fix_id, {"verified", "unresolved"})
    if verified.status != "verified":
        raise DemoFailed(f"{coupon.fix_id} was not verified: it is {verified.status}")

    _step(console, 5, f"Act 2 — reject {truncation.fix_id}")
    _human(
        world,
        f"@Agent reject {truncation.fix_id} summaries are meant to be short; we will trim the prompt",
        truncation.fix_id,
        done={"rejected"},
    )

    _step(
        console, 6, f"Act 3 — implement {slow.fix_id}, which failed pre-validation: the pipeline refuses it"
    )
    head_before = _remote_head(world.sample)
    _human(world, f"@Agent implement {slow.fix_id}", slow.fix_id, done={"failed", "pushed"})
    failed = _wait_status(runtime, slow.fix_id, {"failed", "pushed"})
    if failed.status != "failed" or _remote_head(world.sample) != head_before:
        raise DemoFailed(f"{slow.fix_id} should have failed validation and left the remote alone")
    clone = runtime.settings.data_dir / "worktrees" / "shop"
    dirty = _git(clone, "status", "--porcelain") if clone.exists() else ""
    console.print(
        f"  failed at [bold]{failed.failed_step}[/]: {failed.failure_reason}\n"
        f"  remote main still at {head_before[:10]} (unchanged); "
        f"bot's working copy {'clean' if not dirty.strip() else 'DIRTY: ' + dirty}"
    )
    if dirty.strip():
        raise DemoFailed("the working copy was not restored after the failed apply")

    _summary(world)


def _settings(
    workdir: Path, sample: SampleService, model: ScriptedLMServer, railway: SimulatedRailway
) -> Settings:
    target = railway.target()
    config = workdir / "agent.toml"
    config.write_text(
        f"""# Written by `agent demo`. The model and Railway are local stand-ins (scripted / simulated).
data_dir = "data"

[llm]
model = "openai/scripted-demo"
api_base = "{model.api_base}"
max_attempts = 2
post_failed_validation = true

[apply]
deploy_poll_seconds = "0.2s"
deploy_timeout_seconds = "60s"
verify_window_seconds = "{_VERIFY_WINDOW_SECONDS}s"

[[services]]
name = "shop"
source = "file:{sample.log_path}"
log_format = "<Date> <Time> <Level> <Component>: <Content>"
repo = "{sample.remote}"
branch = "{sample.branch}"
approvers = ["{APPROVER}"]
validation_command = "{sample.validation_command}"
python = "{sample.interpreter}"
allow_test_edits = true   # fixes come with a regression test: "proven" when it fails before the fix

[services.thresholds]
slow_templates = {{ "slow query" = 2000 }}   # the stock query's explicit limit (ms)

[services.railway]
endpoint = "{target.endpoint}"
project_id = "{target.project_id}"
environment_id = "{target.environment_id}"
service_id = "{target.service_id}"
""",
        encoding="utf-8",
    )
    token = railway.secrets().railway_token
    environ = {"LLM_API_KEY": "scripted", "RAILWAY_TOKEN": token.get_secret_value() if token else ""}
    return load_settings(config, environ=environ)


def _human(world: _World, default: str, fix_id: str, *, done: set[str]) -> None:
    """The human's turn: typed at a terminal, or played by the demo; repeats until `fix_id` moved."""
    for _ in range(10):
        line = default
        if world.interactive:
            world.console.print(
                f"[bold green]your turn[/] — press Enter for [bold]{default}[/] or type a command:"
            )
            typed = world.stdin.readline().strip()
            line = typed or default
        else:
            world.console.print(f"[bold green]human>[/] {line}")
        world.console.print(world.chat.handle_line(line))
        world.runtime.operations.wait_idle(300)
        if _status(world.runtime, fix_id) in done:
            return
    raise DemoFailed(f"{fix_id} did not reach {sorted(done)}")


def _proposals(runtime: Runtime) -> list[Proposal]:
    with runtime.sessions() as session:
        return list_proposals(session, service="shop")


def _find(proposals: list[Proposal], path: str, what: str) -> Proposal:
    for proposal in proposals:
        if f"b/shop/{path}" in proposal.diff:
            return proposal
    listed = ", ".join(f"{p.fix_id} ({p.origin}, {p.validation_status})" for p in proposals) or "none"
    raise DemoFailed(f"the scan did not produce {what}; proposals: {listed}")


def _status(runtime: Runtime, fix_id: str) -> str:
    with runtime.sessions() as session:
        return next(
            p.status for p in list_proposals(session, service="shop", limit=200) if p.fix_id == fix_id
        )


def _wait_status(runtime: Runtime, fix_id: str, wanted: set[str], *, settled: bool = False) -> Proposal:
    """Wait (bounded) until `fix_id` is in one of `wanted`; with `settled`, also past `pushed`."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with runtime.sessions() as session:
            proposal = next(p for p in list_proposals(session, limit=200) if p.fix_id == fix_id)
        if proposal.status in wanted and not (settled and proposal.status == "pushed"):
            return proposal
        time.sleep(0.1)  # the deploy watch runs on its own thread; this polls its recorded outcome
    raise DemoFailed(f"{fix_id} did not reach {sorted(wanted)} within 90 s")


def _remote_head(sample: SampleService) -> str:
    return _git(sample.remote, "rev-parse", sample.branch).strip()


def _git(where: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, check=True, timeout=60)
    return done.stdout


def _show_remote(world: _World, before: str) -> None:
    log = _git(world.sample.remote, "log", "-1", "--format=%H%n%an <%ae>%n%B", world.sample.branch)
    sha, author, *message = log.strip().splitlines()
    world.console.print(
        Panel(
            f"[bold]{sha[:12]}[/] by {escape(author)} (was {before[:12]})\n\n" + escape("\n".join(message)),
            title="new commit on the remote's main",
            border_style="green",
        )
    )


def _summary(world: _World) -> None:
    table = Table(title="what happened")
    for column in ("fix id", "status", "origin", "validation", "what"):
        table.add_column(column)
    for proposal in _proposals(world.runtime):
        table.add_row(
            proposal.fix_id,
            proposal.status,
            proposal.origin,
            proposal.validation_status,
            shorten(proposal.summary, 60, placeholder="…"),
        )
    world.console.print(table)
    world.console.print(
        "[bold green]demo finished[/]: one fix deployed and verified, one rejected, one refused and rolled "
        f"back. Everything is in {world.runtime.settings.data_dir.parent}; try `agent --config "
        f"{world.runtime.settings.config_path} fixes list`."
    )


@contextmanager
def _auto_deploy(railway: SimulatedRailway, sample: SampleService) -> Iterator[None]:
    """Like Railway's auto-deploy: every new head pushed to the remote's branch starts a deployment."""
    stop = threading.Event()
    seen = {_remote_head(sample)}

    def watch() -> None:
        while not stop.wait(0.1):
            head = _remote_head(sample)
            if head not in seen:
                seen.add(head)
                railway.deploy(head, _DEPLOY_STATUSES)

    thread = threading.Thread(target=watch, name="demo-auto-deploy", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def _fresh(workdir: Path) -> None:
    if workdir.exists():
        if not (workdir / _MARKER).exists():
            raise DemoFailed(f"{workdir} exists and was not made by `agent demo`; pass another --workdir")
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    (workdir / _MARKER).write_text("made by agent demo; recreated on every run\n", encoding="utf-8")


def _step(console: Console, number: int, title: str) -> None:
    console.rule(f"[bold cyan]{number}. {title}")


@contextmanager
def _spinner(console: Console, text: str) -> Iterator[Callable[[str], None]]:
    with console.status(f"[cyan]{text}…") as status:
        yield lambda line: status.update(f"[cyan]{text}…[/] {line}")


def _countdown(console: Console, seconds: int, text: str) -> None:
    with Progress(
        TextColumn("  {task.description}"), BarColumn(), TimeElapsedColumn(), console=console, transient=True
    ) as progress:
        task = progress.add_task(text, total=seconds * 10)
        for _ in range(seconds * 10 + 2):
            time.sleep(0.1)  # the verification window is real time: this is the demo waiting it out
            progress.advance(task)
    console.print(f"  {text}: {seconds} s passed")


class _ConsoleStream:
    """A text stream that prints through rich (so chat lines and progress share one console)."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._console.print(text, end="", markup=False, highlight=False)
        return len(text)

    def flush(self) -> None:
        """Nothing buffered."""
