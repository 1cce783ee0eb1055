"""`agent run`: the one long-running process (Railway runs only the Procfile's web line)."""

from __future__ import annotations

import click

from bot.cli.context import cli_context


@click.command()
@click.option("--host", default="0.0.0.0", show_default=True, help="Interface to listen on.")  # noqa: S104
@click.pass_context
def run(ctx: click.Context, host: str) -> None:
    """Migrate, start the scheduler and workers, and serve HTTP on $PORT."""
    from bot.runtime import serve

    serve(cli_context(ctx).settings, host=host)
