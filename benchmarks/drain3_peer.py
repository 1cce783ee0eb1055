"""The Drain3 side of benchmarks/template_miner.py, run in Drain3's own interpreter.

Drain3 0.9.11 (the version the Loghub scores in ../shared/data/loghub/README.md were measured with)
pins `cachetools==4.2.1`, which conflicts with DSPy's requirement, so it cannot share the project's
environment. template_miner.py provisions a separate virtual environment and runs this script there.
It imports only Drain3 and the standard library.

    python drain3_peer.py accuracy SETTINGS_JSON MESSAGES_FILE   → JSON {ids, templates}: the cluster id
                                                                   and its final template, per line
    python drain3_peer.py timed SETTINGS_JSON MESSAGES_FILE      → JSON {seconds, clusters}
    python drain3_peer.py throughput SETTINGS_JSON PATH BUDGET   → JSON {lines, seconds, peak_rss_mb}
    python drain3_peer.py default - PATH BUDGET                  → the same with Drain3's default
                                                                   configuration (what `pip install
                                                                   drain3` gives; scan_throughput.py)
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any


def drain(settings: dict[str, object]) -> Any:
    from drain3 import TemplateMiner
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig

    config = TemplateMinerConfig()
    config.profiling_enabled = False
    config.drain_sim_th = float(settings["st"])  # type: ignore[arg-type]
    config.drain_depth = int(settings["depth"])  # type: ignore[call-overload]
    config.masking_instructions = [MaskingInstruction(r, "*") for r in settings["regex"]]  # type: ignore[attr-defined]
    config.mask_prefix = "<"
    config.mask_suffix = ">"
    return TemplateMiner(config=config)


def miner(settings: dict[str, object]) -> Callable[[str], int]:
    template_miner = drain(settings)
    return lambda message: template_miner.add_log_message(message)["cluster_id"]


def stream(add: Callable[[str], object], path: Path, budget: float) -> dict[str, float]:
    """Feed every line of `path` to `add`; lines, wall and CPU seconds, peak RSS (MB) of this process.

    Shared with template_miner.py's own child processes, so both miners are timed the same way.
    """
    lines = 0
    start = time.perf_counter()
    cpu = time.process_time()
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            add(line.rstrip("\n"))
            lines += 1
            # A slow miner stops after its time budget; its rate over what it read is still exact.
            if lines % 10_000 == 0 and time.perf_counter() - start > budget:
                break
    seconds = time.perf_counter() - start
    # CPU seconds as well: on a shared machine wall time depends on what else runs.
    cpu_seconds = time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"lines": float(lines), "seconds": seconds, "cpu_seconds": cpu_seconds, "peak_rss_mb": peak}


def default_miner() -> Callable[[str], int]:
    """Drain3 as a user gets it: `TemplateMiner()` with the default configuration, no masking."""
    from drain3 import TemplateMiner
    from drain3.template_miner_config import TemplateMinerConfig

    config = TemplateMinerConfig()
    config.profiling_enabled = False
    drain = TemplateMiner(config=config)
    return lambda message: drain.add_log_message(message)["cluster_id"]


def main(argv: list[str]) -> int:
    mode, settings_json, path = argv[0], argv[1], Path(argv[2])
    if mode in ("accuracy", "timed"):
        template_miner = drain(json.loads(settings_json))
        messages = json.loads(path.read_text(encoding="utf-8"))
        start = time.perf_counter()
        ids = [template_miner.add_log_message(m)["cluster_id"] for m in messages]
        seconds = time.perf_counter() - start
        if mode == "timed":
            print(json.dumps({"seconds": seconds, "clusters": len(set(ids))}))
            return 0
        final = {c.cluster_id: c.get_template() for c in template_miner.drain.clusters}
        print(json.dumps({"version": version("drain3"), "ids": ids, "templates": [final[i] for i in ids]}))
        return 0
    add = default_miner() if mode == "default" else miner(json.loads(settings_json))
    result = stream(add, path, float(argv[3]))
    print(json.dumps({**result, "version": version("drain3")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
