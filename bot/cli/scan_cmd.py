"""`agent scan`: on-demand scans. `--once` reads a source from its start and stores nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from bot.cli.context import CliContext
    from core.settings import ServiceSettings

__all__ = ["scan"]


@click.command()
@click.option(
    "--source", "spec", default=None, help="A source spec (file:PATH, railway:…, loki:…, phoenix:…, cmd:…)."
)
@click.option("--service", "service_name", default=None, help="A configured service (default: all).")
@click.option("--once", is_flag=True, help="Read from the start, store nothing, post nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print anomalies as a JSON list.")
@click.option("--log-format", default="", help="Loghub-style header format for plain logs.")
@click.pass_context
def scan(
    ctx: click.Context,
    *,
    spec: str | None,
    service_name: str | None,
    once: bool,
    as_json: bool,
    log_format: str,
) -> None:
    """Scan logs for anomalies now (without --once: from the stored cursors, recording incidents)."""
    from rich.console import Console

    from bot.cli.context import cli_context
    from core.settings import UnknownService

    context = cli_context(ctx)
    console = Console(stderr=True)

    def progress(message: str) -> None:
        if console.is_terminal:
            console.print(f"[dim]{message}[/dim]")

    try:
        service = context.settings.service(service_name) if service_name else None
    except UnknownService as exc:
        raise click.BadParameter(str(exc), param_hint="--service") from None
    if spec is not None and not once:
        raise click.UsageError("--source scans are read-only: add --once")
    if once:
        _scan_once(
            context, service=service, spec=spec, log_format=log_format, as_json=as_json, progress=progress
        )
    else:
        _scan_stored(context, service, as_json, progress)


def _scan_once(
    context: CliContext,
    *,
    service: ServiceSettings | None,
    spec: str | None,
    log_format: str,
    as_json: bool,
    progress: Callable[[str], None],
) -> None:
    import gc

    import httpx

    from core.settings import ServiceSettings
    from monitoring.sources import SourceError
    from monitoring.stream import open_service_source, scan_once

    settings = context.settings
    if service is None and spec is None:
        if not settings.services:
            raise click.UsageError("give --source SPEC or configure a service")
        service = settings.services[0]
    if service is None:
        service = ServiceSettings.model_validate({"name": "adhoc", "source": spec, "repo": "."})
    # A scan makes millions of short-lived objects and next to no cycles: collecting as often as a
    # long-running process should was a twentieth of a scan's time. This process ends with the scan.
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    with httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0)) as client:
        try:
            source = open_service_source(settings, service, client, spec)
            anomalies = scan_once(
                source, service.thresholds, log_format=log_format or service.log_format, progress=progress
            )
        except (SourceError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps([a.as_json() for a in anomalies], indent=2))
        return
    for a in anomalies:
        click.echo(f"{a.severity:<8} {a.kind:<14} x{a.count:<5} {a.title[:90]}")
    click.echo(f"{len(anomalies)} anomal{'y' if len(anomalies) == 1 else 'ies'}")


def _scan_stored(
    context: CliContext, service: ServiceSettings | None, as_json: bool, progress: Callable[[str], None]
) -> None:
    from monitoring.scan import run_scan

    settings = context.settings
    reports = []
    for item in [service] if service else list(settings.services):
        report = run_scan(settings, context.sessions, item, progress, force=True)
        reports.append(report)
        if not as_json:
            status = report.error or report.skipped or "ok"
            click.echo(
                f"{item.name}: {report.events} events, {len(report.anomalies)} anomalies, "
                f"{len(report.to_propose)} to propose ({status})"
            )
    if as_json:
        click.echo(json.dumps([a.as_json() for r in reports for a in r.anomalies], indent=2))
    if any(r.error for r in reports):
        raise SystemExit(1)
