"""What every log source shares: the read contract and the error tree.

A source is `read(cursor, limit) -> Batch`: the lines after `cursor` (a JSON-able dict the scanner
persists), at most about `limit` of them, the cursor to store once they are processed, and whether
more are waiting. A source never raises anything but `SourceError`; the scanner records the error,
keeps the old cursor and retries later with backoff.

Errors:
    SourceError
      ├── SourceUnavailable   cannot connect, timed out, 5xx, the command failed
      ├── SourceAuthError     401/403 or "Not Authorized": the token is missing or wrong
      ├── SourceRateLimited   429; `retry_after` seconds when the server said
      └── SourceBadResponse   the answer is not the expected JSON shape
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from monitoring.events import RawLine

__all__ = [
    "Batch",
    "LogSource",
    "SourceAuthError",
    "SourceBadResponse",
    "SourceError",
    "SourceRateLimited",
    "SourceUnavailable",
]


class SourceError(Exception):
    """Reading a log source failed; the message says which source and what to check."""


class SourceUnavailable(SourceError):
    """The source could not be reached or answered with a server error."""


class SourceAuthError(SourceError):
    """The source refused the credentials."""


class SourceRateLimited(SourceError):
    """The source asked us to slow down."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SourceBadResponse(SourceError):
    """The source answered with something that is not the documented shape."""


@dataclass(frozen=True)
class Batch:
    """Lines read after a cursor, the cursor after them, and whether more are waiting."""

    lines: list[RawLine]
    cursor: dict[str, Any]
    more: bool = False
    notes: list[str] = field(default_factory=list)


class LogSource(Protocol):
    """Anything that can read a service's log lines after a cursor."""

    spec: str

    def read(self, cursor: dict[str, Any], limit: int) -> Batch: ...
