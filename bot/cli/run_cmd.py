"""`agent run`: the one long-running process (Railway runs only the Procfile's web line)."""

from __future__ import annotations

import click

from bot.cli.context import cli_context


@click.command()
@click.option("--host", default=None, help="Interface to listen on (default: listen_host, 0.0.0.0).")
@click.pass_context
def run(ctx: click.Context, host: str | None) -> None:
    """Migrate, start the scheduler and workers, and serve HTTP on $PORT."""
    from bot.runtime import serve

    settings = cli_context(ctx).settings
    serve(settings, host=host or settings.listen_host)
