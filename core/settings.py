"""Configuration: one TOML file for the monitored services, secrets only from the environment.

`load_settings()` is called once, in `main()`; the frozen `Settings` it returns is passed down
explicitly. No other module reads `os.environ` (except `monitoring.native`, which picks compiled or
source code at import, before settings exist: `AGENT_PURE_PYTHON`).

Errors: every problem raises `ConfigError`, whose message names the key, where it came from (the file
or the environment variable) and an example of a valid value.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "ENV_PREFIX",
    "ApplySettings",
    "ConfigError",
    "DetectorThresholds",
    "LLMSettings",
    "LokiTarget",
    "PhoenixTarget",
    "PullRequestSettings",
    "RailwayTarget",
    "Secrets",
    "ServiceSettings",
    "Settings",
    "SlackSettings",
    "load_settings",
    "nearest_key",
    "parse_duration",
    "prefer_offline_libraries",
    "settings_keys",
    "use_bundled_price_map",
]

DEFAULT_CONFIG_NAME = "agent.toml"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


class ConfigError(Exception):
    """The configuration is missing a value or holds an invalid one."""


def parse_duration(value: str | int | float) -> float:
    """Return seconds for `300`, `"300s"`, `"5m"`, `"1.5h"`, `"250ms"`, `"2d"`."""
    if isinstance(value, bool):
        raise ValueError('expected a duration such as 300, "5m" or "1h"')
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f'expected a duration such as 300, "5m" or "1h", got {value!r}')
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError("a duration must be greater than zero")
    return seconds


Duration = Annotated[float, Field(gt=0)]


def _member_ids(value: tuple[str, ...]) -> tuple[str, ...]:
    for user in value:
        if not re.fullmatch(r"[UW][A-Z0-9]{2,}", user):
            raise ValueError(
                f"{user!r} is not a Slack user id; approvers are immutable ids like U0123ALICE "
                "(profile → ⋮ → Copy member ID), not names"
            )
    return value


class UnknownService(LookupError):
    """No service of that name is configured; the message lists the known names."""

    def __init__(self, name: str, known: str) -> None:
        super().__init__(f"no service named {name!r} (known: {known})")
        self.name = name


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    @field_validator("*", mode="before")
    @classmethod
    def _durations(cls, value: Any, info: Any) -> Any:
        # Fields whose name ends with _seconds accept "5m"-style durations too.
        if info.field_name.endswith("_seconds") and isinstance(value, str):
            return parse_duration(value)
        return value


class DetectorThresholds(_Section):
    """When a group of log events becomes an anomaly. All counts are within `window_seconds`."""

    window_seconds: Duration = Field(900, json_schema_extra={"example": '"15m"'})
    error_repeat: int = Field(3, ge=1, json_schema_extra={"example": "3"})
    truncation_repeat: int = Field(2, ge=1, json_schema_extra={"example": "2"})
    # A global "slower than this is slow" for every operation; 0 = off (durations are judged against
    # each operation's own history, and `slow_templates` sets explicit per-template limits).
    slow_ms: float = Field(0, ge=0, json_schema_extra={"example": "0"})
    slow_repeat: int = Field(1, ge=1, json_schema_extra={"example": "1"})
    slow_templates: dict[str, float] = Field(
        default_factory=dict, json_schema_extra={"example": '{ "LLM call" = 30000 }'}
    )
    slow_factor: float = Field(3.0, gt=1, json_schema_extra={"example": "3"})
    slow_recent: int = Field(5, ge=1, json_schema_extra={"example": "5"})
    slow_baseline_count: int = Field(20, ge=1, json_schema_extra={"example": "20"})
    slot_seconds: Duration = Field(60, json_schema_extra={"example": '"1m"'})
    sustain_seconds: Duration = Field(120, json_schema_extra={"example": '"2m"'})
    baseline_seconds: Duration = Field(1800, json_schema_extra={"example": '"30m"'})
    spike_factor: float = Field(10.0, gt=1, json_schema_extra={"example": "10"})
    spike_min_count: int = Field(15, ge=2, json_schema_extra={"example": "15"})
    error_share_factor: float = Field(3.0, gt=1, json_schema_extra={"example": "3"})
    error_share_min_delta: float = Field(0.2, gt=0, le=1, json_schema_extra={"example": "0.2"})
    error_share_min_events: int = Field(20, ge=1, json_schema_extra={"example": "20"})
    new_error_baseline_seconds: Duration = Field(3600, json_schema_extra={"example": '"1h"'})
    new_value_min_events: int = Field(20, ge=1, json_schema_extra={"example": "20"})
    cooldown_seconds: Duration = Field(3600, json_schema_extra={"example": '"1h"'})


class RailwayTarget(_Section):
    """Where a service lives on Railway (ids from the dashboard URL or `railway status`)."""

    project_id: str = Field("", json_schema_extra={"example": '"p-1a2b"'})
    environment_id: str = Field("", json_schema_extra={"example": '"e-3c4d"'})
    service_id: str = Field("", json_schema_extra={"example": '"s-5e6f"'})
    endpoint: str = Field(
        "https://backboard.railway.com/graphql/v2",
        json_schema_extra={"example": '"https://backboard.railway.com/graphql/v2"'},
    )


class PhoenixTarget(_Section):
    """Where a service's LLM traces live in Arize Phoenix (`phoenix:project=NAME` sources)."""

    endpoint: str = Field(
        "http://127.0.0.1:6006", pattern=r"^https?://", json_schema_extra={"example": '"http://phoenix:6006"'}
    )
    # The first read (and a read after a long outage) looks back this far.
    lookback_seconds: Duration = Field(3600, json_schema_extra={"example": '"1h"'})
    # A span is "slower than usual" at slow_factor × its own average latency, and at least
    # slow_min_ms, once min_samples spans of its kind and name were seen.
    slow_factor: float = Field(3.0, gt=1, json_schema_extra={"example": "3"})
    slow_min_ms: float = Field(1000, ge=0, json_schema_extra={"example": "1000"})
    min_samples: int = Field(20, ge=1, json_schema_extra={"example": "20"})


