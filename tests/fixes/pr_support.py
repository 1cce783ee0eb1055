"""Settings for pull-request delivery against the fake GitHub (importable by the crash child too)."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from core.settings import PullRequestSettings, Secrets, Settings
from tests.fixes.sample import make_settings

__all__ = ["TOKEN", "pr_settings"]

TOKEN = "ghp-test-token"


def pr_settings(data_dir: Path, remote: str, api_url: str, **pull_request: object) -> Settings:
    """The sample service in `delivery = "pull_request"` mode against `api_url` (repository acme/sample)."""
    base = make_settings(data_dir, remote)
    config = PullRequestSettings(api_url=api_url, repository="acme/sample", **pull_request)  # type: ignore[arg-type]
    service = base.services[0].model_copy(update={"delivery": "pull_request", "pull_request": config})
    return Settings(
        config_path=None,
        data_dir=data_dir,
        apply=base.apply,
        services=(service,),
        secrets=Secrets(git_token=SecretStr(TOKEN)),
    )
