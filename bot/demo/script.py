"""The offline demo's *scripted* model: canned answers for the sample shop, served to DSPy's real client.

It is not a language model. `sample_shop_script()` returns a script for `scripted_lm.ScriptedLMServer`
that reads which signature is asking (from the output fields DSPy requests) and which incident it is
about (from the input sections), and answers with text written in advance:

- the stale-coupon `KeyError` (HIGH): the first fix attempt is plausible but breaks a test, so
  pre-validation fails and the failure is fed back; the second attempt is the correct fix, with a
  regression test (`regression_test`, asked because the demo's service allows test edits) that fails
  on the base and passes with the fix: the proposal is "proven";
- the review summary truncated at max_tokens=256: raise the limit to 512 (valid, no regression test,
  so "not proven" with the suggested test shown; the demo's human rejects it: summaries are meant
  to be short);
- the slow stock query: a fix that imports a decorator `functools` does not have, so it fails
  validation at the import step every time (posted marked "validation failed"; the demo shows
  the pipeline refusing it and rolling back).
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

from bot.demo.sample_service import (
    SAMPLE_ANALYSIS,
    sample_broken_edits,
    sample_fix_edits,
    sample_regression_test,
)
from bot.demo.scripted_lm import Script, ScriptedReply, adapter_reply, output_fields

__all__ = ["CASES", "sample_shop_script"]

_TRUNCATION_ROOT_CAUSE = (
    "shop/reviews.py: summarize_reviews() caps review summaries at max_tokens=256 words, and long "
    "review pages exceed it, so the summary is cut and a truncation warning is logged on every page."
)
_SLOW_ROOT_CAUSE = (
    "shop/inventory.py: stock_levels() looks up every sku separately; a 20-sku bulk lookup costs "
    "2350 ms, above the 2000 ms slow-query threshold."
)

_ANALYSES: Mapping[str, Mapping[str, Any]] = {
    "coupon": {
        key: SAMPLE_ANALYSIS[key] for key in ("root_cause", "severity", "affected_components", "confidence")
    },
    "truncation": {
        "root_cause": _TRUNCATION_ROOT_CAUSE,
        "severity": "low",
        "affected_components": ["shop/reviews.py"],
        "confidence": 0.8,
    },
    "slow": {
        "root_cause": _SLOW_ROOT_CAUSE,
        "severity": "medium",
        "affected_components": ["shop/inventory.py"],
        "confidence": 0.7,
    },
}

_SLOW_EDITS = [
    {
        "path": "shop/inventory.py",
        "search": "import logging\n",
        "replace": "import logging\nfrom functools import lru_cache_by_key\n",
    },
    {
        "path": "shop/inventory.py",
        "search": "def stock_levels(skus: list[str]) -> dict[str, int]:\n",
        "replace": "@lru_cache_by_key(maxsize=1024)\ndef stock_levels(skus: list[str]) -> dict[str, int]:\n",
    },
]

_TRUNCATION_EDITS = [
    {
        "path": "shop/reviews.py",
        "search": "def summarize_reviews(sku: str, reviews: list[str], max_tokens: int = 256) -> str:\n",
        "replace": "def summarize_reviews(sku: str, reviews: list[str], max_tokens: int = 512) -> str:\n",
    }
]


def _generation(case: str, attempt: int) -> dict[str, Any]:
    if case == "coupon":
        edits = sample_broken_edits() if attempt == 1 else sample_fix_edits()
        return {
            "reasoning": SAMPLE_ANALYSIS["reasoning"],
            "edits": edits,
            "risk_assessment": SAMPLE_ANALYSIS["risk_assessment"],
            "test_suggestion": SAMPLE_ANALYSIS["test_suggestion"],
            "regression_test": sample_regression_test(),
        }
    if case == "truncation":
        return {
            "reasoning": "Long review pages exceed 256 words; 512 covers the longest pages seen.",
            "edits": _TRUNCATION_EDITS,
            "risk_assessment": "Low: summaries get longer; nothing else reads max_tokens.",
            "test_suggestion": "summarize_reviews with 400 words returns all 400 without a warning",
        }
    return {
        "reasoning": "Cache stock lookups per sku list so repeated bulk lookups are served from memory.",
        "edits": _SLOW_EDITS,
        "risk_assessment": "Medium: cached stock may be stale for up to the cache lifetime.",
        "test_suggestion": "two identical stock_levels calls take the slow path once",
    }


CASES = ("coupon", "truncation", "slow")

_SECTION = re.compile(r"\[\[ ## (\w+) ## \]\]\n(.*?)(?=\n\[\[ ## |\Z)", re.S)


def _sections(request: Mapping[str, Any]) -> dict[str, str]:
    messages = request.get("messages") or [{}]
    text = str(messages[-1].get("content", ""))
    return dict(_SECTION.findall(text))


def _case(text: str) -> str:
    lowered = text.lower()
    if "keyerror" in lowered or "discount_percent" in lowered or "coupon" in lowered:
        return "coupon"
    if "truncat" in lowered or "summarize_reviews" in lowered:
        return "truncation"
    return "slow"


def sample_shop_script() -> Script:
    """A fresh script (its own attempt counters) answering the demo's incidents."""
    attempts: Counter[str] = Counter()
    lock = threading.Lock()

    def script(request: dict[str, Any]) -> ScriptedReply | str:
        fields = output_fields(request)
        sections = _sections(request)
        if "root_cause" in fields:
            case = _case(sections.get("anomaly", "") + sections.get("log_samples", ""))
            return adapter_reply(request, _ANALYSES[case])
        if "edits" in fields:
            case = _case(sections.get("root_cause", ""))
            with lock:
                attempts[case] += 1
                attempt = attempts[case]
            answer = _generation(case, attempt)
            # GenerateProvenFix asks for `regression_test` too: no test is an empty list of edits.
            return adapter_reply(request, {name: answer.get(name, []) for name in fields})
        return ScriptedReply(status=400, content=f"the demo script has no answer for fields {fields}")

    return script
