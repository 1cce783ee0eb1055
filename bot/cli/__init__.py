"""The `agent` command line. Each command group lives in its own module and is registered here."""

from __future__ import annotations

import click

from bot.cli.config_cmd import config
from bot.cli.db_cmd import db
from bot.cli.demo_cmd import demo
from bot.cli.fixes_cmd import fixes
from bot.cli.learn_cmd import learn
from bot.cli.run_cmd import run
from bot.cli.scan_cmd import scan
from bot.cli.status_cmd import chat, status
from bot.cli.templates_cmd import templates

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file (default: $AGENT_CONFIG, else ./agent.toml, else embedded defaults).",
)
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """Find production errors in logs, propose fixes, apply them after human approval."""
    ctx.obj = {"config_path": config_path}


main.add_command(demo)
main.add_command(run)
main.add_command(db)
main.add_command(config)
main.add_command(fixes)
main.add_command(scan)
main.add_command(templates)
main.add_command(learn)
main.add_command(status)
main.add_command(chat)
