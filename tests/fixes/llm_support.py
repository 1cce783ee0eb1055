"""Shared pieces for the LLM tests: a sample service repository, an incident, a scripted model.

Not a test module: the fixtures are imported by the test_* modules that use them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import dspy
import git
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.demo.scripted_lm import Script, ScriptedLMServer, adapter_reply, output_fields
from core.settings import LLMSettings, ServiceSettings
from core.store.db import make_session_factory
from core.store.models import Incident, utcnow
from fixes.lm import build_lm

APP = """import logging

log = logging.getLogger("service")


def parse_total(payload):
    items = payload.get("items")
    return sum(item["price"] for item in items)


def handle(payload):
    try:
        return parse_total(payload)
    except TypeError:
        log.error("Failed to total order %s", payload.get("id"))
        raise
"""

CONFIG = '''"""Settings of the sample service."""

max_tokens = 1000
'''

TESTS = """from service.app import handle


def test_total():
    assert handle({"id": 1, "items": [{"price": 2}, {"price": 3}]}) == 5
"""

GOOD_EDIT = {
    "path": "service/app.py",
    "search": '    items = payload.get("items")\n',
    "replace": '    items = payload.get("items") or []\n',
}

ANALYSIS = {
    "root_cause": "parse_total() iterates payload['items'] which is None for empty orders.",
    "severity": "high",
    "affected_components": ["service/app.py"],
    "confidence": 0.9,
}


def fix_answer(
    edits: list[dict[str, str]], regression_test: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    """A GenerateFix answer; GenerateProvenFix's `regression_test` too (empty unless given)."""
    return {
        "reasoning": "Treat a missing items list as empty.",
        "edits": edits,
        "risk_assessment": "Low: only the None case changes.",
        "test_suggestion": "handle({'id': 2, 'items': None}) returns 0.",
        "regression_test": regression_test or [],
    }


def by_signature(analysis: dict[str, Any], fixes: list[dict[str, Any]]) -> Script:
    """Answer AnalyzeAnomaly with `analysis` and each GenerateFix (or GenerateProvenFix) call with the
    next of `fixes`, giving exactly the output fields the request asks for."""
    pending = list(fixes)

    def script(request: dict[str, Any]) -> str:
        fields = output_fields(request)
        if "root_cause" in fields:
            return adapter_reply(request, analysis)
        answer = pending.pop(0) if len(pending) > 1 else pending[0]
        return adapter_reply(request, {name: answer.get(name, []) for name in fields})

    return script


def make_sample_repo(root: Path, *, app: str = APP) -> Path:
    """A bare remote at `root/remote.git` holding the sample service on branch main."""
    work = root / "work"
    (work / "service").mkdir(parents=True)
    (work / "tests").mkdir()
    (work / "service" / "__init__.py").write_text("")
    (work / "service" / "app.py").write_text(app)
    (work / "service" / "config.py").write_text(CONFIG)
    (work / "tests" / "test_app.py").write_text(TESTS)
    return commit_as_remote(work, root / "remote.git", "sample service")


def commit_as_remote(work: Path, remote: Path, message: str) -> Path:
    """Commit the tree at `work` on branch main and clone it to the bare repository `remote`."""
    repo = git.Repo.init(work, initial_branch="main")
    repo.git.add("-A")
    repo.git.commit("-q", "-m", message, env=GIT_IDENTITY)
    git.Repo.clone_from(str(work), str(remote), bare=True)
    return remote


GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@localhost",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@localhost",
}


# The sample's own tests, run by the interpreter running this suite.
PYTEST = f"{sys.executable} -m pytest -q -p no:cacheprovider tests"


def service_settings(remote: Path, **overrides: Any) -> ServiceSettings:
    values: dict[str, Any] = {
        "name": "sample",
        "source": "file:/dev/null",
        "repo": str(remote),
        "branch": "main",
        # Compile and import always run; the test command is cheap unless a test is about tests.
        "validation_command": f"{sys.executable} -c pass",
        # The target's interpreter: this one (it has pytest), not a bootstrapped virtualenv.
        "python": sys.executable,
        "validation_timeout_seconds": 60,
    }
    values.update(overrides)
    return ServiceSettings(**values)


def llm_settings(**overrides: Any) -> LLMSettings:
    values: dict[str, Any] = {"model": "openai/scripted", "retries": 0, "timeout_seconds": 5}
    values.update(overrides)
    return LLMSettings(**values)


def add_incident(
    sessions: sessionmaker[Session],
    *,
    samples: list[str] | None = None,
    service: str = "sample",
    title: str = "TypeError in parse_total (5 times)",
    **details: Any,
) -> Incident:
    """An incident of `service` as the scanner stores it; `details` override the sample's."""
    now = utcnow()
    base: dict[str, Any] = {
        "template": "Failed to total order <*>",
        "logger": "service",
        "exception_type": "TypeError",
        "frames": [
            {"file": "/srv/app/service/app.py", "line": 13, "function": "handle"},
            {"file": "/srv/app/service/app.py", "line": 8, "function": "parse_total"},
        ],
        "traceback": "Traceback (most recent call last):\n  ...\nTypeError: object is not iterable",
        "line_numbers": [8, 13],
        "source": "file",
    }
    base.update(details)
    with sessions.begin() as session:
        incident = Incident(
            service=service,
            fingerprint=f"fp-{now.timestamp()}",
            kind="error_pattern",
            severity="high",
            title=title,
            count=5,
            first_seen=now - timedelta(minutes=10),
            last_seen=now,
            samples=samples or ["Failed to total order 17", "Failed to total order 18"],
            details=base,
        )
        session.add(incident)
    return incident


@pytest.fixture
def sample_remote(tmp_path: Path) -> Path:
    """The sample service's bare repository."""
    return make_sample_repo(tmp_path / "sample")


@pytest.fixture
def db(sqlite_engine: Engine) -> sessionmaker[Session]:
    """Sessions on a migrated SQLite database."""
    return make_session_factory(sqlite_engine)


ServerFactory = Callable[..., tuple[ScriptedLMServer, dspy.LM]]


@pytest.fixture
def scripted_lm() -> Iterator[ServerFactory]:
    """Start a ScriptedLMServer with a script and build the real dspy.LM against it."""
    servers: list[ScriptedLMServer] = []

    def start(script: Script, **lm_overrides: Any) -> tuple[ScriptedLMServer, dspy.LM]:
        server = ScriptedLMServer(script).start()
        servers.append(server)
        settings = llm_settings(api_base=server.api_base, **lm_overrides)
        lm = build_lm(settings, None)
        return server, lm

    yield start
    for server in servers:
        server.stop()
