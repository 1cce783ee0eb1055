"""One JSON object per log record, for Railway's log explorer (`log_json = true`).

Railway parses a stdout line that is one JSON object as a structured log: `level` becomes the
severity (so warnings and errors are not all shown as errors), other keys become filterable
attributes, and a traceback stays inside its record instead of arriving as separate lines. The
message keeps the bot's marker, so a scan of mixed logs still skips the bot's own lines.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

__all__ = ["JsonFormatter"]

_LEVELS = {"WARNING": "warn", "CRITICAL": "error"}


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message"[, "traceback"]}` on a single line."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": _LEVELS.get(record.levelname, record.levelname.lower()),
            "logger": record.name,
            "message": f"{self.marker} {record.getMessage()}",
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
