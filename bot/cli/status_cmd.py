"""`agent status` and `agent chat`: the chat commands, in a terminal."""

from __future__ import annotations

import sys

import click

from bot import commands as cmd
from bot.cli.context import cli_context
from bot.render.text import render_reply


@click.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """What needs attention: breaker, log sources, unposted proposals, approvers."""
    from bot.runtime import build_runtime

    context = cli_context(ctx)
    runtime = build_runtime(context.settings, engine=context.engine, terminal=True, watch_deploys=False)
    try:
        click.echo(render_reply(runtime.operations.handle(cmd.Status(), "cli")))
    finally:
        runtime.stop(wait=True)


@click.command()
@click.option("--as", "user", default="U0LOCALOPS", show_default=True, help="Who you are (a Slack user id).")
@click.pass_context
def chat(ctx: click.Context, user: str) -> None:
    """Talk to the bot as in Slack (`@agent list`, `@agent implement fix_…`); `quit` to leave."""
    from bot.runtime import build_runtime
    from bot.terminal_chat import TerminalChat

    context = cli_context(ctx)
    runtime = build_runtime(context.settings, engine=context.engine, terminal=True)
    runtime.start(scheduled=False)
    try:
        TerminalChat(runtime.operations, sys.stdout, user=user).run_interactive(sys.stdin)
        runtime.operations.wait_idle()
    finally:
        runtime.stop(wait=True)
