"""`agent config check`."""

from __future__ import annotations

import json

import click

from bot.cli.context import cli_context


@click.group()
def config() -> None:
    """Configuration."""


@config.command()
@click.option("--offline", is_flag=True, help="Only validate; do not try the repositories and log sources.")
@click.pass_context
def check(ctx: click.Context, offline: bool) -> None:
    """Validate the configuration, print it with secrets masked, and try what it points at.

    Exits 1 when a repository, log source or validation command cannot be reached.
    """
    import httpx

    from bot.preflight import reach, warnings

    context = cli_context(ctx)
    click.echo(json.dumps(context.settings.effective(), indent=2, default=str))
    for warning in warnings(context.settings):
        click.echo(f"warning: {warning}", err=True)
    if offline:
        click.echo("configuration OK (not checked: repositories, log sources)", err=True)
        return
    with httpx.Client(timeout=15.0) as http:
        findings = reach(context.settings, http)
    for finding in findings:
        click.echo(finding.line(), err=True)
    if any(not finding.ok for finding in findings):
        raise click.ClickException("some of what the configuration points at cannot be reached (FAIL above)")
    click.echo("configuration OK", err=True)
