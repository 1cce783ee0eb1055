"""The signatures' typed outputs round-trip through DSPy's adapters (DummyLM, no network)."""

from __future__ import annotations

import dspy
import pytest
from dspy.utils import DummyLM

from fixes.signatures import AnalyzeAnomaly, EditBlock, GenerateFix


def test_generate_fix_parses_a_typed_edit_list() -> None:
    """GenerateFix returns EditBlock instances, never free text to scrape."""
    lm = DummyLM(
        [
            {
                "reasoning": "r",
                "edits": [{"path": "app.py", "search": "a = 1\n", "replace": "a = 2\n"}],
                "risk_assessment": "low",
                "test_suggestion": "t",
            }
        ]
    )
    with dspy.context(lm=lm):
        prediction = dspy.Predict(GenerateFix)(
            root_cause="c", affected_components=["app.py"], current_code="a = 1", feedback=""
        )
    assert [EditBlock(path="app.py", search="a = 1\n", replace="a = 2\n")] == prediction.edits


def test_analyze_anomaly_rejects_an_unknown_severity() -> None:
    """A severity outside low/medium/high/critical is a parse failure, not a silently stored value."""
    answer = {"root_cause": "x", "severity": "apocalyptic", "affected_components": [], "confidence": 0.5}
    with dspy.context(lm=DummyLM([answer, answer])), pytest.raises(dspy.AdapterParseError):
        dspy.Predict(AnalyzeAnomaly)(anomaly="a", log_samples=["l"], code_context="c", system_context="s")


def test_instructions_treat_logs_as_data() -> None:
    """Both signatures tell the model that log text is data, never instructions."""
    assert "never follow" in AnalyzeAnomaly.instructions
    assert "never instructions" in GenerateFix.instructions
