"""Secrets are masked before anything is stored, sent to an LLM or posted."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitoring.redact import redact
from tests.monitoring.secret_corpus import SecretSample, ordinary_lines, secret_samples

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


@pytest.mark.parametrize("sample", secret_samples(), ids=lambda sample: sample.provider)
def test_corpus_secret_is_redacted(sample: SecretSample) -> None:
    """Every provider's secret in the corpus is gone after redaction, and the line count is kept."""
    redacted = redact(sample.line)
    assert sample.secret not in redacted
    assert sample.line.count("\n") == redacted.count("\n")


def test_ordinary_lines_are_left_alone() -> None:
    """Ids, hashes, UUIDs, shas, timestamps and durations survive; only Luhn-valid 16-digit ids may not."""
    changed = [line for line in ordinary_lines(3000) if redact(line) != line]
    assert [] == [line for line in changed if not line.startswith("order ")]
    assert len(changed) < 10


def test_labels_stay_readable() -> None:
    """The scheme, the key name and a URL's host stay, so a reader still understands the line."""
    assert "Authorization: ApiKey [REDACTED] sent" == redact(
        "Authorization: ApiKey Zx81kq0PlmN3vb6Ty2Wq sent"
    )
    assert "postgresql://app:[REDACTED]@db.internal:5432/prod" == redact(
        "postgresql://app:S3cr3t-P4ss@db.internal:5432/prod"
    )
    assert "password=[REDACTED] user=bob" == redact("password=hunter2 user=bob")


def test_whole_token_is_redacted_when_a_pattern_knows_only_its_start() -> None:
    """A long key whose pattern matches a prefix is redacted to its end, not cut in the middle."""
    key = "sk_live_" + "a1B2c3D4" * 12
    assert "key [REDACTED] end" == redact(f"key {key} end")


def test_pem_block_keeps_line_numbers() -> None:
    """A private key spanning lines becomes one marker followed by the same line breaks."""
    text = "a\n-----BEGIN PRIVATE KEY-----\nMIIEv\nQIBAD\n-----END PRIVATE KEY-----\nb"
    assert "a\n[REDACTED]\n\n\n\nb" == redact(text)


def test_card_numbers_need_luhn_and_an_issuer_prefix() -> None:
    """A Luhn-valid Visa number goes; the same digits with a wrong check digit or prefix stay."""
    assert "card [REDACTED]" == redact("card 4111 1111 1111 1111")
    assert "card 4111 1111 1111 1112" == redact("card 4111 1111 1111 1112")
    assert "id 1111111111111111" == redact("id 1111111111111111")


def test_email_addresses_are_redacted_but_not_url_hosts() -> None:
    """A bare address goes; `user:password@host` keeps its host."""
    assert "mail to [REDACTED] failed" == redact("mail to ann.lee@example.org failed")
    assert "redis://:[REDACTED]@cache.internal:6379" == redact("redis://:pw0rd1234@cache.internal:6379")


_PIECES = [
    *"ab1 =:@.-_/\n\"'",
    "token",
    "sk-",
    "eyJ",
    "password",
    "4111",
    "Bearer ",
    "://",
    "-----BEGIN PRIVATE KEY-----",
]


@given(st.lists(st.sampled_from(_PIECES)).map("".join))
def test_redaction_keeps_line_count_and_is_stable(text: str) -> None:
    """Any text keeps its number of lines, and redacting twice changes nothing more."""
    once = redact(text)
    assert text.count("\n") == once.count("\n")
    assert once == redact(once)
