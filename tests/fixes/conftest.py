"""Fixtures for the apply pipeline: the sample repository with a bare remote, and its settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from core.store.db import make_session_factory
from tests.fixes.sample import SampleRepo, make_sample, make_settings


@pytest.fixture
def sample(tmp_path: Path) -> SampleRepo:
    """The sample package (with a bug and tests) pushed to a bare remote."""
    return make_sample(tmp_path / "sample")


@pytest.fixture
def settings(tmp_path: Path, sample: SampleRepo) -> Settings:
    """Settings whose one service `sample` deploys to the sample's bare remote."""
    return make_settings(tmp_path / "data", str(sample.remote))


@pytest.fixture
def lite_sessions(sqlite_engine: Engine) -> sessionmaker[Session]:
    """Sessions on SQLite only, for the (slower) git-heavy tests."""
    return make_session_factory(sqlite_engine)
