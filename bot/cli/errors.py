"""Plain one-line errors for the CLI: what failed and what to do; `--debug` shows the traceback.

`explain(exc)` maps the failures a user meets in the first week (database unreachable, tables not
created yet, git or a log source refusing) to a sentence; anything it does not know stays a
traceback, since that is a bug to report.
"""

from __future__ import annotations

import re

__all__ = ["explain"]


def explain(exc: BaseException) -> str | None:
    """One line for a known failure, or None."""
    name = type(exc).__name__
    module = type(exc).__module__
    text = str(exc)
    if module.startswith("sqlalchemy"):
        if re.search(r"no such table|relation .* does not exist|UndefinedTable", text):
            return (
                "the database has no tables yet: run `agent db upgrade` (or start `agent run`, "
                "which migrates) and try again"
            )
        if name == "OperationalError":
            first = text.splitlines()[0] if text else name
            if "unable to open database file" in text or "readonly database" in text:
                return (
                    f"cannot open or write the SQLite database ({first}); check data_dir and its permissions"
                )
            return (
                f"cannot reach the database ({_short(first)}); check DATABASE_URL and that the "
                "server is running and reachable from here"
            )
        return f"database error: {_short(text.splitlines()[0] if text else name)}"
    if module.startswith(("fixes.", "monitoring.", "core.")) and text:
        return _short(text)
    return None


def _short(text: str) -> str:
    text = re.sub(r"\(Background on this error at: [^)]*\)", "", text).strip()
    text = re.sub(r"^\((?:psycopg|sqlite3)[\w.]*\) ", "", text)
    return text if len(text) <= 300 else text[:299] + "…"
