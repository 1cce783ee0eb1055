"""Child process: apply a fix in pull-request mode and SIGKILL itself right after the push.

Usage: python -m tests.fixes.pr_crash_child DATA_DIR REMOTE DATABASE_URL FIX_ID API_URL
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from core.store.db import make_engine, make_session_factory
from fixes.apply import run_apply
from tests.fixes.pr_support import pr_settings


def main(argv: list[str]) -> None:
    data_dir, remote, url, fix_id, api_url = argv
    settings = pr_settings(Path(data_dir), remote, api_url)
    sessions = make_session_factory(make_engine(url))

    def stop(step: str) -> None:
        if step == "push":  # the branch is on the remote; the pull request is not opened yet
            os.kill(os.getpid(), signal.SIGKILL)

    run_apply(settings, sessions, fix_id, after_step=stop)
    raise SystemExit("the push step never happened")


if __name__ == "__main__":
    main(sys.argv[1:])
