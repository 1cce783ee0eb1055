"""Errors of pull-request delivery, translated from the hosting API's answers at the seam.

```
DeliveryError
  ├── HostingUnavailable   the API could not be reached (network, timeout, 5xx)
  └── HostingError         the API answered with an error (status and GitHub's message kept)
        ├── RateLimited         403/429 with Retry-After or an exhausted x-ratelimit-remaining
        ├── NotMergeable        405 on merge: checks, reviews or branch protection say no
        ├── HeadChanged         409 on merge: the branch head is not the sha the bot validated
        └── PullAlreadyExists   422 "A pull request already exists" on create
```
"""

from __future__ import annotations

__all__ = [
    "DeliveryError",
    "HeadChanged",
    "HostingError",
    "HostingUnavailable",
    "NotMergeable",
    "PullAlreadyExists",
    "RateLimited",
]


class DeliveryError(Exception):
    """Base of the delivery errors; the message says what failed and what to do next."""


class HostingUnavailable(DeliveryError):
    """The hosting API did not answer usefully (connection, timeout, server error)."""


class HostingError(DeliveryError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class RateLimited(HostingError):
    def __init__(self, status: int, message: str, retry_after: float) -> None:
        super().__init__(status, message)
        self.retry_after = retry_after


class NotMergeable(HostingError):
    pass


class HeadChanged(HostingError):
    pass


class PullAlreadyExists(HostingError):
    pass
