"""Configuration: embedded defaults, file values, and an error message per bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import ConfigError, load_settings, parse_duration

GOOD = """
scan_interval_seconds = "2m"
[llm]
model = "openai/gpt-4o-mini"
[[services]]
name = "api"
source = "file:logs/app.log"
repo = "https://github.com/acme/api.git"
branch = "main"
approvers = ["U0123ALICE"]
[services.thresholds]
error_repeat = 4
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def test_embedded_defaults_run_without_a_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no file and no variables: SQLite in ./data, a sample service, Slack and LLM off."""
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert tmp_path / "data" == settings.data_dir
    assert f"sqlite:///{tmp_path / 'data' / 'agent.db'}" == settings.database_url
    assert ["sample"] == [s.name for s in settings.services]
    assert (False, False) == (settings.slack_enabled, settings.llm_enabled)


def test_file_values_are_read_and_relative_paths_resolved(tmp_path: Path) -> None:
    """Values from the file reach the frozen settings; a file source is resolved next to the file."""
    settings = load_settings(_write(tmp_path, GOOD), environ={})
    service = settings.service("api")
    assert 120.0 == settings.scan_interval_seconds
    assert 4 == service.thresholds.error_repeat
    assert f"file:{tmp_path / 'logs' / 'app.log'}" == service.source
    assert "https://github.com/acme/api.git" == service.repo
    assert "openai/gpt-4o-mini" == settings.llm.model


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        (GOOD.replace('source = "file:logs/app.log"', 'source = "ftp:x"'), "services[0].source", "file:PATH"),
        (GOOD.replace('name = "api"\n', ""), "services[0].name", "missing required key"),
        (
            GOOD.replace("error_repeat = 4", "error_repeat = 0"),
            "services[0].thresholds.error_repeat",
            "greater than or equal to 1",
        ),
        (
            GOOD.replace('approvers = ["U0123ALICE"]', 'approvers = ["alice"]'),
            "services[0].approvers",
            "user id",
        ),
        (
            GOOD.replace('scan_interval_seconds = "2m"', 'scan_interval_seconds = "soon"'),
            "scan_interval_seconds",
            "duration",
        ),
        (GOOD + "\n[slack]\napprover = []\n", "slack.approver", "unknown key"),
        (GOOD.replace("[llm]", "[llm]\ntemperature = 9"), "llm.temperature", "less than or equal to 2"),
        (GOOD + GOOD.split("[[services]]", 1)[1].join(["[[services]]", ""]), "services", "unique"),
    ],
    ids=["source", "missing-name", "threshold", "approver", "duration", "typo", "temperature", "duplicate"],
)
def test_each_invalid_key_is_named_with_origin_and_example(
    tmp_path: Path, text: str, key: str, fragment: str
) -> None:
    """The message names the bad key, the file it came from, and what is wrong."""
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    message = str(caught.value)
    assert key in message
    assert str(path) in message
    assert fragment in message


def test_examples_are_offered_for_invalid_values(tmp_path: Path) -> None:
    """An invalid threshold comes with a valid example line."""
    path = _write(tmp_path, GOOD.replace("error_repeat = 4", 'error_repeat = "many"'))
    with pytest.raises(ConfigError, match=r"Example: error_repeat = 3"):
        load_settings(path, environ={})


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    """A syntax error names the file and the TOML parser's position."""
    path = _write(tmp_path, "[[services]\nname=")
    with pytest.raises(ConfigError, match=r"agent\.toml: not valid TOML"):
        load_settings(path, environ={})


def test_missing_config_file_from_agent_config(tmp_path: Path) -> None:
    """AGENT_CONFIG pointing nowhere fails and names the variable."""
    with pytest.raises(ConfigError, match=r"\(AGENT_CONFIG\) does not exist"):
        load_settings(environ={"AGENT_CONFIG": str(tmp_path / "nope.toml")})


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
        ({"SLACK_SIGNING_SECRET": "abc"}, "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxp-1", "SLACK_SIGNING_SECRET": "s"}, "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xoxb-2"}, "SLACK_APP_TOKEN"),
        ({"DATABASE_URL": "mysql://u:p@h/db"}, "DATABASE_URL"),
        ({"PORT": "http"}, "PORT"),
        ({"PORT": "80\u00b2"}, "PORT"),  # a digit to `str.isdigit`, not to `int`
    ],
)
def test_each_invalid_environment_variable_is_named(environ: dict[str, str], variable: str) -> None:
    """Secrets and variables are validated too, and the message starts with the variable's name."""
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=environ)
    assert str(caught.value).startswith(f"{variable} (environment)")
    assert "Example:" in str(caught.value)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
        ("postgresql://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_hosting_platform_database_urls_are_normalised(given: str, expected: str) -> None:
    """postgres:// and postgresql:// both select the installed psycopg 3 driver."""
    assert expected == load_settings(environ={"DATABASE_URL": given}).database_url


def test_effective_configuration_masks_secrets() -> None:
    """`config check` output shows that secrets are set without showing them."""
    settings = load_settings(
        environ={
            "SLACK_BOT_TOKEN": "xoxb-secret-value",
            "SLACK_SIGNING_SECRET": "shh-signing",
            "DATABASE_URL": "postgresql://bot:hunter2@db:5432/x",
        }
    )
    text = repr(settings.effective())
    assert "secret-value" not in text
    assert "shh-signing" not in text
    assert "hunter2" not in text
    assert "set (xoxb-…17 chars)" == settings.effective()["secrets"]["SLACK_BOT_TOKEN"]


@pytest.mark.parametrize(
    ("given", "seconds"), [(300, 300.0), ("5m", 300.0), ("1.5h", 5400.0), ("250ms", 0.25)]
)
def test_durations(given: str | int, seconds: float) -> None:
    """Durations accept plain seconds and unit suffixes."""
    assert seconds == parse_duration(given)


def test_example_configuration_is_valid() -> None:
    """agent.example.toml, which error messages point to, loads without a single error."""
    example = Path(__file__).resolve().parents[2] / "agent.example.toml"
    settings = load_settings(example, environ={})
    assert "api" == settings.services[0].name
    assert "openai/gpt-4o-mini" == settings.llm.model
