"""`agent templates FILE [--log-format FMT] [--out CSV]`: one row per line, Loghub's shape."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import click

from monitoring.headers import HeaderFormatError

__all__ = ["templates"]


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--log-format",
    default="",
    help="Loghub-style header, e.g. '<Date> <Time> <Level> <Component>: <Content>' (default: detected).",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="CSV file.")
def templates(file: Path, log_format: str, out: Path | None) -> None:
    """Write LineId,EventId,EventTemplate for every line of FILE (LineId is 1-based)."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from monitoring.templates_file import read_lines, template_lines

    lines = read_lines(file)
    console = Console(stderr=True)
    handle = out.open("w", newline="", encoding="utf-8") if out else sys.stdout
    try:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        ) as bar:
            task = bar.add_task(f"templating {file.name}", total=None)
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["LineId", "EventId", "EventTemplate"])
            rows = template_lines(
                lines,
                log_format=log_format,
                progress=lambda n: bar.update(task, description=f"templated {n:,} lines of {file.name}"),
            )
            for row in rows:
                writer.writerow([row.line_id, row.event_id, row.template])
    except HeaderFormatError as exc:
        raise click.BadParameter(str(exc), param_hint="--log-format") from None
    finally:
        if out:
            handle.close()
