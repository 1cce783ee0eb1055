"""A corpus for redaction: one realistic secret per provider, and ordinary log lines that hold none.

Secrets are generated (seeded, so every run sees the same) in each provider's real shape: prefix,
length and alphabet as the provider issues them. None is a live credential. Each sample is a log
line or code line as a service would write it, and the exact secret value that must not survive.
Ordinary lines carry what logs are full of and a redactor must leave alone: ids, hashes, UUIDs,
git shas, timestamps, durations, URLs without credentials, and words such as "token" or
"password" without a value.
"""

from __future__ import annotations

import base64
import json
import random
import string
import uuid
from dataclasses import dataclass

__all__ = ["SecretSample", "ordinary_lines", "secret_samples"]

_UPPER_DIGITS = string.ascii_uppercase + string.digits
_ALNUM = string.ascii_letters + string.digits
_HEX = "0123456789abcdef"
_B64 = string.ascii_letters + string.digits + "+/"
_URLSAFE = string.ascii_letters + string.digits + "-_"


@dataclass(frozen=True)
class SecretSample:
    """A line holding `secret` (issued by `provider`); redaction must remove every copy of it."""

    provider: str
    line: str
    secret: str


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, char in enumerate(reversed(body)):
        digit = int(char)
        if i % 2 == 0:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return body + str((10 - total % 10) % 10)


