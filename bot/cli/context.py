"""What every command needs: the settings (read once) and a database, with errors made readable."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import click
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.settings import ConfigError, Settings, load_settings
from core.store.db import make_engine, make_session_factory

__all__ = ["CliContext", "cli_context"]


@dataclass
class CliContext:
    settings: Settings

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.database_url)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return make_session_factory(self.engine)


def cli_context(ctx: click.Context) -> CliContext:
    """Load settings for this invocation; a configuration error exits 2 with its message."""
    root = ctx.find_root()
    cached = root.meta.get("agent.cli_context")
    if isinstance(cached, CliContext):
        return cached
    try:
        # Only `agent run` serves Slack; the other commands work with just SLACK_BOT_TOKEN set.
        serving = ctx.info_name == "run"
        settings = load_settings((root.obj or {}).get("config_path"), serving=serving)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    context = CliContext(settings)
    root.meta["agent.cli_context"] = context
    return context
