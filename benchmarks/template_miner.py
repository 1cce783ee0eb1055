"""Benchmark: our template miner against Drain3, accuracy and speed in one run.

    python benchmarks/template_miner.py [--data ../shared/data/loghub] [--lines 1000000]

1. Grouping accuracy (GA, Zhu et al. 2019) and parsing accuracy (PA: the share of lines whose
   template is exactly the true one, after both sides collapse runs of `<*>` separated only by
   spaces) on labelled sets split in two:
   - tuning (what the one configuration was chosen on): Loghub HDFS, OpenSSH, Linux; the generated
     `python-service`, `word-variables` and `varying-lengths`; lines made from the real templates
     of Loghub Proxifier, HPC, OpenStack, BGL, Mac and Thunderbird;
   - hold-out (scores looked at, failures not studied): Loghub Apache and Zookeeper; the generated
     `uvicorn-access`; lines made from the real templates of Loghub Spark, Windows, HealthApp,
     Hadoop and Android;
   - with `--samples DIR`: real labelled lines of other sets (Loghub-style structured CSVs, whole or
     partial, named `<System>.csv`), scored as a third split and averaged on their own.
   The Loghub sets are scored against `*_structured_corrected.csv` grouped by EventTemplate; the
   others are described in benchmarks/log_shapes.py. Drain3 runs with the Loghub benchmark's
   per-dataset masking, similarity and depth (logparser's Drain benchmark settings) where there
   are such settings, and with the five Loghub sets' masks, depth 4, st 0.5 on generated logs.
   Ours runs with its one fixed configuration everywhere.
2. The quadratic case: 10,000 lines of one statement with three word variables, both miners timed.
3. Throughput: a file of `--lines` messages generated fresh (every value drawn anew, no line
   repeated by construction) from all the labelled shapes, written to a temporary directory. Each
   miner runs in its own child process that streams the file; it reports lines per second and its
   peak RSS. This times the miner alone, not a whole scan.

The Loghub data is located relative to the repository root (`../shared/data/loghub`) unless `--data`
says otherwise; it is read in place and never copied into the repository.
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
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import log_shapes  # noqa: E402 - same directory: the labelled generated sets
from drain3_peer import stream  # noqa: E402 - same directory: the shared timing loop

from monitoring.headers import HeaderFormat  # noqa: E402
from monitoring.masking import mask  # noqa: E402
from monitoring.templates import TemplateMiner  # noqa: E402

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


# logparser's Drain benchmark settings for the Loghub systems whose templates benchmarks/log_shapes.py uses.
TEMPLATE_SETS: dict[str, dict[str, object]] = {
    "Proxifier": {
        "regex": [r"<\d+\ssec", r"([\w-]+\.)+[\w-]+(:\d+)?", r"\d{2}:\d{2}(:\d{2})*", r"[KGTM]B"],
        "st": 0.6,
        "depth": 3,
    },
    "Spark": {"regex": [r"(\d+\.){3}\d+", r"\b[KGTM]?B\b", r"([\w-]+\.){2,}[\w-]+"], "st": 0.5, "depth": 4},
    "HPC": {"regex": [r"=\d+"], "st": 0.5, "depth": 4},
    "OpenStack": {"regex": [r"((\d+\.){3}\d+,?)+", r"/.+?\s", r"\d+"], "st": 0.5, "depth": 5},
    "Windows": {"regex": [r"0x.*?\s"], "st": 0.7, "depth": 5},
    "HealthApp": {"regex": [], "st": 0.2, "depth": 4},
    "Hadoop": {"regex": [r"(\d+\.){3}\d+"], "st": 0.5, "depth": 4},
    "BGL": {"regex": [r"core\.\d+"], "st": 0.5, "depth": 4},
    "Mac": {"regex": [r"([\w-]+\.){2,}[\w-]+"], "st": 0.7, "depth": 6},
    "Thunderbird": {"regex": [r"(\d+\.){3}\d+"], "st": 0.5, "depth": 4},
    "Android": {
        "regex": [
            r"(/[\w-]+)+",
            r"([\w-]+\.){2,}[\w-]+",
            r"\b(\-?\+?\d+)\b|\b0[Xx][a-fA-F\d]+\b|\b[a-fA-F\d]{4,}\b",
        ],
        "st": 0.2,
        "depth": 6,
    },
}

TUNING = (
    "HDFS",
    "OpenSSH",
    "Linux",
    "python-service",
    "word-variables",
    "varying-lengths",
    "loghub-templates:Proxifier",
    "loghub-templates:HPC",
    "loghub-templates:OpenStack",
    "loghub-templates:BGL",
    "loghub-templates:Mac",
    "loghub-templates:Thunderbird",
)
HOLD_OUT = (
    "Apache",
    "Zookeeper",
    "uvicorn-access",
    "loghub-templates:Spark",
    "loghub-templates:Windows",
    "loghub-templates:HealthApp",
    "loghub-templates:Hadoop",
    "loghub-templates:Android",
)

_RUNS = re.compile(r"<\*>(?:\s+<\*>)+")


def canonical(template: str) -> str:
    """A template with runs of `<*>` separated only by spaces as one `<*>`, spaces normalised."""
    return _RUNS.sub("<*>", " ".join(template.split()))


def parsing_accuracy(truth: Sequence[str], predicted: Sequence[str]) -> float:
    """Share of lines whose template is exactly the true one (compared in `canonical` form)."""
    return sum(canonical(t) == canonical(p) for t, p in zip(truth, predicted, strict=True)) / len(truth)


def ours(messages: Sequence[str]) -> tuple[list[int], list[str]]:
    """Group ids and final templates, one per message."""
    miner = TemplateMiner()
    ids = [miner.add(message).id for message in messages]
    # Groups merged later answer to the id of the group they joined.
    groups = [miner.resolve(i) for i in ids]
    return [g.id if g else i for g, i in zip(groups, ids, strict=True)], [
        g.template if g else "" for g in groups
    ]


# For generated logs Drain3 gets every Loghub mask of the five sets, depth 4, st 0.5.
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


def labelled(data: Path, name: str) -> tuple[list[str], list[str], dict[str, object]]:
    """(messages, truth, Drain3 settings) of one labelled set."""
    if name.startswith("sample:"):
        path = Path(name.partition(":")[2])
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        settings = DATASETS.get(path.stem) or TEMPLATE_SETS.get(path.stem, MIXED)
        return (
            [row["Content"] for row in rows],
            [row["EventTemplate"] for row in rows],
            {key: settings[key] for key in ("regex", "st", "depth")},
        )
    if name in DATASETS:
        messages, truth = load(data, name)
        return messages, truth, {key: DATASETS[name][key] for key in ("regex", "st", "depth")}
    messages, truth = log_shapes.generate(name)
    system = name.partition(":")[2]
    return messages, truth, TEMPLATE_SETS.get(system, MIXED)


@dataclass(frozen=True)
class Score:
    name: str
    split: str
    ga: float
    pa: float
    drain_ga: float
    drain_pa: float


def accuracy(data: Path, python: Path, samples: Path | None = None) -> list[Score]:
    scores = []
    splits: list[tuple[str, Sequence[str]]] = [("tuning", TUNING), ("hold-out", HOLD_OUT)]
    if samples is not None:
        splits.append(("samples", [f"sample:{path}" for path in sorted(samples.glob("*.csv"))]))
    with tempfile.TemporaryDirectory() as tmp:
        for split, names in splits:
            for name in names:
                messages, truth, settings = labelled(data, name)
                path = Path(tmp) / "messages.json"
                path.write_text(json.dumps(messages), encoding="utf-8")
                drain = run_peer(python, "accuracy", json.dumps(settings), str(path))
                ids, templates = ours(messages)
                scores.append(
                    Score(
                        f"{Path(name[7:]).stem} (sample)" if name.startswith("sample:") else name,
                        split,
                        grouping_accuracy(truth, ids),
                        parsing_accuracy(truth, templates),
                        grouping_accuracy(truth, drain["ids"]),  # type: ignore[arg-type]
                        parsing_accuracy(truth, drain["templates"]),  # type: ignore[arg-type]
                    )
                )
    return scores


def report_accuracy(scores: list[Score]) -> None:
    print(
        f"{'set':<28} {'split':<8} {'GA':>6} {'Drain3':>6} {'ratio':>6} {'diff':>7}   {'PA':>6} {'Drain3':>6}"
    )
    for s in scores:
        ratio = s.ga / s.drain_ga if s.drain_ga else float("inf")
        print(
            f"{s.name:<28} {s.split:<8} {s.ga:6.3f} {s.drain_ga:6.3f} {ratio:5.2f}x {s.ga - s.drain_ga:+7.3f}"
            f"   {s.pa:6.3f} {s.drain_pa:6.3f}"
        )
    splits = ["tuning", "hold-out", "all"] + (
        ["samples"] if any(s.split == "samples" for s in scores) else []
    )
    for split in splits:
        # "all" is the tuning and hold-out sets; samples of other sets are averaged on their own.
        part = [s for s in scores if s.split == split or (split == "all" and s.split != "samples")]
        ga, dga = (sum(getattr(s, f) for s in part) / len(part) for f in ("ga", "drain_ga"))
        pa, dpa = (sum(getattr(s, f) for s in part) / len(part) for f in ("pa", "drain_pa"))
        worst = min(s.ga - s.drain_ga for s in part)
        print(
            f"{'average ' + split:<37} {ga:6.3f} {dga:6.3f} {ga / dga:5.2f}x {ga - dga:+7.3f}"
            f"   {pa:6.3f} {dpa:6.3f}   worst GA diff {worst:+.3f}"
        )


def word_variable_lines(count: int) -> list[str]:
    rng = random.Random(11)
    word = lambda: "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(4, 9)))  # noqa: E731
    return [f"feature {word()} toggled by {word()} for team {word()} in project" for _ in range(count)]


def quadratic_case(python: Path) -> None:
    """10,000 lines of one statement with three word variables: seconds and groups, both miners."""
    lines = word_variable_lines(10_000)
    start = time.perf_counter()
    miner = TemplateMiner()
    ids = {miner.add(line).id for line in lines}
    seconds = time.perf_counter() - start
    groups = len({g.id for i in ids if (g := miner.resolve(i))})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lines.json"
        path.write_text(json.dumps(lines), encoding="utf-8")
        drain = run_peer(python, "timed", json.dumps(MIXED), str(path))
    print(
        f"10,000 lines, three word variables: ours {seconds:.2f} s, {groups} group(s) (bar <= 5 s, 1 group); "
        f"Drain3 {drain['seconds']:.2f} s, {drain['clusters']} cluster(s)"
    )


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


def throughput(lines: int, budget: float, python: Path) -> list[dict[str, float]]:
    names = [*log_shapes.GENERATED, *(f"loghub-templates:{n}" for n in log_shapes.LOGHUB_TEMPLATE_SETS)]
    chunk = 2_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "messages.log"
        with path.open("w", encoding="utf-8") as handle:
            # In chunks, so that this process stays small: the children's peak RSS counts the
            # memory of the process they were started from.
            for start in range(0, lines, chunk * len(names)):
                generated = [log_shapes.generate(name, lines=chunk, seed=start)[0] for name in names]
                # Interleaved, as services write into one stream.
                for index in range(min(chunk * len(names), lines - start)):
                    message = generated[index % len(names)][index // len(names)]
                    handle.write(message.replace("\n", " ") + "\n")
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
        "--samples",
        type=Path,
        default=None,
        help="a folder of Loghub-style structured CSVs (Content, EventTemplate; whole or partial sets, "
        "named <System>.csv) scored as a third split",
    )
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
    print(f"peer: Drain3 {DRAIN3_VERSION} ({python}); ratio = our GA / Drain3 GA; diff = our GA - Drain3 GA")
    report_accuracy(accuracy(args.data, python, args.samples))
    quadratic_case(python)
    if args.skip_throughput:
        return 0
    mine, theirs, uncached = throughput(args.lines, args.budget, python)
    ours_lps = mine["lines"] / mine["seconds"]
    drain_lps = theirs["lines"] / theirs["seconds"]
    print(
        f"miner alone on {args.lines:,} generated lines: "
        f"ours {ours_lps:,.0f} lines/s over {mine['lines']:,.0f} lines, "
        f"Drain3 {drain_lps:,.0f} lines/s over {theirs['lines']:,.0f} lines; "
        f"ratio {ours_lps / drain_lps:.1f}x"
    )
    slow_lps = uncached["lines"] / uncached["seconds"]
    print(
        f"without the digit-key cache (masking every line): {slow_lps:,.0f} lines/s, "
        f"{slow_lps / drain_lps:.1f}x Drain3"
    )
    print(f"peak RSS: ours {mine['peak_rss_mb']:.0f} MB, Drain3 {theirs['peak_rss_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
