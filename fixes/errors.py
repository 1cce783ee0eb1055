"""Errors of the `fixes` package.

FixError
  ├── EditError               an edit cannot be applied safely
  │     ├── EditDoesNotApply  the search text matches nowhere (message: closest candidate lines)
  │     └── EditIsAmbiguous   the search text matches in several places
  ├── PolicyViolation         an edit touches a denied path, leaves the repository, or is too large
  ├── ValidationFailed        byte-compile, import or tests failed (output attached)
  ├── PushRejected            the remote refused the push (the branch moved)
  ├── GitError                any other git failure, translated at the adapter
  └── NoFixProposed           no fix can be generated now (message says why, for the report)
        ├── LLMNotConfigured  no model set in [llm]
        ├── BudgetExceeded    the hourly or daily token budget is spent
        └── LLMUnavailable    the model failed (timeout, rate limit, error, unparseable answer)
"""

from __future__ import annotations

__all__ = [
    "BudgetExceeded",
    "EditDoesNotApply",
    "EditError",
    "EditIsAmbiguous",
    "FixError",
    "GitError",
    "LLMNotConfigured",
    "LLMUnavailable",
    "NoFixProposed",
    "PolicyViolation",
    "PushRejected",
    "ValidationFailed",
]


class FixError(Exception):
    """Base of every error raised by `fixes`."""


class EditError(FixError):
    def __init__(self, message: str, *, path: str, index: int) -> None:
        super().__init__(message)
        self.path = path
        self.index = index


class EditDoesNotApply(EditError):
    """The edit's search text is not in the file (even under the declared fuzzy rule)."""


class EditIsAmbiguous(EditError):
    """The edit's search text occurs more than once; we never guess which."""


class PolicyViolation(FixError):
    """The fix touches something it must not."""


class ValidationFailed(FixError):
    def __init__(self, message: str, *, step: str, output: str) -> None:
        super().__init__(message)
        self.step = step
        self.output = output


class PushRejected(FixError):
    """The deploy branch moved under us; fetch, re-apply, re-validate, try again."""


class GitError(FixError):
    """A git command failed for another reason."""


class NoFixProposed(FixError):
    """The incident is reported without a fix; the message is the reason shown to people."""


class LLMNotConfigured(NoFixProposed):
    """No language model is configured."""


class BudgetExceeded(NoFixProposed):
    """The hourly or daily token budget is spent; fixes resume when the window moves on."""


class LLMUnavailable(NoFixProposed):
    """The language model did not give a usable answer (timeout, rate limit, error, parse failure)."""
