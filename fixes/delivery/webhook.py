"""GitHub webhook deliveries: signature check and which fix an event is about. Pure.

GitHub signs the raw body with HMAC-SHA256 under the webhook's secret and sends
`X-Hub-Signature-256: sha256=<hex>`; it is compared in constant time over the exact bytes received.
An event only prompts a poll of that fix's pull request (`fixes.delivery.follow`), so a replayed
delivery costs one conditional read and changes nothing by itself.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from fixes.delivery.pull_request import BRANCH_PREFIX

__all__ = ["fix_id_of_event", "sign", "verify_signature"]


def sign(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for `body` (tests use it to sign deliveries)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str) -> bool:
    """True when `header` is the HMAC-SHA256 of `body` under `secret` (constant-time compare)."""
    if not secret or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())


def _fix_of_branch(branch: object) -> str | None:
    if not isinstance(branch, str) or not branch.startswith(BRANCH_PREFIX):
        return None
    rest = branch[len(BRANCH_PREFIX) :]
    return rest.removeprefix("revert-") or None


def fix_id_of_event(event: str, payload: Mapping[str, Any]) -> str | None:
    """The fix id whose branch (fixbot/<fix_id>) the event concerns, or None."""
    if event in {"pull_request", "pull_request_review"}:
        return _fix_of_branch(((payload.get("pull_request") or {}).get("head") or {}).get("ref"))
    if event == "check_suite":
        return _fix_of_branch((payload.get("check_suite") or {}).get("head_branch"))
    if event == "check_run":
        return _fix_of_branch(((payload.get("check_run") or {}).get("check_suite") or {}).get("head_branch"))
    if event == "status":
        for branch in payload.get("branches") or []:
            found = _fix_of_branch((branch or {}).get("name"))
            if found:
                return found
    return None
