"""`agent db upgrade|current`."""

from __future__ import annotations

import click

from bot.cli.context import cli_context
from core.store.db import current_revision, head_revision, upgrade_database


@click.group()
def db() -> None:
    """Database migrations."""


@db.command()
@click.pass_context
def upgrade(ctx: click.Context) -> None:
    """Migrate the database to the newest schema (under a lock; safe to run concurrently)."""
    context = cli_context(ctx)
    upgrade_database(context.engine)
    click.echo(f"database at revision {current_revision(context.engine)} (head {head_revision()})")


@db.command()
@click.pass_context
def current(ctx: click.Context) -> None:
    """Print the database's schema revision; exit 1 when it is behind the code."""
    context = cli_context(ctx)
    revision, head = current_revision(context.engine), head_revision()
    click.echo(f"database revision: {revision or 'none (never migrated)'}; code head: {head}")
    if revision != head:
        ctx.exit(1)
