"""LM configuration and the token budget."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from core.settings import LLMSettings
from core.store.models import LlmUsage, utcnow
from fixes.errors import BudgetExceeded, LLMNotConfigured
from fixes.lm import TokenUsage, build_lm, check_budget, record_usage, require_budget, usage_from_tracker


def test_no_model_is_a_clear_error() -> None:
    """An empty model raises LLMNotConfigured naming the key to set."""
    with pytest.raises(LLMNotConfigured, match=r"\[llm\] model"):
        build_lm(LLMSettings(), None)


def test_settings_reach_the_lm() -> None:
    """Model, api_base, temperature, max_tokens, retries and timeout are passed; the cache is off."""
    llm = LLMSettings(
        model="openai/gpt-4o-mini",
        api_base="http://127.0.0.1:9/v1",
        temperature=0.2,
        max_tokens=900,
        retries=4,
        timeout_seconds=7,
    )
    lm = build_lm(llm, SecretStr("sk-test"))
    expected = ("openai/gpt-4o-mini", 4, False, "http://127.0.0.1:9/v1", 7.0, "sk-test", 0.2, 900)
    actual = (
        lm.model,
        lm.num_retries,
        lm.cache,
        lm.kwargs["api_base"],
        lm.kwargs["timeout"],
        lm.kwargs["api_key"],
        lm.kwargs["temperature"],
        lm.kwargs.get("max_tokens") or lm.kwargs.get("max_completion_tokens"),
    )
    assert expected == actual


def test_local_server_without_key_gets_a_placeholder() -> None:
    """An api_base without LLM_API_KEY still builds (DSPy insists on some key; local servers ignore it)."""
    lm = build_lm(LLMSettings(model="openai/local", api_base="http://127.0.0.1:9/v1"), None)
    assert "not-needed" == lm.kwargs["api_key"]


def test_budget_counts_the_last_hour_and_day(sessions: sessionmaker[Session]) -> None:
    """Usage older than an hour counts only for the day; the first spent budget is named."""
    now = utcnow()
    with sessions.begin() as session:
        record_usage(
            session,
            service="s",
            purpose="generate",
            usage=TokenUsage(600, 100, 1),
            at=now - timedelta(minutes=5),
        )
        record_usage(
            session,
            service="s",
            purpose="generate",
            usage=TokenUsage(5000, 0, 1),
            at=now - timedelta(hours=3),
        )
        session.add(LlmUsage(at=now - timedelta(days=2), service="s", purpose="x", prompt_tokens=10**6))
    llm = LLMSettings(model="m", hourly_token_budget=1000, daily_token_budget=5000)
    with sessions() as session:
        status = check_budget(session, llm, now=now)
        assert (700, 5700) == (status.used_last_hour, status.used_last_day)
        with pytest.raises(BudgetExceeded, match="daily LLM token budget spent"):
            require_budget(session, llm, now=now)


def test_zero_budget_means_unlimited(sessions: sessionmaker[Session]) -> None:
    """A budget of 0 never blocks."""
    with sessions.begin() as session:
        record_usage(session, service="s", purpose="p", usage=TokenUsage(10**7, 0, 1))
    with sessions() as session:
        assert (
            ""
            == check_budget(
                session, LLMSettings(model="m", hourly_token_budget=0, daily_token_budget=0)
            ).exceeded_reason
        )


def test_usage_from_tracker_sums_models() -> None:
    """Per-model usage from dspy.track_usage is summed; missing numbers count as zero."""
    totals = {
        "a": {"prompt_tokens": 3, "completion_tokens": 4},
        "b": {"prompt_tokens": None, "completion_tokens": 1},
    }
    assert TokenUsage(3, 5, 2) == usage_from_tracker(totals, 2)