def _b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def secret_samples(seed: int = 14) -> list[SecretSample]:
    """One sample per provider or credential kind (44 of them)."""
    rng = random.Random(seed)

    def pick(alphabet: str, n: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))

    aws_id = "AKIA" + pick("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
    aws_secret = pick(_B64, 40)
    stripe = "sk_live_51" + pick(_ALNUM, 97)
    stripe_rk = "rk_live_51" + pick(_ALNUM, 97)
    openai_proj = "sk-proj-" + pick(_URLSAFE, 74) + "T3BlbkFJ" + pick(_URLSAFE, 74)
    openai_legacy = "sk-" + pick(_ALNUM, 20) + "T3BlbkFJ" + pick(_ALNUM, 20)
    anthropic = "sk-ant-api03-" + pick(_URLSAFE, 93) + "AA"
    slack_bot = f"xoxb-{pick(string.digits, 12)}-{pick(string.digits, 13)}-{pick(_ALNUM, 24)}"
    slack_user = (
        f"xoxp-{pick(string.digits, 12)}-{pick(string.digits, 12)}-{pick(string.digits, 13)}-{pick(_HEX, 32)}"
    )
    slack_app = f"xapp-1-A{pick(_UPPER_DIGITS, 10)}-{pick(string.digits, 13)}-{pick(_HEX, 64)}"
    webhook_path = f"T{pick(_UPPER_DIGITS, 10)}/B{pick(_UPPER_DIGITS, 10)}/{pick(_ALNUM, 24)}"
    ghp = "ghp_" + pick(_ALNUM, 36)
    github_pat = "github_pat_11" + pick(_UPPER_DIGITS, 20) + "_" + pick(_ALNUM, 59)
    gho = "gho_" + pick(_ALNUM, 36)
    glpat = "glpat-" + pick(_URLSAFE, 20)
    google = "AIza" + pick(_URLSAFE, 35)
    hf = "hf_" + pick(string.ascii_letters, 34)
    sendgrid = "SG." + pick(_URLSAFE, 22) + "." + pick(_URLSAFE, 43)
    twilio_key = "SK" + pick(_HEX, 32)
    twilio_token = pick(_HEX, 32)
    azure_key = pick(_B64, 86) + "=="
    apikey = pick(_ALNUM, 40)
    bearer = pick(_URLSAFE, 43)
    basic = base64.b64encode(f"deploy:{pick(_ALNUM, 16)}".encode()).decode()
    pg_password = pick(_ALNUM, 12) + "-" + pick(_ALNUM, 6)
    redis_password = pick(_ALNUM, 32)
    mongo_password = pick(_ALNUM, 20)
    jwt = ".".join(
        (
            _b64url({"alg": "HS256", "typ": "JWT"}),
            _b64url({"sub": str(uuid.UUID(int=rng.getrandbits(128))), "exp": 1798761600}),
            pick(_URLSAFE, 43),
        )
    )
    rsa_body = "\n".join(pick(_B64, 64) for _ in range(5))
    ssh_body = "\n".join(pick(_B64, 70) for _ in range(4))
    gcp_body = "\\n".join(pick(_B64, 64) for _ in range(3))
    email = f"{pick(string.ascii_lowercase, 6)}.{pick(string.ascii_lowercase, 8)}@example-corp.com"
    visa = _luhn_complete("4", 16, rng)
    mastercard = _luhn_complete("54", 16, rng)
    amex = _luhn_complete("37", 15, rng)
    npm = "npm_" + pick(_ALNUM, 36)
    pypi = "pypi-AgEIcHlwaS5vcmc" + pick(_URLSAFE, 120)
    discord = "M" + pick(_URLSAFE, 23) + "." + pick(_URLSAFE, 6) + "." + pick(_URLSAFE, 27)
    telegram = pick(string.digits, 10) + ":AA" + pick(_URLSAFE, 33)
    mailchimp = pick(_HEX, 32) + "-us14"
    square = "sq0csp-" + pick(_URLSAFE, 43)
    password = pick(_ALNUM, 10) + "!"
    client_secret = pick(_URLSAFE, 40)

    mc_spaced = " ".join(mastercard[i : i + 4] for i in range(0, 16, 4))
    return [
        SecretSample("aws-access-key-id", f"boto3 client created with key {aws_id} region=eu-west-1", aws_id),
        SecretSample("aws-secret-access-key", f'aws_secret_access_key = "{aws_secret}"', aws_secret),
        SecretSample(
            "stripe-secret-key",
            f"stripe.error.AuthenticationError: Invalid API Key provided: {stripe}",
            stripe,
        ),
        SecretSample("stripe-restricted-key", f"STRIPE_KEY={stripe_rk}", stripe_rk),
        SecretSample(
            "openai-project-key",
            f"openai.AuthenticationError: Incorrect API key provided: {openai_proj}",
            openai_proj,
        ),
        SecretSample("openai-legacy-key", f'client = OpenAI(api_key="{openai_legacy}")', openai_legacy),
        SecretSample("anthropic-api-key", f"x-api-key header was {anthropic} (rejected)", anthropic),
        SecretSample("slack-bot-token", f"slack_sdk: posting with {slack_bot}", slack_bot),
        SecretSample("slack-user-token", f"SLACK_USER_TOKEN={slack_user}", slack_user),
        SecretSample("slack-app-token", f"socket mode connect app_token {slack_app}", slack_app),
        SecretSample(
            "slack-webhook", f"POST https://hooks.slack.com/services/{webhook_path} failed: 404", webhook_path
        ),
        SecretSample("github-classic-pat", f"git clone https://{ghp}@github.com/acme/api.git", ghp),
        SecretSample("github-fine-grained-pat", f"GITHUB_TOKEN {github_pat} lacks scope repo", github_pat),
        SecretSample("github-oauth-token", f"oauth callback stored {gho} for user 4412", gho),
        SecretSample("gitlab-pat", f"gitlab api 401 for PRIVATE-TOKEN: {glpat}", glpat),
        SecretSample(
            "google-api-key",
            f"GET https://maps.googleapis.com/maps/api/geocode/json?key={google} 403",
            google,
        ),
        SecretSample("huggingface-token", f"huggingface_hub login with {hf} failed: 401", hf),
        SecretSample("sendgrid-api-key", f"sendgrid client init {sendgrid}", sendgrid),
        SecretSample("twilio-api-key", f"twilio: using API key {twilio_key} for account", twilio_key),
        SecretSample("twilio-auth-token", f"TWILIO_AUTH_TOKEN={twilio_token}", twilio_token),
        SecretSample(
            "azure-storage-connection-string",
            f"DefaultEndpointsProtocol=https;AccountName=acmeprod;AccountKey={azure_key};EndpointSuffix=core.windows.net",
            azure_key,
        ),
        SecretSample("authorization-apikey", f"outgoing headers: Authorization: ApiKey {apikey}", apikey),
        SecretSample(
            "authorization-bearer", f"{{'Authorization': 'Bearer {bearer}', 'Accept': '*/*'}}", bearer
        ),
        SecretSample("authorization-basic", f"request failed with Authorization: Basic {basic}", basic),
        SecretSample(
            "postgres-url",
            f"sqlalchemy connect postgresql://app:{pg_password}@db.internal:5432/prod",
            pg_password,
        ),
        SecretSample(
            "redis-url",
            f"redis.exceptions.ConnectionError for redis://:{redis_password}@cache:6379/0",
            redis_password,
        ),
        SecretSample(
            "mongodb-url",
            f"MONGO_URL=mongodb+srv://svc:{mongo_password}@cluster0.ab1cd.mongodb.net/app?retryWrites=true",
            mongo_password,
        ),
        SecretSample("jwt", f"decoded session cookie {jwt}", jwt),
        SecretSample(
            "rsa-private-key",
            f"-----BEGIN RSA PRIVATE KEY-----\n{rsa_body}\n-----END RSA PRIVATE KEY-----",
            rsa_body.splitlines()[2],
        ),
        SecretSample(
            "openssh-private-key",
            f"key file:\n-----BEGIN OPENSSH PRIVATE KEY-----\n{ssh_body}\n-----END OPENSSH PRIVATE KEY-----",
            ssh_body.splitlines()[1],
        ),
        SecretSample(
            "gcp-service-account",
            f'{{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\n{gcp_body}'
            f'\\n-----END PRIVATE KEY-----\\n"}}',
            gcp_body.split("\\n")[1],
        ),
        SecretSample("email-address", f"password reset sent to {email}", email),
        SecretSample("card-visa", f"charge declined for card {visa} amount=12.50", visa),
        SecretSample("card-mastercard", f"payment payload card_number: {mc_spaced}", mc_spaced),
        SecretSample("card-amex", f"card {amex} expired", amex),
        SecretSample("npm-token", f"//registry.npmjs.org/:_authToken={npm}", npm),
        SecretSample("pypi-token", f"twine upload -u __token__ -p {pypi}", pypi),
        SecretSample(
            "discord-bot-token",
            f"discord.errors.LoginFailure: Improper token has been passed: {discord}",
            discord,
        ),
        SecretSample(
            "telegram-bot-token", f"GET https://api.telegram.org/bot{telegram}/getUpdates 409", telegram
        ),
        SecretSample("mailchimp-api-key", f"mailchimp ping with {mailchimp} ok", mailchimp),
        SecretSample("square-oauth-secret", f"square oauth secret {square}", square),
        SecretSample(
            "password-assignment", f"login attempt user=bob password={password} from 10.2.3.4", password
        ),
        SecretSample(
            "client-secret-json", f'{{"client_id": "web", "client_secret": "{client_secret}"}}', client_secret
        ),
        SecretSample(
            "db-password-code", f'DATABASES = {{"default": {{"PASSWORD": "{pg_password}"}}}}', pg_password
        ),
    ]


def ordinary_lines(count: int, seed: int = 7) -> list[str]:
    """`count` log lines of a web service: variable parts of every usual kind, and no secret."""
    rng = random.Random(seed)

    def hexs(n: int) -> str:
        return "".join(rng.choice(_HEX) for _ in range(n))

    paths = ("/api/users", "/api/orders", "/healthz", "/api/v2/search", "/static/app.js", "/webhooks/stripe")
    shapes = (
        lambda: (
            f"{rng.choice(('GET', 'POST', 'PUT'))} {rng.choice(paths)}/{rng.randint(1, 99999)} "
            f"{rng.choice((200, 201, 204, 304, 404, 500))} in {rng.uniform(0.3, 900):.1f}ms"
        ),
        lambda: f"request_id={uuid.UUID(int=rng.getrandbits(128))} user_id={rng.randint(1, 10**6)} status=ok",
        lambda: f"deploy {hexs(40)} finished in {rng.randint(10, 600)}s (image sha256:{hexs(64)})",
        lambda: f"commit {hexs(7)} by alice: fix pagination; parent {hexs(40)}",
        lambda: (
            f"2026-11-29T04:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 999999):06d}Z "
            f"INFO worker: job {uuid.UUID(int=rng.getrandbits(128))} done after {rng.uniform(0, 9):.3f}s"
        ),
        lambda: f"cache miss key=user:{rng.randint(1, 99999)}:profile ttl={rng.randint(1, 3600)}",
        lambda: f"token refreshed for session {hexs(32)}; next refresh in {rng.randint(60, 3600)}s",
        lambda: f"password reset requested for user {rng.randint(1, 99999)} (rate limit 5/h)",
        lambda: (
            f"openai call model=gpt-4o max_tokens={rng.choice((256, 512, 1024))} "
            f"took {rng.randint(200, 9000)}ms"
        ),
        lambda: f"Authorization header missing on {rng.choice(paths)}; returning 401",
        lambda: (
            f"pod api-{hexs(9)}-{hexs(5)} on node ip-10-0-{rng.randint(0, 255)}-{rng.randint(0, 255)} ready"
        ),
        lambda: f"epoch_ms={rng.randint(1_700_000_000_000, 1_800_000_000_000)} seq={rng.randint(0, 10**9)}",
        lambda: f"order {rng.randint(10**15, 10**16 - 1)} placed, total 49.90 EUR, items=3",
        lambda: (
            f'etag W/"{hexs(16)}" blob {base64.b64encode(rng.randbytes(12)).decode()} '
            f"size={rng.randint(1, 10**7)}"
        ),
        lambda: f"GET https://api.example.com/v1/items?page={rng.randint(1, 50)}&per_page=100 -> 200",
        lambda: f"retrying in {rng.uniform(0.1, 5):.2f}s (attempt {rng.randint(1, 5)}/5): ReadTimeout",
        lambda: f'File "/app/services/billing.py", line {rng.randint(1, 900)}, in charge_customer',
        lambda: f"KeyError: 'api_key' while reading settings section {rng.choice(('slack', 'stripe'))}",
        lambda: f"Trace {hexs(32)} span {hexs(16)} duration={rng.randint(1, 10**6)}us",
        lambda: (
            f"uploaded s3://acme-prod-assets/{uuid.UUID(int=rng.getrandbits(128))}.png "
            f"in 0.{rng.randint(1, 999)}s"
        ),
    )
    return [rng.choice(shapes)() for _ in range(count)]
