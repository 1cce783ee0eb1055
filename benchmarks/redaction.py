"""Redaction: recall on realistic secrets, false positives on ordinary lines, and lines/s — new vs previous.

    python benchmarks/redaction.py [--data ../shared/data/loghub] [--lines 200000]

Peer: the previous redactor (`benchmarks/redact_previous.py`, eight hand-written patterns applied in
seven passes), run in the same process on the same input.

- recall: of the corpus in `tests/monitoring/secret_corpus.py` (one secret per provider or kind),
  the share whose secret value no longer appears after redaction;
- false-positive rate: the share of ordinary lines that redaction changes at all — 10,000 real
  Loghub lines (Apache, HDFS, Linux, OpenSSH, Zookeeper) and 10,000 generated web-service lines
  (ids, hashes, UUIDs, git shas, timestamps, durations);
- speed: lines per CPU-second redacting `--lines` lines drawn from both sets plus 1 % secret lines, after one
  warm-up call (the first call builds the rule index; its cost is printed separately).

What it does not cover: secrets of providers outside the corpus, secrets split across lines other
than PEM blocks, or text that is not log-shaped (whole source files go through the same function).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.redact_previous import redact as previous_redact  # noqa: E402
from monitoring.redact import redact  # noqa: E402
from tests.monitoring.secret_corpus import ordinary_lines, secret_samples  # noqa: E402

DATASETS = ("Apache", "HDFS", "Linux", "OpenSSH", "Zookeeper")


def _loghub(data: Path) -> list[str]:
    lines: list[str] = []
    for name in DATASETS:
        path = data / name / f"{name}_2k.log"
        lines.extend(path.read_text(encoding="utf-8", errors="replace").splitlines())
    return lines


def _lines_per_second(function: Callable[[str], str], lines: list[str]) -> float:
    # CPU time of this process: the machine is shared, and both redactors are timed the same way.
    start = time.process_time()
    for line in lines:
        function(line)
    return len(lines) / (time.process_time() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "loghub")
    parser.add_argument("--lines", type=int, default=200_000)
    args = parser.parse_args()

    start = time.perf_counter()
    redact("warm-up")
    elapsed = time.perf_counter() - start
    print(f"new redactor first call (loads detect-secrets, builds the index): {elapsed:.2f} s")

    samples = secret_samples()
    real = _loghub(args.data)
    generated = ordinary_lines(10_000)
    print(
        f"corpus: {len(samples)} secrets; ordinary: {len(real)} Loghub + {len(generated)} generated lines\n"
    )

    results: dict[str, dict[str, float]] = {}
    for name, function in (("new", redact), ("previous", previous_redact)):
        missed = [s.provider for s in samples if s.secret in function(s.line)]
        fp_real = sum(function(line) != line for line in real)
        fp_generated = sum(function(line) != line for line in generated)
        results[name] = {
            "recall": 1 - len(missed) / len(samples),
            "fp_real": fp_real / len(real),
            "fp_generated": fp_generated / len(generated),
        }
        print(
            f"{name:9} recall {len(samples) - len(missed)}/{len(samples)} = {results[name]['recall']:.1%}"
            f"   false positives: Loghub {fp_real}/{len(real)} = {results[name]['fp_real']:.2%},"
            f" generated {fp_generated}/{len(generated)} = {results[name]['fp_generated']:.2%}"
        )
        if missed:
            print(f"          missed: {', '.join(missed)}")

    pool = real + generated
    secret_lines = [s.line for s in samples]
    mixed = [
        secret_lines[i % len(secret_lines)] if i % 100 == 0 else pool[(i * 7919) % len(pool)]
        for i in range(args.lines)
    ]
    speeds = {
        name: _lines_per_second(function, mixed)
        for name, function in (("new", redact), ("previous", previous_redact))
    }
    print(
        f"\nspeed on {len(mixed):,} lines (1 % with a secret): new {speeds['new']:,.0f} lines/s,"
        f" previous {speeds['previous']:,.0f} lines/s: {speeds['new'] / speeds['previous']:.2f}x"
    )


if __name__ == "__main__":
    main()
