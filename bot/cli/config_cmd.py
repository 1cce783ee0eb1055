"""`agent config check`."""

from __future__ import annotations

import json

import click
import httpx

from bot.cli.context import cli_context
from core.settings import Settings
from fixes.delivery.errors import DeliveryError
from fixes.delivery.preflight import access_problems
from fixes.delivery.pull_request import github_api


@click.group()
def config() -> None:
    """Configuration."""


@config.command()
@click.option("--offline", is_flag=True, help="Only validate; do not try the repositories and log sources.")
@click.pass_context
def check(ctx: click.Context, offline: bool) -> None:
    """Validate the configuration, print it with secrets masked, and try what it points at.

    Exits 1 when a repository, log source or validation command cannot be reached, or when a
    pull-request service's token lacks a permission GitHub names.
    """
    from bot.preflight import reach, warnings

    context = cli_context(ctx)
    click.echo(json.dumps(context.settings.effective(), indent=2, default=str))
    for warning in warnings(context.settings):
        click.echo(f"warning: {warning}", err=True)
    if offline:
        click.echo("configuration OK (not checked: repositories, log sources)", err=True)
        return
    with httpx.Client(timeout=15.0) as http:
        findings = reach(context.settings, http)
    for finding in findings:
        click.echo(finding.line(), err=True)
    problems = _pull_request_access(context.settings)
    for problem in problems:
        click.echo(f"pull-request delivery: {problem}", err=True)
    if problems:
        raise SystemExit(1)
    if any(not finding.ok for finding in findings):
        raise click.ClickException("some of what the configuration points at cannot be reached (FAIL above)")
    click.echo("configuration OK", err=True)


def _pull_request_access(settings: Settings) -> list[str]:
    """For services with `delivery = "pull_request"`: the token permissions GitHub says are missing."""
    services = [s for s in settings.services if s.delivery == "pull_request"]
    if not services:
        return []
    problems: list[str] = []
    with httpx.Client(timeout=httpx.Timeout(15.0, connect=5.0)) as http:
        for service in services:
            try:
                api = github_api(settings, service, http)
            except DeliveryError as exc:
                problems.append(str(exc))
                continue
            problems += [f"service {service.name}: {p}" for p in access_problems(api, service.branch)]
    return problems
