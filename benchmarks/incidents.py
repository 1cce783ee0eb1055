"""Report: are the labelled incidents of realistic service logs found, and nothing else?

    python benchmarks/incidents.py [--seeds 5]

For each format (plain `logging`, structlog JSON, uvicorn's lines mixed with `logging`) and seed, a
110-minute log of a Python web service (tests/monitoring/service_logs.py: 70 minutes of steady
traffic, then ten labelled incidents over the steady traffic that goes on) is scanned with the
default thresholds. Printed per format: labelled incidents found with the right kind, missed ones,
and anomalies no label explains (false alarms: steady INFO traffic, routine durations, rare warnings).
There is no peer: no other tool reads these formats and reports these kinds.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core.settings import DetectorThresholds  # noqa: E402
from monitoring.detect import DetectorState  # noqa: E402
from monitoring.events import RawLine  # noqa: E402
from monitoring.pipeline import analyze  # noqa: E402
from tests.monitoring.service_logs import match_labels, service_log  # noqa: E402

NOW = datetime(2026, 10, 21, tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args(argv)
    failed = False
    print(f"{'format':<7} {'found':>9} {'missed':>7} {'false alarms':>13}")
    for fmt in ("plain", "json", "mixed"):
        found = missed = labelled = 0
        extras: list[str] = []
        for seed in range(1, args.seeds + 1):
            lines, labels = service_log(fmt, seed=seed)
            raw = [RawLine(text, number) for number, text in enumerate(lines, 1)]
            anomalies = analyze(raw, DetectorThresholds(), DetectorState(), now=NOW).anomalies
            missing, extra = match_labels(labels, anomalies)
            labelled += len(labels)
            found += len(labels) - len(missing)
            missed += len(missing)
            extras += [f"seed {seed}: {text}" for text in extra]
            extras += [f"seed {seed}: missed {label.kind} {label.needle!r}" for label in missing]
        print(f"{fmt:<7} {found:>4}/{labelled:<4} {missed:>7} {len(extras) - missed:>13}")
        for line in extras:
            print(f"        {line}")
        failed = failed or bool(extras)
    print("bar (every labelled incident found with its kind, no false alarm):", not failed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
