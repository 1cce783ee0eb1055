"""The `agent` command line. Each command group lives in its own module and is registered here."""

from __future__ import annotations

from importlib import import_module

import click

__all__ = ["main"]

# name -> (module, attribute, one-line help). Commands are imported only when run or asked for help:
# `agent scan --help` must not pay for SQLAlchemy, DSPy or the apply pipeline (start-up under a second).
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
        "What needs attention: breaker, log sources, proposals, approvers.",
    ),
    "chat": ("bot.cli.status_cmd", "chat", "Talk to the bot as in Slack; `quit` to leave."),
}


class _LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *_COMMANDS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in _COMMANDS:
            return super().get_command(ctx, cmd_name)
        module, attribute, _ = _COMMANDS[cmd_name]
        command: click.Command = getattr(import_module(module), attribute)
        self.add_command(command, cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, _, help_) in _COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
