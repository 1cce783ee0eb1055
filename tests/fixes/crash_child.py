"""Child process for the crash tests: run one apply and SIGKILL itself right after step K.

Usage: python -m tests.fixes.crash_child DATA_DIR REMOTE DATABASE_URL FIX_ID STEP [apply|revert]
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from core.store.db import make_engine, make_session_factory
from fixes.apply import run_apply, run_revert
from tests.fixes.sample import make_settings


def main(argv: list[str]) -> None:
    data_dir, remote, url, fix_id, stop_after, kind = argv
    settings = make_settings(Path(data_dir), remote)
    sessions = make_session_factory(make_engine(url))

    def stop(step: str) -> None:
        if step == stop_after:
            os.kill(os.getpid(), signal.SIGKILL)

    if kind == "revert":
        run_revert(settings, sessions, fix_id, actor="U0LOCALOPS", after_step=stop)
    else:
        run_apply(settings, sessions, fix_id, after_step=stop)
    raise SystemExit(f"step {stop_after!r} never happened")


if __name__ == "__main__":
    main(sys.argv[1:])
