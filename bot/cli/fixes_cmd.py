"""`agent fixes list|show|implement|reject|revert|resume|reconcile`.

Thin: each command calls the same services the Slack listeners call and prints their progress.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from bot import commands as cmd
from bot.cli.context import CliContext, cli_context
from bot.operations import Operations
from bot.render.states import state_label
from bot.render.text import render_reply, timeline_lines
from bot.render.views import Reply
from core.store.lifecycle import LifecycleError
from core.store.proposals import audit_trail, get_proposal, list_proposals
from fixes.apply import reconcile_unfinished


@click.group()
def fixes() -> None:
    """Fix proposals."""


@fixes.command("list")
@click.option("--status", "statuses", multiple=True, help="Only these statuses (repeatable).")
@click.option("--service", default=None, help="Only this service.")
@click.pass_context
def list_(ctx: click.Context, statuses: tuple[str, ...], service: str | None) -> None:
    """List proposals, newest first."""
    context = cli_context(ctx)
    with context.sessions() as session:
        rows = list_proposals(session, statuses=statuses or None, service=service)
        if not rows:
            click.echo("no proposals")
            return
        for p in rows:
            created = p.created_at.strftime("%Y-%m-%d %H:%M")
            state = state_label(p.status, has_fix=bool(p.diff), deploy_status=p.deploy_status)
            click.echo(f"{p.fix_id:<24} {state:<13} {p.service:<12} {created}  {p.summary[:60]}")


@fixes.command()
@click.argument("fix_id")
@click.pass_context
def show(ctx: click.Context, fix_id: str) -> None:
    """Show one proposal with its diff."""
    context = cli_context(ctx)
    with context.sessions() as session:
        try:
            p = get_proposal(session, fix_id)
        except LifecycleError as exc:
            raise click.ClickException(str(exc)) from None
        state = state_label(p.status, has_fix=bool(p.diff), deploy_status=p.deploy_status)
        click.echo(f"{p.fix_id}  [{state}]  service={p.service}  severity={p.severity}")
        for label, value in (
            ("summary", p.summary),
            ("root cause", p.root_cause),
            ("risk", p.risk),
            ("validation", f"{p.validation_status}"),
            ("approver", p.approver),
            ("commit", p.commit_sha),
            ("failure", f"{p.failed_step}: {p.failure_reason}" if p.failed_step else ""),
        ):
            if value:
                click.echo(f"{label}: {value}")
        trail = timeline_lines(audit_trail(session, fix_id))
        if trail:
            click.echo("")
            click.echo("timeline:")
            for line in trail:
                click.echo(f"  {line}")
        if p.diff:
            click.echo("")
            click.echo(p.diff.rstrip("\n"))


# --- implement / reject / revert / resume: the same Operations Slack calls ---------------------------

_OPERATOR = "cli"  # the shell operator: trusted (it holds the database and the deploy key), audited


@contextmanager
def _operations(context: CliContext) -> Iterator[Operations]:
    """Operations on a terminal runtime; the running bot (`agent run`) follows deploys."""
    from bot.runtime import build_runtime

    runtime = build_runtime(
        context.settings,
        engine=context.engine,
        terminal=True,
        trusted_actors=frozenset({_OPERATOR}),
        watch_deploys=False,
    )
    try:
        yield runtime.operations
        runtime.operations.wait_idle()
    finally:
        runtime.stop(wait=True)


def _say(reply: Reply) -> None:
    click.echo(render_reply(reply))
    if not reply.ok:
        raise click.exceptions.Exit(1)


def _settled(context: CliContext, fix_id: str, good: set[str]) -> None:
    with context.sessions() as session:
        proposal = get_proposal(session, fix_id)
    if proposal.status not in good:
        why = f" at {proposal.failed_step}: {proposal.failure_reason}" if proposal.failed_step else ""
        raise click.ClickException(f"{fix_id} is {proposal.status}{why}")


_AS_HELP = "Approver's Slack user id (default: the shell operator, recorded as `cli`)."


@fixes.command()
@click.argument("fix_id")
@click.option("--as", "user", default=None, help=_AS_HELP)
@click.option("--option", default=1, show_default=True, help="Which option of the proposal to apply.")
@click.pass_context
def implement(ctx: click.Context, fix_id: str, user: str | None, option: int) -> None:
    """Approve FIX_ID (the diff `show` prints) and apply it: backup, apply, validate, commit, push."""
    context = cli_context(ctx)
    with _operations(context) as operations:
        _say(operations.handle(cmd.Implement(fix_id, option), user or _OPERATOR))
    # pr_open: pull-request delivery opened the PR (`agent fixes merge` or GitHub merges it).
    _settled(context, fix_id, {"pushed", "deployed", "verified", "pr_open"})


@fixes.command()
@click.argument("fix_id")
@click.option("--reason", default="", help="Why (kept with the proposal).")
@click.option("--as", "user", default=None, help=_AS_HELP)
@click.pass_context
def reject(ctx: click.Context, fix_id: str, reason: str, user: str | None) -> None:
    """Reject FIX_ID (a proposed or failed fix)."""
    context = cli_context(ctx)
    with _operations(context) as operations:
        _say(operations.handle(cmd.Reject(fix_id, reason), user or _OPERATOR))


@fixes.command()
@click.argument("fix_id")
@click.option("--as", "user", default=None, help=_AS_HELP)
@click.pass_context
def revert(ctx: click.Context, fix_id: str, user: str | None) -> None:
    """Revert the pushed commit of FIX_ID: git revert, validate, push."""
    context = cli_context(ctx)
    with _operations(context) as operations:
        _say(operations.handle(cmd.Revert(fix_id), user or _OPERATOR))
    _settled(context, fix_id, {"reverted", "revert_pr_open"})


@fixes.command()
@click.argument("fix_id")
@click.option("--as", "user", default=None, help=_AS_HELP)
@click.pass_context
def merge(ctx: click.Context, fix_id: str, user: str | None) -> None:
    """Merge the pull request of FIX_ID (pull-request delivery) at the head the bot validated."""
    context = cli_context(ctx)
    with _operations(context) as operations:
        _say(operations.handle(cmd.Merge(fix_id), user or _OPERATOR))
    _settled(context, fix_id, {"pushed", "reverted"})


@fixes.command()
@click.option("--as", "user", default=None, help=_AS_HELP)
@click.pass_context
def resume(ctx: click.Context, user: str | None) -> None:
    """Lift the circuit breaker that paused applies after repeated failures."""
    context = cli_context(ctx)
    with _operations(context) as operations:
        _say(operations.handle(cmd.Resume(None), user or _OPERATOR))


@fixes.command()
@click.pass_context
def reconcile(ctx: click.Context) -> None:
    """Settle applies a killed process left unfinished (also done at startup)."""
    context = cli_context(ctx)
    reports = reconcile_unfinished(context.settings, context.sessions, progress=click.echo)
    click.echo(f"{len(reports)} unfinished apply(s) settled")
