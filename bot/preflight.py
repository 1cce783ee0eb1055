"""`agent config check`: what is configured, what looks wrong, and what can actually be reached.

`warnings(settings)` is pure (things that work but probably are not meant: no model, no
approvers). `reach(settings, http)` tries each service's repository (`git ls-remote`), log source
(one read) and validation environment (its command on PATH) and says, per item, ok or what failed
and what to check. Nothing is cloned, written or posted.
"""

from __future__ import annotations

import shlex
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx

from core.settings import ServiceSettings, Settings

__all__ = ["Finding", "reach", "warnings"]


@dataclass(frozen=True)
class Finding:
    ok: bool
    what: str
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.what}: {self.detail}"


def warnings(settings: Settings) -> list[str]:
    """Configurations that run but are probably not what was meant."""
    found: list[str] = []
    if not settings.llm.model:
        found.append(
            "no model configured (llm.model is empty): incidents are reported, but no fix is proposed. "
            'Set llm.model, e.g. "openai/gpt-4o-mini", and LLM_API_KEY'
        )
    for service in settings.services:
        users, groups = settings.approvers_for(service)
        if not users and not groups:
            found.append(
                f"service {service.name!r} has no approvers: nobody can approve its fixes "
                "(set slack.approvers or the service's approvers to Slack member ids like U0123ALICE)"
            )
    if not settings.slack_enabled:
        found.append("SLACK_BOT_TOKEN is not set: the bot runs with the terminal standing in for Slack")
    return found


def reach(settings: Settings, http: httpx.Client) -> list[Finding]:
    """Try what each service depends on; one finding per item."""
    findings: list[Finding] = []
    for service in settings.services:
        findings.append(_repository(settings, service))
        findings.append(_source(settings, service, http))
        findings.append(_validation(service))
    return findings


def _repository(settings: Settings, service: ServiceSettings) -> Finding:
    from fixes.errors import GitError
    from fixes.git_ops import check_remote_branch, scrub

    what = f"{service.name} repository"
    token = settings.secrets.git_token.get_secret_value() if settings.secrets.git_token else ""
    with tempfile.TemporaryDirectory() as scratch:
        try:
            check_remote_branch(service.repo, service.branch, token=token, askpass_dir=Path(scratch))
        except GitError as exc:
            return Finding(False, what, f"{exc}. Check services.repo, services.branch and GIT_TOKEN")
    return Finding(True, what, f"{scrub(service.repo)} has branch {service.branch!r}")


def _source(settings: Settings, service: ServiceSettings, http: httpx.Client) -> Finding:
    from monitoring.sources import SourceError
    from monitoring.stream import open_service_source

    what = f"{service.name} log source"
    try:
        batch = open_service_source(settings, service, http).read({}, 1)
    except (SourceError, ValueError) as exc:
        return Finding(False, what, f"{service.source}: {exc}")
    return Finding(True, what, f"{service.source} answered ({len(batch.lines)} line(s) read)")


def _validation(service: ServiceSettings) -> Finding:
    what = f"{service.name} validation"
    if not service.validation_command:
        return Finding(True, what, "default: python -m pytest when the repository has tests")
    try:
        program = shlex.split(service.validation_command)[0]
    except (ValueError, IndexError):
        return Finding(False, what, f"cannot parse {service.validation_command!r}")
    if shutil.which(program) is None:
        return Finding(
            False,
            what,
            f"{program!r} is not on PATH here; install it in the bot's image or change validation_command",
        )
    return Finding(True, what, f"{program} found on PATH")
