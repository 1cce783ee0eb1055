"""`agent learn`: verified fixes become demonstrations; the compiled program is saved for the bot."""

from __future__ import annotations

import click

from bot.cli.context import cli_context

__all__ = ["learn"]


@click.command()
@click.option("-k", "--demos", "k", default=8, show_default=True, help="Demonstrations to keep.")
@click.option("--limit", default=200, show_default=True, help="Newest verified proposals to read.")
@click.pass_context
def learn(ctx: click.Context, k: int, limit: int) -> None:
    """Compile GenerateFix with verified fixes as demonstrations and save it under data_dir/programs/."""
    from fixes.learning import compile_program, examples_from_proposals, save_program, verified_proposals

    context = cli_context(ctx)
    with context.sessions() as session:
        proposals = verified_proposals(session, limit=limit)
        examples = examples_from_proposals(proposals)
    click.echo(f"{len(proposals)} verified proposal(s), {len(examples)} usable as demonstrations")
    if not examples:
        click.echo(
            "nothing to learn yet: a fix becomes a demonstration once its validation passed and it is "
            "verified in production"
        )
        return
    program = compile_program(examples, k=k)
    path = save_program(program, context.settings.data_dir / "programs")
    click.echo(f"saved {path} ({min(k, len(examples))} demonstration(s)); the bot loads the newest program")
