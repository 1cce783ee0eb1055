"""`agent config check`."""

from __future__ import annotations

import json

import click

from bot.cli.context import cli_context


@click.group()
def config() -> None:
    """Configuration."""


@config.command()
@click.pass_context
def check(ctx: click.Context) -> None:
    """Validate the configuration and print it with secrets masked."""
    context = cli_context(ctx)
    click.echo(json.dumps(context.settings.effective(), indent=2, default=str))
    click.echo("configuration OK", err=True)
