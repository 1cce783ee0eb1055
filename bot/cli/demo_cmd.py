"""`agent demo`: the offline end-to-end demo (the README's first quick start command)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data/demo"),
    show_default=True,
    help="Where the sample service, its remote and the demo's database go (recreated each run).",
)
def demo(workdir: Path) -> None:
    """Run the whole loop offline: logs → incidents → DSPy (scripted model) → approval → deploy."""
    from rich.console import Console

    from bot.demo.run import DemoFailed, run_demo

    console = Console(highlight=False)
    try:
        run_demo(workdir.resolve(), console=console)
    except DemoFailed as exc:
        console.print(f"[bold red]demo failed:[/] {exc}")
        raise click.exceptions.Exit(1) from None
