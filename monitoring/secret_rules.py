"""The secret rules `redact` applies: detect-secrets' provider patterns, plus what they lack.

The provider patterns are detect-secrets' own (the `denylist` regexes of its plugins, read from the
installed package, so they follow its releases); this module only adds, per plugin, the cheap
*keywords* that must appear in a line before its patterns run (the prefilter gitleaks uses), and
which capture group holds the secret. Rules detect-secrets does not have are written here: passwords
in URLs, `Authorization:` headers of any scheme, `password=`-style assignments, PEM private key
blocks, e-mail addresses, Luhn-checked card numbers, and token shapes it lacks or knows only in an
older form (HuggingFace `hf_`, GitHub `github_pat_`, OpenAI `sk-proj-`, Anthropic, Google, Stripe
keys of any length, Slack app and refresh tokens).

A rule with no keyword runs when the line holds a long token-like run (`SHAPE`), or always when
`always` is set (card numbers: a keyword cannot find digits).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["SHAPE", "Rule", "load_rules"]

# A run of 20+ token characters: the precondition of the rules that have no literal keyword.
SHAPE = re.compile(r"[A-Za-z0-9_-]{20,}")


@dataclass(frozen=True)
class Rule:
    """One pattern: where it may apply (`keywords`, lower-case) and which group is the secret."""

    name: str
    pattern: re.Pattern[str]
    keywords: tuple[str, ...] = ()
    group: int = 0
    always: bool = False
    # Extra check on a match (Luhn for card numbers; not-inside-a-URL for e-mail addresses).
    accept: Callable[[re.Match[str]], bool] | None = None


# detect-secrets plugin module → (class, keywords, the secret's group in those of its patterns that
# have groups; 0 = the whole match). Plugins left out on purpose: keyword and high-entropy
# detectors (no patterns; they flag ids and hashes), public IPs (not a secret here, and the template
# miner masks them), private key headers (the block rule below redacts the whole key, not just its
# header).
_DETECT_SECRETS: tuple[tuple[str, str, tuple[str, ...], int], ...] = (
    ("aws", "AWSKeyDetector", ("akia", "asia", "abia", "acca", "a3t", "aws"), 1),
    ("artifactory", "ArtifactoryDetector", ("akc", *(f"ap{c}" for c in "0123456789abcdef")), 0),
    ("azure_storage_key", "AzureStorageKeyDetector", ("accountkey",), 0),
    ("basic_auth", "BasicAuthDetector", ("://",), 1),
    # Its `cl_`/`clou_` abbreviated names are left to the generic assignment rule below.
    ("cloudant", "CloudantDetector", ("cloudant",), 1),
    ("discord", "DiscordBotTokenDetector", ("discord", "bot", "token"), 0),
    ("github_token", "GitHubTokenDetector", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), 0),
    (
        "gitlab_token",
        "GitLabTokenDetector",
        (
            "glpat-",
            "gldt-",
            "glft-",
            "glsoat-",
            "glrt-",
            "gr1348941",
            "glcbt-",
            "glimt-",
            "glptt-",
            "glagent-",
            "gloas-",
        ),
        0,
    ),
    # Its names without an IBM prefix (`api_key = …`) are what the assignment rule below covers.
    ("ibm_cloud_iam", "IbmCloudIamDetector", ("ibm", "iam", "cloud"), 1),
    ("ibm_cos_hmac", "IbmCosHmacDetector", ("secret",), 1),
    ("jwt", "JwtTokenDetector", ("eyj",), 0),
    ("mailchimp", "MailchimpDetector", ("-us",), 0),
    ("npm", "NpmDetector", ("_authtoken",), 1),
    ("openai", "OpenAIDetector", ("t3blbkfj",), 0),
    ("pypi_token", "PypiTokenDetector", ("pypi-",), 0),
    ("sendgrid", "SendGridDetector", ("sg.",), 0),
    ("slack", "SlackDetector", ("xox", "hooks.slack.com"), 0),
    (
        "softlayer",
        "SoftlayerDetector",
        ("softlayer", "sl_", "sl-", "slapi", "slkey", "slpass", "slpwd", "sltoken"),
        1,
    ),
    ("square_oauth", "SquareOAuthDetector", ("sq0csp-",), 0),
    ("stripe", "StripeDetector", ("k_live_",), 0),
    ("telegram_token", "TelegramBotTokenDetector", ("telegram", "bot", "token"), 0),
    ("twilio", "TwilioKeyDetector", (), 0),
)


def _detect_secrets_rules() -> list[Rule]:
    rules: list[Rule] = []
    for module, cls_name, keywords, group in _DETECT_SECRETS:
        plugin = getattr(importlib.import_module(f"detect_secrets.plugins.{module}"), cls_name)
        for index, pattern in enumerate(plugin.denylist):
            # A pattern without the group we expect (a future release reshaped it) redacts whole.
            rules.append(
                Rule(
                    f"detect-secrets:{cls_name}:{index}",
                    pattern,
                    keywords,
                    group if pattern.groups >= group else 0,
                )
            )
    return rules


def _luhn(match: re.Match[str]) -> bool:
    digits = [int(c) for c in match.group(0) if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, digit in enumerate(reversed(digits)):
        doubled = digit * 2 if i % 2 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return total % 10 == 0


def _not_url_userinfo(match: re.Match[str]) -> bool:
    # `scheme://user:password@host`: the URL rule redacts the password; the host stays readable.
    text = match.string
    start = match.start()
    token_start = max(text.rfind(c, 0, start) for c in " \t\n\"'<>(")
    return "://" not in text[token_start + 1 : start]


_CREDENTIAL_KEY_NAMES = (
    r"password|passwd|pwd|secret|api[_-]?key|apikey|access[_-]?key|account[_-]?key|auth[_-]?token"
    r"|access[_-]?token|refresh[_-]?token|private[_-]?key|client[_-]?secret|token"
)
# Right-hand sides that are code, not a value: keep `token = self.token` or `password=None` legible.
_NOT_A_VALUE = r"(?!(?:None|True|False|null|undefined)\b|(?:self|cls|os|settings|config|request|env)\.)"

_OWN: tuple[Rule, ...] = (
    Rule(
        "private-key-block",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?"
            r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)",
            re.DOTALL,
        ),
        ("private key",),
    ),
    Rule("url-password", re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:([^\s@/]+)@"), ("://",), 1),
    Rule(
        "slack-webhook",
        re.compile(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]+"),
        ("hooks.slack.com",),
    ),
    Rule("slack-token", re.compile(r"\bx(?:ox[abposrce]|app)-[A-Za-z0-9-]{8,}"), ("xox", "xapp-")),
    Rule("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"), ("eyj",)),
    # `Authorization: <scheme> <value>` or `Authorization: <value>`, any scheme (ApiKey, Token, …).
    Rule(
        "authorization-header",
        re.compile(
            r"(?i)\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?:[A-Za-z-]+\s+)?(?!\[REDACTED\])"
            r"([A-Za-z0-9._~+/=:-]{6,})"
        ),
        ("authorization",),
        1,
    ),
    # A scheme word followed by a credential-looking value (a digit in it, or 20+ characters).
    Rule(
        "auth-scheme",
        re.compile(
            r"(?i)\b(?:bearer|basic|token|apikey|api-key)\s+"
            r"((?=[A-Za-z._~+/=-]*\d|[A-Za-z0-9._~+/=-]{20})[A-Za-z0-9._~+/=-]{8,})"
        ),
        ("bearer", "basic", "token", "apikey", "api-key"),
        1,
    ),
    Rule(
        "token-shapes",
        re.compile(
            r"\b(?:sk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_-]{16,}|(?:AKIA|ASIA)[0-9A-Z]{16}"
            r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|glpat-[A-Za-z0-9_-]{20,}"
            r"|AIza[0-9A-Za-z_-]{35}|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}|hf_[A-Za-z0-9]{30,}"
            r"|npm_[A-Za-z0-9]{36}"
            r"|SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,})"
        ),
        (
            *("sk-", "akia", "asia", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "aiza"),
            *("_live_", "_test_", "hf_", "sg.", "npm_"),
        ),
    ),
    # key=value / key: value / "key": "value" for names that hold secrets.
    Rule(
        "secret-assignment",
        re.compile(
            rf"(?i)(?:{_CREDENTIAL_KEY_NAMES})[\"']?\s*(?:=|:|:=|=>)\s*[\"']?{_NOT_A_VALUE}"
            r"(?!\[REDACTED\])([^\s\"',;&}()\[\]]{3,}+)(?![(\[])"
        ),
        ("pass", "pwd", "secret", "key", "token"),
        1,
    ),
    Rule(
        "email",
        re.compile(r"(?<![\w.%+-])[A-Za-z0-9._%+-]++@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
        ("@",),
        accept=_not_url_userinfo,
    ),
    # Card numbers: a known issuer prefix, 13-19 digits (spaces or dashes between groups), Luhn.
    Rule(
        "card-number",
        # The pattern starts with a digit class (the engine skips to candidates) and looks behind after.
        re.compile(
            r"[2-6](?<![\w.:/-][2-6])(?:(?<=4)\d|(?<=5)[1-5]|(?<=2)[2-7]|(?<=3)[47]|(?<=6)[05])\d{2}"
            r"(?:[ -]?\d){9,15}(?![\w.:/-])"
        ),
        always=True,
        accept=_luhn,
    ),
)


def load_rules() -> tuple[Rule, ...]:
    """All rules: detect-secrets' provider patterns, then this module's own."""
    return (*_detect_secrets_rules(), *_OWN)
