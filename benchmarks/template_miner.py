"""Benchmark: our template miner against Drain3 on Loghub, accuracy and throughput in one run.

    python benchmarks/template_miner.py [--data ../shared/data/loghub] [--lines 1000000]

1. Grouping Accuracy (Zhu et al. 2019) on the five Loghub 2k sets, scored against the
   `*_structured_corrected.csv` truth grouped by EventTemplate. Both miners get the same message
   part (`<Content>`, split off with the dataset's Loghub header format). Drain3 runs with the
   Loghub benchmark's masking regexes and its per-dataset similarity/depth; ours with its one
   fixed configuration.
2. Throughput: a file of `--lines` messages made by cycling the five logs' messages (written to a
   temporary directory, never into the repository). Each miner runs in its own child process that
   streams the file; it reports lines per second and its peak RSS.

The data is located relative to the repository root (`../shared/data/loghub`) unless `--data` says
otherwise; it is read in place and never copied into the repository.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from drain3_peer import stream  # noqa: E402 - same directory: the shared timing loop

from monitoring.headers import HeaderFormat  # noqa: E402
from monitoring.masking import mask  # noqa: E402
from monitoring.templates import TemplateMiner  # noqa: E402

_DIGIT = re.compile(r"\d")

# The Loghub benchmark settings for Drain (logparser/benchmark/Drain_benchmark.py).
DATASETS: dict[str, dict[str, object]] = {
    "HDFS": {
        "format": "<Date> <Time> <Pid> <Level> <Component>: <Content>",
        "regex": [r"blk_-?\d+", r"(\d+\.){3}\d+(:\d+)?"],
        "st": 0.5,
        "depth": 4,
    },
    "Apache": {
        "format": r"\[<Time>\] \[<Level>\] <Content>",
        "regex": [r"(\d+\.){3}\d+"],
        "st": 0.5,
        "depth": 4,
    },
    "OpenSSH": {
        "format": r"<Date> <Day> <Time> <Component> sshd\[<Pid>\]: <Content>",
        "regex": [r"(\d+\.){3}\d+", r"([\w-]+\.){2,}[\w-]+"],
        "st": 0.6,
        "depth": 5,
    },
    "Zookeeper": {
        "format": r"<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>",
        "regex": [r"(/|)(\d+\.){3}\d+(:\d+)?"],
        "st": 0.5,
        "depth": 4,
    },
    "Linux": {
        "format": r"<Month> <Date> <Time> <Level> <Component>(\[<PID>\])?: <Content>",
        "regex": [r"(\d+\.){3}\d+", r"\d{2}:\d{2}:\d{2}"],
        "st": 0.39,
        "depth": 6,
    },
}


def load(data: Path, name: str) -> tuple[list[str], list[str]]:
    """(messages, truth templates) for one dataset, line by line."""
    header = HeaderFormat.compile(str(DATASETS[name]["format"]))
    raw = (data / name / f"{name}_2k.log").read_bytes().decode("utf-8", "replace").splitlines()
    messages = [header.content(line) for line in raw]
    with (data / name / f"{name}_2k.log_structured_corrected.csv").open(newline="") as handle:
        truth = [row["EventTemplate"] for row in csv.DictReader(handle)]
    if len(truth) != len(messages):
        raise SystemExit(f"{name}: {len(messages)} log lines but {len(truth)} truth rows")
    return messages, truth


def grouping_accuracy(truth: Sequence[str], predicted: Sequence[object]) -> float:
    """Share of lines whose predicted group holds exactly the lines of their true group."""
    true_groups: dict[str, set[int]] = defaultdict(set)
    pred_groups: dict[object, set[int]] = defaultdict(set)
    for index, (t, p) in enumerate(zip(truth, predicted, strict=True)):
        true_groups[t].add(index)
        pred_groups[p].add(index)
    correct = sum(
        len(members) for members in pred_groups.values() if true_groups[truth[next(iter(members))]] == members
    )
    return correct / len(truth)


def ours(messages: Sequence[str]) -> list[int]:
    miner = TemplateMiner()
    ids = [miner.add(message).id for message in messages]
    # Groups merged later answer to the id of the group they joined.
    return [group.id if (group := miner.resolve(i)) else i for i in ids]


# For the mixed throughput file Drain3 gets every Loghub mask of the five sets, depth 4, st 0.5.
MIXED: dict[str, object] = {
    "regex": sorted({r for settings in DATASETS.values() for r in settings["regex"]}),  # type: ignore[attr-defined]
    "st": 0.5,
    "depth": 4,
}


DRAIN3_VERSION = "0.9.11"
PEER = Path(__file__).resolve().parent / "drain3_peer.py"


def peer_python(explicit: Path | None) -> Path:
    """An interpreter with Drain3 0.9.11 and its own pins; provisioned once under benchmarks/.peer."""
    if explicit is not None:
        return explicit
    venv = Path(__file__).resolve().parent / ".peer" / f"drain3-{DRAIN3_VERSION}"
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"provisioning the Drain3 {DRAIN3_VERSION} peer in {venv} (its pins conflict with DSPy's)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                f"drain3=={DRAIN3_VERSION}",
            ],
            check=True,
        )
    return python


def run_peer(python: Path, *args: str) -> dict[str, object]:
    out = subprocess.run([str(python), str(PEER), *args], capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def accuracy(data: Path, python: Path) -> list[tuple[str, float, float]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in DATASETS:
            messages, truth = load(data, name)
            path = Path(tmp) / f"{name}.json"
            path.write_text(json.dumps(messages), encoding="utf-8")
            settings = {key: DATASETS[name][key] for key in ("regex", "st", "depth")}
            drain = run_peer(python, "accuracy", json.dumps(settings), str(path))
            rows.append(
                (
                    name,
                    grouping_accuracy(truth, ours(messages)),
                    grouping_accuracy(truth, drain["ids"]),  # type: ignore[arg-type]
                )
            )
    return rows


def child(kind: str, path: Path, budget: float) -> None:
    """Stream `path` through one miner; print {"lines", "seconds", "peak_rss_mb"} as JSON."""
    if kind == "ours":
        add: Callable[[str], object] = TemplateMiner().add
    else:
        # Our miner without its digit-key cache: every line goes through the masking regexes.
        miner = TemplateMiner()
        add = lambda line: miner._lookup(mask(line))  # noqa: E731
    print(json.dumps(stream(add, path, budget)))


def run_child(kind: str, path: Path, budget: float) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", kind, str(path), "--budget", str(budget)]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def throughput(data: Path, lines: int, budget: float, python: Path) -> list[dict[str, float]]:
    pool = [m.replace("\n", " ") for name in DATASETS for m in load(data, name)[0]]
    # Every digit is redrawn at random so that the file is not 100 copies of 10,000 lines: the same
    # statements with new values, as in a real log (no cache can simply remember whole lines).
    rng = random.Random(20261020)
    digits = "0123456789"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "messages.log"
        with path.open("w", encoding="utf-8") as handle:
            for index in range(lines):
                message = pool[index % len(pool)]
                handle.write(_DIGIT.sub(lambda _: rng.choice(digits), message) + "\n")
        drain = run_peer(python, "throughput", json.dumps(MIXED), str(path), str(budget))
        return [
            run_child("ours", path, budget),
            {k: float(v) for k, v in drain.items() if k != "version"},  # type: ignore[arg-type]
            run_child("ours-masking-every-line", path, budget),
        ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "loghub")
    parser.add_argument("--lines", type=int, default=1_000_000, help="messages in the throughput file")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument(
        "--budget", type=float, default=60.0, help="seconds each miner may run on the throughput file"
    )
    parser.add_argument(
        "--drain3-python",
        type=Path,
        default=None,
        help=f"an interpreter with drain3=={DRAIN3_VERSION} (default: provisioned under benchmarks/.peer)",
    )
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], Path(args.child[1]), args.budget)
        return 0
    if not (args.data / "HDFS").is_dir():
        raise SystemExit(f"Loghub data not found at {args.data}; pass --data PATH")
    python = peer_python(args.drain3_python)
    rows = accuracy(args.data, python)
    print(f"peer: Drain3 {DRAIN3_VERSION} with the Loghub benchmark's per-dataset settings ({python})")
    print(f"{'dataset':<10} {'ours GA':>8} {'Drain3 GA':>10} {'diff':>7}")
    for name, mine, theirs in rows:
        print(f"{name:<10} {mine:8.4f} {theirs:10.4f} {mine - theirs:+7.4f}")
    avg_ours = sum(r[1] for r in rows) / len(rows)
    avg_drain = sum(r[2] for r in rows) / len(rows)
    print(f"{'average':<10} {avg_ours:8.4f} {avg_drain:10.4f} {avg_ours - avg_drain:+7.4f}")
    worst = min(r[1] - r[2] for r in rows)
    print(f"GA bar (avg >= 0.95, no dataset > 0.01 below Drain3): {avg_ours >= 0.95 and worst >= -0.01}")
    if args.skip_throughput:
        return 0
    mine, theirs, uncached = throughput(args.data, args.lines, args.budget, python)
    ours_lps = mine["lines"] / mine["seconds"]
    drain_lps = theirs["lines"] / theirs["seconds"]
    print(
        f"throughput on a {args.lines:,}-line file: "
        f"ours {ours_lps:,.0f} lines/s over {mine['lines']:,.0f} lines, "
        f"Drain3 {drain_lps:,.0f} lines/s over {theirs['lines']:,.0f} lines"
    )
    print(f"speed ratio ours/Drain3: {ours_lps / drain_lps:.1f}x (bar >= 5x)")
    slow_lps = uncached["lines"] / uncached["seconds"]
    print(
        f"without the digit-key cache (masking every line): {slow_lps:,.0f} lines/s, "
        f"{slow_lps / drain_lps:.1f}x Drain3"
    )
    print(
        f"peak RSS: ours {mine['peak_rss_mb']:.0f} MB (bar <= 150 MB), Drain3 {theirs['peak_rss_mb']:.0f} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
