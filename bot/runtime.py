"""Wiring for `agent run`: migrate under a lock, start the parts, serve HTTP, stop cleanly."""

from __future__ import annotations

import logging
import sys

import uvicorn
from prometheus_client import CollectorRegistry

from bot.settings import Settings
from bot.store.db import check_database, make_engine, make_session_factory, upgrade_database
from bot.web import create_web_app
from monitoring.events import BOT_LOG_MARKER

__all__ = ["configure_logging", "serve"]

log = logging.getLogger(__name__)


def configure_logging() -> None:
    """Log to stdout: Railway marks every stderr line as an error.

    Every line carries `BOT_LOG_MARKER` ("[fixbot]") so that the scanner skips the bot's own lines
    even when the bot's logs are mixed into a monitored service's logs.
    """
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stdout,
        format=f"%(asctime)s %(levelname)s %(name)s: {BOT_LOG_MARKER} %(message)s",
    )


def serve(settings: Settings, *, host: str = "0.0.0.0") -> None:  # noqa: S104 - Railway needs all interfaces
    """Run the bot until SIGTERM/SIGINT."""
    configure_logging()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    log.info("migrating database (under lock)")
    upgrade_database(engine)
    # Applies a killed process left unfinished are settled before anything new starts (issue 4).
    from fixes.pipeline import reconcile_unfinished

    for report in reconcile_unfinished(settings, make_session_factory(engine), progress=log.info):
        log.info("reconciled %s: %s", report.fix_id, report.message)
    registry = CollectorRegistry()
    app = create_web_app(checks={"database": lambda: check_database(engine)}, registry=registry)
    log.info("serving on %s:%s", host, settings.port)
    uvicorn.run(app, host=host, port=settings.port, log_level="info", access_log=False)
