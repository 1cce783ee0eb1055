"""`agent fixes list|show`."""

from __future__ import annotations

import click

from bot.cli.context import cli_context
from bot.store.lifecycle import LifecycleError
from bot.store.proposals import get_proposal, list_proposals


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
            click.echo(f"{p.fix_id:<24} {p.status:<13} {p.service:<12} {created}  {p.summary[:60]}")


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
        click.echo(f"{p.fix_id}  [{p.status}]  service={p.service}  severity={p.severity}")
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
        if p.diff:
            click.echo("")
            click.echo(p.diff.rstrip("\n"))