class LokiTarget(_Section):
    """How a `loki:` source reads (monitoring/sources/loki.py; docs/monitoring.md)."""

    # Every read looks this far behind the previous read's end again for lines ingested late (agents
    # retrying a push, out-of-order ingestion); lines already seen are recognised and dropped. 15 min
    # covers an agent's whole retry budget (about 8.5 min) at about 4 reads per line every 5 min;
    # Loki accepts lines up to 1 h late, and "1h" catches all of those at about 13 reads per line.
    overlap_seconds: float = Field(900, ge=0, le=86400, json_schema_extra={"example": '"15m"'})


class PullRequestSettings(_Section):
    """Pull-request delivery (`delivery = "pull_request"`): where the hosting API is, how PRs look.

    See docs/delivery.md. `repository` defaults to the owner/name in the service's `repo` URL.
    """

    api_url: str = Field("https://api.github.com", json_schema_extra={"example": '"https://api.github.com"'})
    repository: str = Field("", pattern=r"^$|^[\w.-]+/[\w.-]+$", json_schema_extra={"example": '"acme/api"'})
    draft: bool = Field(False, json_schema_extra={"example": "false"})
    labels: tuple[str, ...] = Field(("fixbot",), json_schema_extra={"example": '["fixbot"]'})
    poll_seconds: Duration = Field(60, ge=5, json_schema_extra={"example": '"1m"'})
    merge_method: Literal["merge", "squash", "rebase"] = Field(
        "squash", json_schema_extra={"example": '"squash"'}
    )


_DEFAULT_DENIED = (
    ".git/**",
    ".github/**",
    ".gitlab-ci.yml",
    ".circleci/**",
    ".ci/**",
    "Procfile",
    "Dockerfile",
    "docker-compose*.yml",
    "railway.toml",
    "railway.json",
    ".railway/**",
    ".env*",
    "**/.env*",
    "**/*.pem",
    "**/*.key",
    "**/id_rsa*",
    "**/secrets*",
)


