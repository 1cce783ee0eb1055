"""Secrets are masked before anything is stored, sent to an LLM or posted."""

from __future__ import annotations

import pytest

from monitoring.redact import redact

SAMPLES = [
    ("posting with token xoxb-2816412345-5078123456789-AbCdEfGhIjKlMnOpQrStUvWx", "xoxb-2816"),
    ("app token xapp-1-A0123BCDEF-1234567890123-abcdef0123456789", "xapp-1-A0"),
    ("webhook https://hooks.slack.com/services/T0123ABCD/B0123EFGH/abcdefghijklmnopqrstuvwx", "T0123ABCD/B"),
    (
        "Authorization: Bearer eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlLXZhbHVl",
        "eyJzdWIi",
    ),
    ("headers={'Authorization': 'Bearer 8f14e45fceea167a5a36dedd4bea2543'}", "8f14e45f"),
    ("using OPENAI key sk-proj-AbCdEf0123456789GhIjKlMnOpQrStUv", "AbCdEf0123"),
    ("anthropic sk-ant-api03-AbCdEf0123456789GhIjKlMnOpQrStUvWxYz", "api03-AbCd"),
    ("aws AKIAIOSFODNN7EXAMPLE in env", "IOSFODNN7"),
    (
        "git remote https://x-access-token:ghp_16C7e42F292c6912E7710c838347Ae178B4a@github.com/a/b.git",
        "16C7e42F",
    ),
    ("connect postgresql://app:S3cr3t-P4ss@db.internal:5432/prod", "S3cr3t"),
    ('{"user": "bob", "password": "hunter2!"}', "hunter2"),
    ("login failed api_key=ab12cd34ef56ab78 for bob", "ab12cd34"),
    ("stripe sk_live_51H8abcdefghijklmnopqrstuv", "51H8abcd"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7Vb\n-----END RSA PRIVATE KEY-----", "MIIEowIB"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA (cut)", "b3BlbnNz"),
]


@pytest.mark.parametrize(("text", "secret"), SAMPLES)
def test_secret_is_redacted(text: str, secret: str) -> None:
    """The secret part of a real-looking sample does not survive redaction."""
    assert secret not in redact(text)
    assert "[REDACTED]" in redact(text)


def test_ordinary_text_is_unchanged() -> None:
    """Log text without secrets is left alone."""
    text = "GET /api/users/42 200 in 35ms; user bob logged in from 10.0.0.7"
    assert text == redact(text)
