"""The language model: built from settings, spent within a token budget, used per worker thread.

`build_lm` turns `LLMSettings` plus the API key into a `dspy.LM`. Any model string DSPy accepts
works: hosted providers (`openai/gpt-4o-mini`, `anthropic/...`), Ollama (`ollama_chat/llama3.1`
with `api_base = "http://127.0.0.1:11434"`), or any OpenAI-compatible server (`openai/<name>` with
`api_base = "http://host:port/v1"`). The response cache is off by default: DSPy's cache key ignores
`api_base`, so a cached answer from one endpoint could be served for another.

Callers enter `dspy.context(lm=...)` inside the thread that does the work; `dspy.configure` is never
called from a worker (DSPy allows it only in the thread that first called it).

Token usage is recorded per call in `LlmUsage`; `check_budget` reads the last hour and day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.settings import LLMSettings
from core.store.models import LlmUsage, utcnow
from fixes.errors import BudgetExceeded, LLMNotConfigured

if TYPE_CHECKING:
    import dspy

__all__ = [
    "BudgetStatus",
    "TokenUsage",
    "build_lm",
    "check_budget",
    "describe_lm",
    "record_usage",
    "require_budget",
    "usage_from_tracker",
]

# DSPy refuses to call an OpenAI-compatible endpoint without some key; local servers ignore it.
_PLACEHOLDER_KEY = "not-needed"


def build_lm(
    llm: LLMSettings, api_key: SecretStr | None, *, cache: bool = False, **overrides: Any
) -> dspy.LM:
    """A `dspy.LM` for `llm` (no network access happens here).

    Args:
        llm: model, api_base, temperature, max_tokens, timeout_seconds, retries.
        api_key: the `LLM_API_KEY` secret; optional for `api_base` servers and Ollama.
        cache: DSPy's response cache (in `DSPY_CACHEDIR`); off by default because its key ignores
            `api_base` and identical prompts must reach the model again after a failed attempt.
        overrides: extra `dspy.LM` keyword arguments.

    Raises:
        LLMNotConfigured: `llm.model` is empty.
    """
    if not llm.model:
        raise LLMNotConfigured(
            'no language model configured: set [llm] model = "openai/gpt-4o-mini" (or "ollama_chat/llama3.1" '
            "with api_base) in agent.toml and LLM_API_KEY in the environment"
        )
    import dspy

    kwargs: dict[str, Any] = {
        "temperature": llm.temperature,
        "max_tokens": llm.max_tokens,
        "num_retries": llm.retries,
        "timeout": llm.timeout_seconds,
        "cache": cache,
    }
    if llm.api_base:
        kwargs["api_base"] = llm.api_base
    key = api_key.get_secret_value() if api_key else ""
    if key:
        kwargs["api_key"] = key
    elif llm.api_base:
        kwargs["api_key"] = _PLACEHOLDER_KEY
    kwargs.update(overrides)
    return dspy.LM(llm.model, **kwargs)


def describe_lm(llm: LLMSettings) -> str:
    """`model @ api_base` for status lines and proposals (never the key)."""
    if not llm.model:
        return "no model configured"
    return f"{llm.model} @ {llm.api_base}" if llm.api_base else llm.model


@dataclass(frozen=True)
class TokenUsage:
    """Tokens spent by one piece of work (all LM calls of one proposal)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.calls + other.calls,
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "calls": self.calls,
        }


def usage_from_tracker(totals: Mapping[str, Mapping[str, Any]] | None, calls: int = 0) -> TokenUsage:
    """Sum `dspy.track_usage().get_total_tokens()` over models."""
    prompt = completion = 0
    for usage in (totals or {}).values():
        prompt += int(usage.get("prompt_tokens") or 0)
        completion += int(usage.get("completion_tokens") or 0)
    return TokenUsage(prompt, completion, calls)


def record_usage(
    session: Session,
    *,
    service: str,
    purpose: str,
    usage: TokenUsage,
    fix_id: str = "",
    at: datetime | None = None,
) -> None:
    """Add one `LlmUsage` row (the caller's transaction commits it)."""
    session.add(
        LlmUsage(
            at=at or utcnow(),
            service=service,
            purpose=purpose,
            fix_id=fix_id,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
        )
    )


@dataclass(frozen=True)
class BudgetStatus:
    """Tokens used in the last hour and day against the budgets (0 = unlimited)."""

    used_last_hour: int
    used_last_day: int
    hourly_budget: int
    daily_budget: int

    @property
    def exceeded_reason(self) -> str:
        """Empty while within budget; otherwise what is spent and when it frees up."""
        if self.hourly_budget and self.used_last_hour >= self.hourly_budget:
            return (
                f"hourly LLM token budget spent ({self.used_last_hour:,} of {self.hourly_budget:,} tokens "
                "in the last hour); fixes resume as the window moves on, or raise [llm] hourly_token_budget"
            )
        if self.daily_budget and self.used_last_day >= self.daily_budget:
            return (
                f"daily LLM token budget spent ({self.used_last_day:,} of {self.daily_budget:,} tokens "
                "in the last 24 hours); raise [llm] daily_token_budget to allow more"
            )
        return ""


def check_budget(session: Session, llm: LLMSettings, *, now: datetime | None = None) -> BudgetStatus:
    """Tokens spent (all services) in the last hour and the last 24 hours."""
    moment = now or utcnow()
    total = func.coalesce(func.sum(LlmUsage.prompt_tokens + LlmUsage.completion_tokens), 0)
    hour = session.scalar(select(total).where(LlmUsage.at > moment - timedelta(hours=1))) or 0
    day = session.scalar(select(total).where(LlmUsage.at > moment - timedelta(days=1))) or 0
    return BudgetStatus(int(hour), int(day), llm.hourly_token_budget, llm.daily_token_budget)


def require_budget(session: Session, llm: LLMSettings, *, now: datetime | None = None) -> BudgetStatus:
    """`check_budget`, raising `BudgetExceeded` (with the reason) when a budget is spent."""
    status = check_budget(session, llm, now=now)
    if status.exceeded_reason:
        raise BudgetExceeded(status.exceeded_reason)
    return status
