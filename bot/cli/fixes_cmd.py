"""`agent fixes list|show|implement|reject|revert|resume|reconcile`.

Thin: each command calls the same services the Slack listeners call and prints their progress.
"""

from __future__ import annotations

import click

from bot.cli.context import CliContext, cli_context
from bot.store.lifecycle import LifecycleError, ProposalStatus, approve
from bot.store.lifecycle import reject as reject_proposal
from bot.store.proposals import get_proposal, list_proposals
from fixes import breaker
from fixes.pipeline import ApplyReport, reconcile_unfinished, run_apply, run_revert


@click.group()
def fixes() -> None:
    """Fix proposals."""


@fixes.command("list")
@click.option("--status", "statuses", multiple=True, help="Only these statuses (repeatable).")
@click.option("--service", default=None, help="Only this service.")
@click.pass_context
def list_(ctx: click.Context, statuses: tuple[str, ...], service: str | None) -> None:
    """List proposals, newest first."""
    context = cli_context(ctx)
    with context.sessions() as session:
        rows = list_proposals(session, statuses=statuses or None, service=service)
        if not rows:
            click.echo("no proposals")
            return
        for p in rows:
            created = p.created_at.strftime("%Y-%m-%d %H:%M")
            click.echo(f"{p.fix_id:<24} {p.status:<13} {p.service:<12} {created}  {p.summary[:60]}")


@fixes.command()
@click.argument("fix_id")
@click.pass_context
def show(ctx: click.Context, fix_id: str) -> None:
    """Show one proposal with its diff."""
    context = cli_context(ctx)
    with context.sessions() as session:
        try:
            p = get_proposal(session, fix_id)
        except LifecycleError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"{p.fix_id}  [{p.status}]  service={p.service}  severity={p.severity}")
        for label, value in (
            ("summary", p.summary),
            ("root cause", p.root_cause),
            ("risk", p.risk),
            ("validation", f"{p.validation_status}"),
            ("approver", p.approver),
            ("commit", p.commit_sha),
            ("failure", f"{p.failed_step}: {p.failure_reason}" if p.failed_step else ""),
        ):
            if value:
                click.echo(f"{label}: {value}")
        if p.diff:
            click.echo("")
            click.echo(p.diff.rstrip("\n"))


# --- implement / reject / revert / resume / reconcile: the same services Slack calls -----------------


def _actor(context: CliContext, service_name: str, user: str | None) -> str:
    """`user` when it may approve fixes of the service; "cli" (an operator with shell access) when omitted."""
    if user is None:
        return "cli"
    users, _groups = context.settings.approvers_for(context.settings.service(service_name))
    if users and user not in users:
        raise click.ClickException(
            f"{user} is not an approver of {service_name} (approvers: {', '.join(sorted(users))}); "
            "pass --as with one of them"
        )
    return user


def _finish(report: ApplyReport) -> None:
    if report.output and not report.ok:
        click.echo(report.output.rstrip("\n"), err=True)
    if not report.ok:
        step = f" at {report.failed_step}" if report.failed_step else ""
        raise click.ClickException(f"{report.fix_id} not done{step}: {report.message}")


@fixes.command()
@click.argument("fix_id")
@click.option("--as", "user", default=None, help="Approver's Slack user id (default: the CLI operator).")
@click.option(
    "--option", "option", default=1, show_default=True, help="Which option of the proposal to apply."
)
@click.pass_context
def implement(ctx: click.Context, fix_id: str, user: str | None, option: int) -> None:
    """Approve FIX_ID (the diff `show` prints) and apply it: backup, apply, validate, commit, push."""
    context = cli_context(ctx)
    try:
        with context.sessions.begin() as session:
            proposal = get_proposal(session, fix_id)
            actor = _actor(context, proposal.service, user)
            chosen = proposal.option(option)
            result = approve(session, fix_id, actor=actor, option=option, content_hash=chosen["content_hash"])
    except (LifecycleError, KeyError, IndexError) as exc:
        raise click.ClickException(str(exc).strip('"')) from None
    click.echo(result.message)
    if not result.changed and result.status != ProposalStatus.APPROVED:
        raise click.ClickException(result.message)
    _finish(run_apply(context.settings, context.sessions, fix_id, progress=click.echo))


@fixes.command()
@click.argument("fix_id")
@click.option("--reason", default="", help="Why (kept with the proposal).")
@click.option("--as", "user", default=None, help="Who rejects (default: the CLI operator).")
@click.pass_context
def reject(ctx: click.Context, fix_id: str, reason: str, user: str | None) -> None:
    """Reject FIX_ID (a proposed or failed fix)."""
    context = cli_context(ctx)
    try:
        with context.sessions.begin() as session:
            result = reject_proposal(session, fix_id, actor=user or "cli", reason=reason)
    except LifecycleError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(result.message)


@fixes.command()
@click.argument("fix_id")
@click.option("--as", "user", default=None, help="Approver's Slack user id (default: the CLI operator).")
@click.pass_context
def revert(ctx: click.Context, fix_id: str, user: str | None) -> None:
    """Revert the pushed commit of FIX_ID: git revert, validate, push."""
    context = cli_context(ctx)
    try:
        with context.sessions() as session:
            actor = _actor(context, get_proposal(session, fix_id).service, user)
    except (LifecycleError, KeyError) as exc:
        raise click.ClickException(str(exc).strip('"')) from None
    _finish(run_revert(context.settings, context.sessions, fix_id, actor=actor, progress=click.echo))


@fixes.command()
@click.option("--service", default=None, help="Only this service (default: all).")
@click.option("--as", "user", default=None, help="Approver's Slack user id (default: the CLI operator).")
@click.pass_context
def resume(ctx: click.Context, service: str | None, user: str | None) -> None:
    """Lift the circuit breaker that paused applies after repeated failures."""
    context = cli_context(ctx)
    threshold = context.settings.apply.breaker_threshold
    try:
        actor = _actor(context, service, user) if service else (user or "cli")
    except KeyError as exc:
        raise click.ClickException(str(exc).strip('"')) from None
    with context.sessions.begin() as session:
        statuses = breaker.resume(session, actor=actor, threshold=threshold, service=service)
    click.echo("\n".join(s.message for s in statuses) or "no breaker state yet: applies are running")


@fixes.command()
@click.pass_context
def reconcile(ctx: click.Context) -> None:
    """Settle applies a killed process left unfinished (also done at startup)."""
    context = cli_context(ctx)
    reports = reconcile_unfinished(context.settings, context.sessions, progress=click.echo)
    click.echo(f"{len(reports)} unfinished apply(s) settled")
