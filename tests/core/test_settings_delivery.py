"""Settings for pull-request delivery: the per-service keys, the token alias and the webhook secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import ConfigError, load_settings

SERVICE = """
[[services]]
name = "api"
source = "file:app.log"
repo = "https://github.com/acme/api.git"
"""


def test_push_is_the_default_and_pull_request_keys_are_read(tmp_path: Path) -> None:
    """No `delivery`: push. `delivery = "pull_request"` with its table: the values as written."""
    config = tmp_path / "agent.toml"
    config.write_text(SERVICE)
    assert "push" == load_settings(config, environ={}).services[0].delivery

    table = '[services.pull_request]\ndraft = true\nlabels = []\npoll_seconds = "2m"\n'
    config.write_text(SERVICE + 'delivery = "pull_request"\n' + table)
    service = load_settings(config, environ={}).services[0]
    assert ("pull_request", True, (), 120.0) == (
        service.delivery,
        service.pull_request.draft,
        service.pull_request.labels,
        service.pull_request.poll_seconds,
    )


def test_an_unknown_delivery_names_the_key(tmp_path: Path) -> None:
    """A typo in `delivery` fails at startup with the key and an example."""
    config = tmp_path / "agent.toml"
    config.write_text(SERVICE + 'delivery = "pr"\n')
    with pytest.raises(ConfigError, match=r"services\[0\]\.delivery"):
        load_settings(config, environ={})


def test_github_token_stands_in_for_git_token_and_the_webhook_secret_is_a_secret(tmp_path: Path) -> None:
    """GITHUB_TOKEN is used when GIT_TOKEN is unset; GIT_TOKEN wins; neither is shown unmasked."""
    config = tmp_path / "agent.toml"
    config.write_text(SERVICE)
    alias = load_settings(config, environ={"GITHUB_TOKEN": "ghp-alias", "GITHUB_WEBHOOK_SECRET": "hook"})
    both = load_settings(config, environ={"GITHUB_TOKEN": "ghp-alias", "GIT_TOKEN": "ghp-main"})

    assert alias.secrets.git_token is not None
    assert "ghp-alias" == alias.secrets.git_token.get_secret_value()
    assert both.secrets.git_token is not None
    assert "ghp-main" == both.secrets.git_token.get_secret_value()
    assert alias.secrets.masked()["GITHUB_WEBHOOK_SECRET"].startswith("set (")
    assert "hook" not in str(alias.effective())
