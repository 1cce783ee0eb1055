"""Short state labels for a proposal, shared by Slack messages and the CLI (pure).

The stored status is the lifecycle's (`core.store.lifecycle`); what people read adds two facts the
status alone hides: a proposal without code is a *report*, not something to approve, and a pushed
fix whose deploy was watched to an end without a verdict says so instead of "waiting" forever.
"""

from __future__ import annotations

__all__ = ["UNFOLLOWED", "state_label"]

# deploy_status recorded on a pushed fix whose watch ended without a verdict → what it means.
UNFOLLOWED = {
    "UNWATCHED": "deploy not followed",
    "ERROR": "deploy not followed",
    "TIMEOUT": "deploy not confirmed in time",
    "REMOVED": "deploy not confirmed",
}


def state_label(status: str, *, has_fix: bool = True, deploy_status: str = "") -> str:
    """`report` for a proposal without code, `pushed — deploy not followed`, else the status."""
    if status == "proposed" and not has_fix:
        return "report"
    if status == "pushed" and deploy_status in UNFOLLOWED:
        return f"pushed — {UNFOLLOWED[deploy_status]}"
    return status