class ServiceSettings(_Section):
    """One monitored service: where its logs are, where its code is, who may approve fixes."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$", json_schema_extra={"example": '"api"'})
    source: str = Field(json_schema_extra={"example": '"file:logs/app.log"'})
    log_format: str = Field(
        "", json_schema_extra={"example": '"<Date> <Time> <Level> <Component>: <Content>"'}
    )
    repo: str = Field(json_schema_extra={"example": '"https://github.com/acme/api.git"'})
    branch: str = Field("main", min_length=1, json_schema_extra={"example": '"main"'})
    channel: str = Field("", json_schema_extra={"example": '"C0123OPS"'})
    approvers: tuple[str, ...] = Field((), json_schema_extra={"example": '["U0123ALICE"]'})
    approver_groups: tuple[str, ...] = Field((), json_schema_extra={"example": '["S0123ONCALL"]'})
    validation_command: str = Field("", json_schema_extra={"example": '"python -m pytest -q"'})
    validation_timeout_seconds: Duration = Field(600, json_schema_extra={"example": '"10m"'})
    # The target's own interpreter for compile, import and tests; empty: a virtualenv bootstrapped
    # from the repository's pyproject.toml / requirements*.txt (see docs/apply.md).
    python: str = Field("", json_schema_extra={"example": '"/srv/api/.venv/bin/python"'})
    validation_env: dict[str, str] = Field(
        default_factory=dict, json_schema_extra={"example": '{ APP_ENV = "test" }'}
    )
    # Fixes may edit tests and are asked for a regression test, proven in the scratch checkout.
    allow_test_edits: bool = Field(False, json_schema_extra={"example": "true"})
    allowed_paths: tuple[str, ...] = Field(("**",), json_schema_extra={"example": '["app/**"]'})
    denied_paths: tuple[str, ...] = Field(
        _DEFAULT_DENIED, json_schema_extra={"example": '[".github/**", ".env*"]'}
    )
    max_files_per_fix: int = Field(5, ge=1, json_schema_extra={"example": "5"})
    max_lines_per_fix: int = Field(200, ge=1, json_schema_extra={"example": "200"})
    # A fix may not switch off its own checks: these files are refused unless allowed (fixes/policy.py).
    allow_ci_edits: bool = Field(False, json_schema_extra={"example": "false"})
    allow_test_config_edits: bool = Field(False, json_schema_extra={"example": "false"})
    allow_dependency_edits: bool = Field(False, json_schema_extra={"example": "false"})
    health_url: str = Field("", json_schema_extra={"example": '"https://api.example.com/health"'})
    # How often this service is scanned; empty = the top-level scan_interval_seconds.
    scan_interval_seconds: float | None = Field(None, ge=10, json_schema_extra={"example": '"5m"'})
    thresholds: DetectorThresholds = Field(default_factory=DetectorThresholds)
    railway: RailwayTarget = Field(default_factory=RailwayTarget)
    phoenix: PhoenixTarget = Field(default_factory=PhoenixTarget)
    loki: LokiTarget = Field(default_factory=LokiTarget)
    # push: commit straight to `branch`; pull_request: push fixbot/<fix_id> and open a PR (docs/delivery.md).
    delivery: Literal["push", "pull_request"] = Field("push", json_schema_extra={"example": '"push"'})
    pull_request: PullRequestSettings = Field(default_factory=PullRequestSettings)

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        kind, sep, rest = value.partition(":")
        if not sep or kind not in {"file", "railway", "loki", "cmd", "phoenix"} or not rest.strip():
            raise ValueError(
                "expected file:PATH, railway:deployment=ID | railway:environment=ID, "
                "loki:URL?query=LOGQL, phoenix:project=NAME or cmd:COMMAND"
            )
        return value

    @field_validator("approvers")
    @classmethod
    def _user_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _member_ids(value)

    @field_validator("approver_groups")
    @classmethod
    def _group_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for group in value:
            if not re.fullmatch(r"S[A-Z0-9]{2,}", group):
                raise ValueError(f"{group!r} is not a Slack user group id (they start with S)")
        return value


class LLMSettings(_Section):
    """The language model behind DSPy. An empty model means: report incidents, propose no code."""

    model: str = Field("", json_schema_extra={"example": '"openai/gpt-4o-mini"'})
    api_base: str = Field("", json_schema_extra={"example": '"http://127.0.0.1:11434/v1"'})
    temperature: float = Field(0.0, ge=0, le=2, json_schema_extra={"example": "0.0"})
    max_tokens: int = Field(4000, ge=64, json_schema_extra={"example": "4000"})
    timeout_seconds: Duration = Field(120, json_schema_extra={"example": '"2m"'})
    retries: int = Field(2, ge=0, le=10, json_schema_extra={"example": "2"})
    hourly_token_budget: int = Field(200_000, ge=0, json_schema_extra={"example": "200000"})
    daily_token_budget: int = Field(2_000_000, ge=0, json_schema_extra={"example": "2000000"})
    max_attempts: int = Field(3, ge=1, le=10, json_schema_extra={"example": "3"})
    max_alternatives: int = Field(3, ge=1, le=5, json_schema_extra={"example": "3"})
    context_token_budget: int = Field(6000, ge=500, json_schema_extra={"example": "6000"})
    post_failed_validation: bool = Field(False, json_schema_extra={"example": "false"})
    post_unproven: bool = Field(True, json_schema_extra={"example": "true"})
    program_path: str = Field("", json_schema_extra={"example": '"data/programs/fixer.json"'})


class SlackSettings(_Section):
    """Chat behaviour shared by all services."""

    default_channel: str = Field("", json_schema_extra={"example": '"C0123OPS"'})
    approvers: tuple[str, ...] = Field((), json_schema_extra={"example": '["U0123ALICE"]'})
    approver_groups: tuple[str, ...] = Field((), json_schema_extra={"example": '["S0123ONCALL"]'})
    reject_requires_approver: bool = Field(False, json_schema_extra={"example": "false"})
    api_base_url: str = Field(
        "https://slack.com/api/", json_schema_extra={"example": '"https://slack.com/api/"'}
    )
    workers: int = Field(4, ge=1, le=64, json_schema_extra={"example": "4"})

    @field_validator("approvers")
    @classmethod
    def _user_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _member_ids(value)


class ApplySettings(_Section):
    """The apply pipeline and what happens after a push."""

    bot_name: str = Field("fixbot", min_length=1, json_schema_extra={"example": '"fixbot"'})
    bot_email: str = Field("fixbot@localhost", json_schema_extra={"example": '"fixbot@acme.dev"'})
    push_retries: int = Field(3, ge=0, le=10, json_schema_extra={"example": "3"})
    breaker_threshold: int = Field(3, ge=1, json_schema_extra={"example": "3"})
    step_timeout_seconds: Duration = Field(120, json_schema_extra={"example": '"2m"'})
    deploy_timeout_seconds: Duration = Field(1200, json_schema_extra={"example": '"20m"'})
    deploy_poll_seconds: Duration = Field(10, json_schema_extra={"example": '"10s"'})
    verify_window_seconds: Duration = Field(1800, json_schema_extra={"example": '"30m"'})
    auto_revert_on_crash: bool = Field(False, json_schema_extra={"example": "false"})
    proposal_ttl_seconds: Duration = Field(7 * 86400, json_schema_extra={"example": '"7d"'})


class ValidationSettings(_Section):
    """How model-changed code is run: the sandbox mode and its resource limits."""

    sandbox: Literal["auto", "strict", "off"] = Field("auto", json_schema_extra={"example": '"auto"'})
    memory_limit_mb: int = Field(4096, ge=64, json_schema_extra={"example": "4096"})
    file_size_limit_mb: int = Field(1024, ge=1, json_schema_extra={"example": "1024"})
    process_limit: int = Field(4096, ge=16, json_schema_extra={"example": "4096"})


class _FileModel(_Section):
    data_dir: str = Field("data", min_length=1, json_schema_extra={"example": '"data"'})
    # The interface `agent run` listens on; "::" for IPv6 (Railway's private network).
    listen_host: str = Field("0.0.0.0", min_length=1, json_schema_extra={"example": '"0.0.0.0"'})  # noqa: S104
    # One JSON object per log line (Railway reads level and attributes from it); else plain text.
    log_json: bool = Field(False, json_schema_extra={"example": "true"})
    scan_interval_seconds: Duration = Field(300, ge=10, json_schema_extra={"example": '"5m"'})
    bot_repository: str = Field("", json_schema_extra={"example": '"."'})
    llm: LLMSettings = Field(default_factory=LLMSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    apply: ApplySettings = Field(default_factory=ApplySettings)
    validation: ValidationSettings = Field(default_factory=ValidationSettings)
    services: tuple[ServiceSettings, ...] = Field(default=())

    @model_validator(mode="after")
    def _unique_names(self) -> _FileModel:
        names = [service.name for service in self.services]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"service names must be unique; repeated: {', '.join(duplicates)}")
        return self


@dataclass(frozen=True)
class Secrets:
    """Values that come only from the environment. `repr` never shows them."""

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    llm_api_key: SecretStr | None = None
    git_token: SecretStr | None = None
    railway_token: SecretStr | None = None
    railway_api_token: SecretStr | None = None
    alertmanager_token: SecretStr | None = None
    phoenix_api_key: SecretStr | None = None
    github_webhook_secret: SecretStr | None = None
    loki_token: SecretStr | None = None

    def masked(self) -> dict[str, str]:
        """Name → "set (xoxb-…)" or "not set", for `agent config check`."""
        out: dict[str, str] = {}
        for name, env in _SECRET_ENV.items():
            value: SecretStr | None = getattr(self, name)
            out[env] = f"set ({_mask(value.get_secret_value())})" if value else "not set"
        return out


_SECRET_ENV = {
    "slack_bot_token": "SLACK_BOT_TOKEN",
    "slack_signing_secret": "SLACK_SIGNING_SECRET",
    "slack_app_token": "SLACK_APP_TOKEN",
    "llm_api_key": "LLM_API_KEY",
    "git_token": "GIT_TOKEN",
    "railway_token": "RAILWAY_TOKEN",
    "railway_api_token": "RAILWAY_API_TOKEN",
    "alertmanager_token": "ALERTMANAGER_TOKEN",
    "phoenix_api_key": "PHOENIX_API_KEY",
    "github_webhook_secret": "GITHUB_WEBHOOK_SECRET",
    "loki_token": "LOKI_TOKEN",
}


def _mask(secret: str) -> str:
    prefix = secret.split("-", 1)[0] + "-" if re.match(r"^x[a-z]{3}-", secret) else ""
    return f"{prefix}…{len(secret)} chars"


@dataclass(frozen=True)
class Settings:
    """Everything the bot knows about its world, read once at startup.

    `load_settings` builds it; the defaults are those of an empty config file, so code that needs a
    few specific values (tests, benchmarks) states only those.
    """

    config_path: Path | None
    data_dir: Path
    database_url: str = "sqlite://"
    port: int = 8080
    listen_host: str = "0.0.0.0"  # noqa: S104 - Railway routes to all interfaces
    log_json: bool = False
    scan_interval_seconds: float = 300.0
    bot_repository: Path | None = None
    llm: LLMSettings = field(default_factory=LLMSettings)
    slack: SlackSettings = field(default_factory=SlackSettings)
    apply: ApplySettings = field(default_factory=ApplySettings)
    validation: ValidationSettings = field(default_factory=ValidationSettings)
    services: tuple[ServiceSettings, ...] = ()
    secrets: Secrets = field(default_factory=Secrets)
    # What validation passes on from the host: locale (LANG, LC_*, TZ) to every sandboxed run, and
    # pip's index configuration (PIP_*) to the bootstrap of a target's environment. Nothing else.
    host_env: Mapping[str, str] = field(default_factory=dict)

    def service(self, name: str) -> ServiceSettings:
        """The service called `name`; `UnknownService` lists the known names."""
        for service in self.services:
            if service.name == name:
                return service
        known = ", ".join(s.name for s in self.services) or "none configured"
        raise UnknownService(name, known)

    @property
    def slack_enabled(self) -> bool:
        return self.secrets.slack_bot_token is not None

    @property
    def llm_enabled(self) -> bool:
        return bool(self.llm.model)

    def approvers_for(self, service: ServiceSettings) -> tuple[frozenset[str], frozenset[str]]:
        """(user ids, user group ids) allowed to approve fixes of `service`."""
        users = frozenset(service.approvers) | frozenset(self.slack.approvers)
        groups = frozenset(service.approver_groups) | frozenset(self.slack.approver_groups)
        return users, groups

    def effective(self) -> dict[str, Any]:
        """The configuration as data, secrets masked: what `agent config check` prints."""
        return {
            "config_file": str(self.config_path) if self.config_path else "(none: embedded defaults)",
            "data_dir": str(self.data_dir),
            "database_url": _mask_url(self.database_url),
            "port": self.port,
            "listen_host": self.listen_host,
            "log_json": self.log_json,
            "scan_interval_seconds": self.scan_interval_seconds,
            "bot_repository": str(self.bot_repository) if self.bot_repository else "",
            "llm": self.llm.model_dump(),
            "slack": self.slack.model_dump(),
            "apply": self.apply.model_dump(),
            "validation": self.validation.model_dump(),
            "services": [s.model_dump() for s in self.services],
            "secrets": self.secrets.masked(),
        }


def _mask_url(url: str) -> str:
    return re.sub(r"(://[^:/@]+:)[^@]+@", r"\1***@", url)


def _embedded_defaults(data_dir: str) -> dict[str, Any]:
    """A fresh checkout runs with these: SQLite and a sample service inside the data folder."""
    sample = f"{data_dir}/sample-service"
    return {
        "data_dir": data_dir,
        "services": [
            {
                "name": "sample",
                "source": f"file:{sample}/service.log",
                "repo": f"{sample}/remote.git",
                "branch": "main",
                "approvers": ["U0LOCALOPS"],
            }
        ],
    }


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    serving: bool = True,
) -> Settings:
    """Read the config file and the environment into a validated `Settings`.

    Args:
        config_path: the TOML file; default `$AGENT_CONFIG`, else `./agent.toml` if it exists,
            else the embedded defaults.
        environ: the environment to read secrets from (default `os.environ`).
        serving: False for CLI commands that do not talk to Slack: a SLACK_BOT_TOKEN without
            its signing secret or app token is then accepted (`agent run` still requires the pair).

    Raises:
        ConfigError: naming the key, its origin and a valid example.
    """
    if environ is None:
        use_bundled_price_map()
    env = dict(os.environ if environ is None else environ)
    path, origin = _resolve_config_path(config_path, env)
    if path is None:
        raw: dict[str, Any] = _embedded_defaults("data")
        base_dir = Path.cwd()
    else:
        raw = _read_toml(path)
        base_dir = path.parent

    overrides = _env_overrides(env)
    for path_parts, (value, _var) in overrides.items():
        _set_nested(raw, path_parts, value)
    try:
        model = _FileModel.model_validate(raw)
    except ValidationError as exc:
        sources = {".".join(parts): var for parts, (_value, var) in overrides.items()}
        raise ConfigError(_format_validation_error(exc, origin, sources)) from None

    data_dir = (base_dir / model.data_dir).resolve()
    services = tuple(_resolve_service_paths(s, base_dir) for s in model.services)
    bot_repository = (base_dir / model.bot_repository).resolve() if model.bot_repository else None

    return Settings(
        config_path=path,
        data_dir=data_dir,
        database_url=_database_url(env, data_dir),
        port=_port(env),
        listen_host=model.listen_host,
        log_json=model.log_json,
        scan_interval_seconds=model.scan_interval_seconds,
        bot_repository=bot_repository,
        llm=model.llm,
        slack=model.slack,
        apply=model.apply,
        validation=model.validation,
        services=services,
        secrets=_secrets(env, serving=serving),
        host_env={
            k: v
            for k, v in env.items()
            if k in ("LANG", "LC_ALL", "LC_CTYPE", "TZ")
            or (k.startswith("PIP_") and k != "PIP_REQUIRE_VIRTUALENV")
        },
    )


ENV_PREFIX = "FIXBOT_"


def _env_overrides(env: Mapping[str, str]) -> dict[tuple[str, ...], tuple[Any, str]]:
    """Non-secret settings from the environment: `FIXBOT_<KEY>` or `FIXBOT_<SECTION>__<KEY>`.

    The name is the key's path in agent.toml, upper-cased, sections joined by a double
    underscore: `FIXBOT_SLACK__DEFAULT_CHANNEL=C0123OPS`, `FIXBOT_SCAN_INTERVAL_SECONDS=5m`,
    `FIXBOT_APPLY__AUTO_REVERT_ON_CRASH=true`. A value is read as a TOML value when it is one
    (`true`, `300`, `["U0123ALICE"]`), else as text. An environment value wins over the file.
    `[[services]]` entries are not addressable this way (they are a list).
    """
    found: dict[tuple[str, ...], tuple[Any, str]] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or len(name) == len(ENV_PREFIX):
            continue
        parts = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
        if parts[0] == "services":
            raise ConfigError(
                f"{name} (environment): [[services]] entries cannot be set from the environment; "
                "put them in the config file"
            )
        found[parts] = (_toml_value(raw), name)
    return found


def _toml_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError:
        return raw


def _set_nested(raw: dict[str, Any], parts: tuple[str, ...], value: Any) -> None:
    node = raw
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def _resolve_config_path(
    explicit: str | os.PathLike[str] | None, env: Mapping[str, str]
) -> tuple[Path | None, str]:
    if explicit is not None:
        path, origin = Path(explicit), f"{explicit} (--config)"
    elif env.get("AGENT_CONFIG"):
        path, origin = Path(env["AGENT_CONFIG"]), f"{env['AGENT_CONFIG']} (AGENT_CONFIG)"
    elif Path(DEFAULT_CONFIG_NAME).is_file():
        return Path(DEFAULT_CONFIG_NAME).resolve(), DEFAULT_CONFIG_NAME
    else:
        return None, "embedded defaults"
    if not path.is_file():
        raise ConfigError(
            f"config file {origin} does not exist. Create it (see agent.example.toml) "
            "or unset AGENT_CONFIG to run on the embedded defaults."
        )
    return path.resolve(), str(path)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f'{path}: not valid TOML: {exc}. Example line: scan_interval_seconds = "5m"'
        ) from None


def _resolve_service_paths(service: ServiceSettings, base_dir: Path) -> ServiceSettings:
    updates: dict[str, Any] = {}
    if service.source.startswith("file:"):
        file_path = Path(service.source[5:]).expanduser()
        updates["source"] = f"file:{(base_dir / file_path).resolve()}"
    if not re.match(r"^[a-z][a-z0-9+.-]*://|^[\w.-]+@[\w.-]+:", service.repo):
        updates["repo"] = str((base_dir / Path(service.repo).expanduser()).resolve())
    if "/" in service.python:
        updates["python"] = str(base_dir / Path(service.python).expanduser())
    return service.model_copy(update=updates) if updates else service


def _format_validation_error(
    exc: ValidationError, origin: str, env_sources: Mapping[str, str] | None = None
) -> str:
    lines = [f"invalid configuration in {origin}:"]
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        key = _dotted(loc)
        example = _example_for(loc)
        given = "" if error["type"] == "missing" else f" (got {error.get('input')!r})"
        problem = "missing required key" if error["type"] == "missing" else error["msg"]
        if error["type"] == "extra_forbidden":
            nearest = nearest_key(loc)
            problem = (
                f"unknown key (did you mean {nearest!r}?)" if nearest else "unknown key (check its spelling)"
            )
        hint = f" Example: {loc[-1]} = {example}" if example else ""
        source = (env_sources or {}).get(".".join(p for p in loc if not p.isdigit()))
        where = f" [from environment variable {source}]" if source else ""
        lines.append(f"  - {key}{where}: {problem}{given}.{hint}")
    return "\n".join(lines)


def _model_at(loc: list[str]) -> type[BaseModel] | None:
    """The settings model that holds the key at `loc` (list indexes skipped)."""
    model: type[BaseModel] | None = _FileModel
    for part in loc:
        if model is None or part.isdigit():
            continue
        info = model.model_fields.get(part)
        if info is None:
            return None
        inner = getattr(info.annotation, "__args__", (info.annotation,))
        model = next((t for t in inner if isinstance(t, type) and issubclass(t, BaseModel)), None)
    return model


def nearest_key(loc: list[str]) -> str:
    """The known key closest to the misspelt last part of `loc`, or "" when none is close."""
    model = _model_at(loc[:-1])
    if model is None:
        return ""
    close = difflib.get_close_matches(loc[-1], list(model.model_fields), n=1, cutoff=0.6)
    return close[0] if close else ""


def settings_keys() -> list[str]:
    """Every key the config file accepts, dotted (`slack.default_channel`, `services.thresholds.slow_ms`)."""
    keys: list[str] = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, info in model.model_fields.items():
            inner = getattr(info.annotation, "__args__", (info.annotation,))
            sub = next((t for t in inner if isinstance(t, type) and issubclass(t, BaseModel)), None)
            if sub is not None:
                walk(sub, f"{prefix}{name}.")
            else:
                keys.append(f"{prefix}{name}")

    walk(_FileModel, "")
    return keys


def _dotted(loc: list[str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def _example_for(loc: list[str]) -> str:
    keys = [part for part in loc if not part.isdigit()]
    model = _model_at(keys[:-1]) if keys else None
    info = model.model_fields.get(keys[-1]) if model is not None else None
    extra = info.json_schema_extra if info is not None else None
    return str(extra.get("example", "")) if isinstance(extra, dict) else ""


def _database_url(env: Mapping[str, str], data_dir: Path) -> str:
    url = env.get("DATABASE_URL", "").strip()
    if not url:
        return f"sqlite:///{data_dir / 'agent.db'}"
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme in {"postgres", "postgresql", "postgresql+psycopg"}:
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if scheme.startswith("sqlite"):
        return url
    raise ConfigError(
        f"DATABASE_URL (environment): unsupported or malformed URL {_mask_url(url)!r}. "
        "Example: postgresql://user:password@host:5432/dbname, or unset it to use SQLite in the data dir."
    )


def _port(env: Mapping[str, str]) -> int:
    raw = env.get("PORT", "8080")
    if not raw.isdecimal() or not 0 < int(raw) < 65536:
        raise ConfigError(f"PORT (environment): expected a TCP port number, got {raw!r}. Example: PORT=8080")
    return int(raw)


_TOKEN_PREFIX = {"SLACK_BOT_TOKEN": "xoxb-", "SLACK_APP_TOKEN": "xapp-"}


def _secrets(env: Mapping[str, str], *, serving: bool = True) -> Secrets:
    values: dict[str, SecretStr | None] = {}
    for name, var in _SECRET_ENV.items():
        raw = env.get(var, "").strip()
        if var == "LLM_API_KEY" and not raw:
            raw = env.get("OPENAI_API_KEY", "").strip()
        if var == "GIT_TOKEN" and not raw:
            raw = env.get("GITHUB_TOKEN", "").strip()  # the name GitHub Actions and `gh` use
        prefix = _TOKEN_PREFIX.get(var)
        if raw and prefix and not raw.startswith(prefix):
            raise ConfigError(
                f"{var} (environment): expected a token starting with {prefix!r}, got one starting "
                f"with {raw[:5]!r}. Example: {var}={prefix}1234-5678-abcd"
            )
        values[name] = SecretStr(raw) if raw else None
    secrets = Secrets(**values)
    if serving and secrets.slack_bot_token and not (secrets.slack_signing_secret or secrets.slack_app_token):
        raise ConfigError(
            "SLACK_SIGNING_SECRET (environment): required with SLACK_BOT_TOKEN for HTTP mode "
            "(Basic Information → Signing Secret), or set SLACK_APP_TOKEN=xapp-… for Socket Mode. "
            "Example: SLACK_SIGNING_SECRET=8f14e45fceea167a5a36dedd4bea2543"
        )
    if (secrets.slack_signing_secret or secrets.slack_app_token) and not secrets.slack_bot_token:
        raise ConfigError(
            "SLACK_BOT_TOKEN (environment): required when SLACK_SIGNING_SECRET or SLACK_APP_TOKEN is set "
            "(OAuth & Permissions → Bot User OAuth Token). Example: SLACK_BOT_TOKEN=xoxb-1234-5678-abcd"
        )
    return secrets


def use_bundled_price_map() -> None:
    """No surprise network call: litellm (under DSPy) downloads a model-price map on import unless
    LITELLM_LOCAL_MODEL_COST_MAP is true; default it to its bundled copy. Setting the variable to
    False in the environment brings the download back."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def prefer_offline_libraries() -> None:
    """Keep third-party libraries off the network for the offline demo.

    DSPy and LiteLLM download a model-price map on first use unless told to use their bundled
    copy; loopback calls must not go through a proxy configured for the internet.
    """
    use_bundled_price_map()
    for name in ("NO_PROXY", "no_proxy"):
        existing = [part for part in os.environ.get(name, "").split(",") if part]
        missing = [host for host in ("127.0.0.1", "localhost") if host not in existing]
        os.environ[name] = ",".join([*existing, *missing])
