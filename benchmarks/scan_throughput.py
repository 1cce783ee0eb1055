"""Benchmark: the whole scan as a user runs it, against Drain3 fed the same lines, in one run.

    python benchmarks/scan_throughput.py                      # 1,000,000 lines, plain format
    python benchmarks/scan_throughput.py --lines 200000 --format mixed
    python benchmarks/scan_throughput.py --lines 10000000 --no-peer   # peak RSS at 10M lines

1. A realistic log of a Python web service is generated, streamed to a temporary file (never held in
   memory): uvicorn access lines, `logging` lines with word variables drawn from pools of 20,000
   made-up words (user names, cities, tenants, hosts, jobs), ids, paths, query strings, lognormal
   durations, now and then a traceback. Formats: plain `logging`, structlog JSON, or uvicorn's own
   lines mixed with `logging` (tests/monitoring/service_logs.py).
2. Ours: `agent scan --once --json --source file:PATH` in a child process, timed from its start
   to its exit (interpreter start-up, imports, read → parse → redact → mine → detect, JSON out).
   Its peak RSS comes from `wait4`.
3. Drain3 0.9.11 with its default configuration (`TemplateMiner()`, what `pip install drain3`
   gives), in its own interpreter (benchmarks/drain3_peer.py; provisioned as template_miner.py
   does), fed every line of the same file; timed inside its process (its start-up is not counted,
   ours is). Drain3 only groups lines: it does not parse, fold tracebacks, redact or detect.

The ratio printed is ours / Drain3 in lines per second. Bars: ≥ 1× (aim 2×); peak RSS ≤ 200 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from template_miner import DRAIN3_VERSION, PEER, peer_python  # noqa: E402 - same directory

from tests.monitoring.service_logs import KEYERROR, steady_lines  # noqa: E402

POOL = 20_000


def write_log(path: Path, fmt: str, lines: int, seed: int = 20261020) -> int:
    """Stream `lines` lines of steady service traffic (a traceback every ~5,000 lines) to `path`."""
    rng = random.Random(seed)
    written = 0
    with path.open("w", encoding="utf-8") as handle:
        for line in steady_lines(fmt, lines, seed=seed, pool=POOL):
            handle.write(line + "\n")
            written += 1
            if rng.random() < 0.0002 and fmt != "json":
                stamp = line[:23] if line[:1].isdigit() else "2026-10-20 00:00:00,000"
                handle.write(f"{stamp} ERROR app.api: unhandled error in request handler\n")
                handle.write("\n".join(KEYERROR) + "\n")
                written += 1 + len(KEYERROR)
    return written


def run_ours(path: Path) -> dict[str, float]:
    """`agent scan --once --json` on the file: wall seconds, peak RSS (MB), anomalies found."""
    agent = Path(sys.executable).parent / "agent"
    env = {k: v for k, v in os.environ.items() if k != "AGENT_CONFIG"}
    with tempfile.TemporaryDirectory() as cwd, (Path(cwd) / "out.json").open("w+") as out:
        start = time.perf_counter()
        process = subprocess.Popen(
            [str(agent), "scan", "--once", "--json", "--source", f"file:{path}"], stdout=out, cwd=cwd, env=env
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            raise SystemExit(f"agent scan failed with exit code {process.returncode}")
        out.seek(0)
        anomalies = json.load(out)
    return {
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "anomalies": float(len(anomalies)),
    }


def run_drain3(python: Path, path: Path, budget: float) -> dict[str, float]:
    out = subprocess.run(
        [str(python), str(PEER), "default", "-", str(path), str(budget)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {k: float(v) for k, v in result.items() if k != "version"}


def _rates(lines: float, result: dict[str, float]) -> str:
    return (
        f"{lines / result['cpu_seconds']:,.0f} lines per CPU second ({result['cpu_seconds']:.1f} s CPU), "
        f"{lines / result['seconds']:,.0f} lines/s wall ({result['seconds']:.1f} s)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--format", choices=("plain", "json", "mixed"), default="plain")
    parser.add_argument("--budget", type=float, default=600.0, help="seconds Drain3 may run")
    parser.add_argument("--no-peer", action="store_true", help="measure ours only (the 10M-line RSS run)")
    parser.add_argument(
        "--drain3-python", type=Path, default=None, help=f"an interpreter with drain3=={DRAIN3_VERSION}"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "service.log"
        started = time.perf_counter()
        lines = write_log(path, args.format, args.lines)
        size = path.stat().st_size / 1e6
        took = time.perf_counter() - started
        print(f"log: {lines:,} lines, {size:,.0f} MB, {args.format} format, generated in {took:.0f} s")
        ours = run_ours(path)
        print(
            f"ours   agent scan --once --json: {_rates(lines, ours)}, "
            f"peak RSS {ours['peak_rss_mb']:.0f} MB (bar <= 200 MB), {ours['anomalies']:.0f} anomalies"
        )
        if args.no_peer:
            return 0
        drain = run_drain3(peer_python(args.drain3_python), path, args.budget)
        print(
            f"Drain3 {DRAIN3_VERSION} default TemplateMiner, {drain['lines']:,.0f} lines: "
            f"{_rates(drain['lines'], drain)}, peak RSS {drain['peak_rss_mb']:.0f} MB"
        )
        by_cpu = (lines / ours["cpu_seconds"]) / (drain["lines"] / drain["cpu_seconds"])
        by_wall = (lines / ours["seconds"]) / (drain["lines"] / drain["seconds"])
        print(
            f"ratio ours/Drain3, lines per CPU second {by_cpu:.2f}x (bar >= 1x, aim 2x), wall {by_wall:.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
