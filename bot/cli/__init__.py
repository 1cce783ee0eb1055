"""The `agent` command line. Each command group lives in its own module and is imported on use.

Commands are loaded lazily (`_COMMANDS`): `agent --help` and `agent --version` import click and
nothing of the bot, so they answer in a fraction of a second (dspy, SQLAlchemy, alembic and
pydantic together took over two seconds to import). Known failures print one line saying what
failed and what to do (`bot.cli.errors`); `--debug` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

__all__ = ["main"]

# name -> (module, attribute, one-line help shown by `agent --help` without importing the module)
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": (
        "bot.cli.demo_cmd",
        "demo",
        "Run the whole loop offline: logs → incidents → DSPy → approval → deploy.",
    ),
    "run": ("bot.cli.run_cmd", "run", "Migrate, start the scheduler and workers, and serve HTTP on $PORT."),
    "db": ("bot.cli.db_cmd", "db", "Database migrations."),
    "config": ("bot.cli.config_cmd", "config", "Configuration."),
    "fixes": ("bot.cli.fixes_cmd", "fixes", "Fix proposals."),
    "scan": ("bot.cli.scan_cmd", "scan", "Scan logs for anomalies now."),
    "templates": (
        "bot.cli.templates_cmd",
        "templates",
        "Write LineId,EventId,EventTemplate for every line of FILE.",
    ),
    "learn": ("bot.cli.learn_cmd", "learn", "Compile GenerateFix with verified fixes as demonstrations."),
    "status": (
        "bot.cli.status_cmd",
        "status",
        "What needs attention: breaker, log sources, unposted proposals.",
    ),
    "chat": ("bot.cli.status_cmd", "chat", "Talk to the bot as in Slack; `quit` to leave."),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = _COMMANDS.get(cmd_name)
        if entry is None:
            return None
        command = getattr(importlib.import_module(entry[0]), entry[1])
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, entry[2]) for name, entry in _COMMANDS.items()])

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if (ctx.obj or {}).get("debug"):
                raise
            from bot.cli.errors import explain

            message = explain(exc)
            if message is None:
                raise
            click.echo(f"Error: {message}", err=True)
            click.echo("(run with --debug for the traceback)", err=True)
            sys.exit(1)


def _version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        click.echo(f"agent (fixbot) {version('fixbot')}")
    except PackageNotFoundError:
        click.echo("agent (fixbot) unknown version (not installed as a package)")
    ctx.exit()


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file (default: $AGENT_CONFIG, else ./agent.toml, else embedded defaults).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.option(
    "--version", is_flag=True, expose_value=False, is_eager=True, callback=_version, help="Show the version."
)
@click.pass_context
def main(ctx: click.Context, config_path: str | None, debug: bool) -> None:
    """Find production errors in logs, propose fixes, apply them after human approval."""
    ctx.obj = {"config_path": config_path, "debug": debug}
