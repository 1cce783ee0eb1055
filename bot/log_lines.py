"""Every line the bot writes carries `BOT_LOG_MARKER`, so no scan of its log mistakes it for the service's.

A log record can span lines: a traceback, or a message holding text from outside (a Slack command,
a model's answer, an exception's message). Only the first line would carry the marker of a plain
`%(message)s` format, and the scanner would read the others as the service's own output, turning
an attacker's text into an incident. `MarkedFormatter` puts the marker on every line; lines are
split the way `str.splitlines` splits them (`\\r`, form feeds and Unicode separators too), since a
log reader may split on any of them. `route_uncaught_to_logging` sends what would otherwise reach
stderr unformatted (uncaught exceptions in the main thread and in threads, `warnings`) through it.
"""

from __future__ import annotations

import logging
import sys
import threading
from types import TracebackType

from monitoring.events import BOT_LOG_MARKER

__all__ = ["LOG_FORMAT", "MarkedFormatter", "route_uncaught_to_logging"]

LOG_FORMAT = f"%(asctime)s %(levelname)s %(name)s: {BOT_LOG_MARKER} %(message)s"

log = logging.getLogger("bot.uncaught")


class MarkedFormatter(logging.Formatter):
    """A formatter whose every output line, continuation lines included, bears the marker."""

    def format(self, record: logging.LogRecord) -> str:
        lines = super().format(record).splitlines()
        if not lines:
            return BOT_LOG_MARKER
        head = lines[0] if BOT_LOG_MARKER in lines[0] else f"{BOT_LOG_MARKER} {lines[0]}"
        return "\n".join([head, *(f"{BOT_LOG_MARKER} {line}" for line in lines[1:])])


def _log_uncaught(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    log.critical("uncaught %s", kind.__name__, exc_info=(kind, value, tb))


def _log_thread_uncaught(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None:
        return
    name = args.thread.name if args.thread is not None else "?"
    log.error("uncaught %s in thread %s", args.exc_type.__name__, name, exc_info=args.exc_value)


def route_uncaught_to_logging() -> None:
    """Uncaught exceptions (main thread and threads) and warnings go through logging."""
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_thread_uncaught
    logging.captureWarnings(True)
