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
@click.pass_context
def check(ctx: click.Context) -> None:
    """Validate the configuration and print it with secrets masked."""
    context = cli_context(ctx)
    click.echo(json.dumps(context.settings.effective(), indent=2, default=str))
    problems = _pull_request_access(context.settings)
    for problem in problems:
        click.echo(f"pull-request delivery: {problem}", err=True)
    if problems:
        raise SystemExit(1)
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
