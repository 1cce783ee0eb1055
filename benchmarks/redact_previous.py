"""The redactor before issue 14, kept verbatim as the peer of `benchmarks/redaction.py`."""

from __future__ import annotations

import re

__all__ = ["REDACTED", "redact"]

REDACTED = "[REDACTED]"

_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----.*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\Z)",
    re.DOTALL,
)
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # Passwords in URLs: scheme://user:password@host.
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@"), rf"\1{REDACTED}@"),
    (re.compile(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]+"), REDACTED),
    (re.compile(r"\bx(?:ox[abposrce]|app)-[A-Za-z0-9-]{8,}"), REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"), REDACTED),
    (re.compile(r"(?i)\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=-]{8,}"), rf"\1\2{REDACTED}"),
    (
        re.compile(
            r"\b(?:sk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}|(?:AKIA|ASIA)[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}"
            r"|github_pat_[A-Za-z0-9_]{30,}|glpat-[A-Za-z0-9_-]{20,}|AIza[0-9A-Za-z_-]{35}"
            r"|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,})"
        ),
        REDACTED,
    ),
    # key=value / key: value / "key": "value" for names that hold secrets.
    (
        re.compile(
            r"(?i)(\b[\w.-]*(?:password|passwd|pwd|secret|api[_-]?key|apikey|access[_-]?key|auth[_-]?token"
            r"|access[_-]?token|refresh[_-]?token|private[_-]?key|client[_-]?secret|token)[\"']?\s*[=:]\s*[\"']?)"
            r"(?!\[REDACTED\])[^\s\"',;&}]{3,}"
        ),
        rf"\1{REDACTED}",
    ),
)


def redact(text: str) -> str:
    """`text` with every secret it recognises replaced by `[REDACTED]`."""
    if "PRIVATE KEY" in text:
        text = _PRIVATE_KEY.sub(REDACTED, text)
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text
