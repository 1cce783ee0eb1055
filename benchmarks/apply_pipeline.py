"""Benchmark: overhead of the apply pipeline next to a plain shell script, on a large repository.

Builds (with `git fast-import`, in seconds) a bare repository of FILES files and COMMITS commits,
then alternates, ROUNDS times each:
  - our pipeline: `run_apply` of an approved one-line fix (fetch, check, backup, apply, compile,
    import, tests, commit, push, database bookkeeping), timed end to end;
  - the peer: a plain shell script doing fetch + reset + `git apply` + commit + push in its own clone.
The test command is trivial (`true`); its own time, measured in the same run, is subtracted from the
pipeline's total. The first round of each (the initial clone) is a warm-up and is not counted.

    /work/venv/bin/python benchmarks/apply_pipeline.py [--files 2000] [--commits 5000] [--rounds 9]

Bar (issue 4): median overhead <= 1.5 s and <= 2x the script's median.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.settings import ServiceSettings, Settings
from core.store import lifecycle
from core.store.db import make_engine, make_session_factory, upgrade_database
from core.store.proposals import create_proposal
from fixes.apply import run_apply
from fixes.edits import Edit, apply_edits

PEER_SCRIPT = """set -eu
cd "$1"
git fetch -q origin main
git reset -q --hard origin/main
git apply "$2"
git add -A
git -c user.name=peer -c user.email=peer@localhost commit -q -m "fix: peer $3"
git push -q origin HEAD:main
"""


def _module(index: int) -> str:
    return f'"""Module {index}."""\n\n\ndef value_{index}():\n    return {index}\n'


def build_repository(remote: Path, files: int, commits: int) -> None:
    """A bare repo with `files` Python modules and `commits` commits, written by git fast-import."""
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    chunks: list[bytes] = []

    def data(text: str) -> bytes:
        raw = text.encode()
        return b"data %d\n%s\n" % (len(raw), raw)

    stamp = 1_700_000_000
    for number in range(commits):
        chunks.append(b"commit refs/heads/main\n")
        chunks.append(b"committer Dev <dev@example.com> %d +0000\n" % (stamp + number))
        chunks.append(data(f"commit {number}"))
        if number == 0:
            chunks.append(b"M 644 inline app/__init__.py\n" + data(""))
            for index in range(files):
                chunks.append(b"M 644 inline app/mod_%d.py\n" % index + data(_module(index)))
        else:
            # Later history: small changes to notes files, as in a busy repository.
            chunks.append(b"M 644 inline notes/n_%d.txt\n" % (number % 50) + data(f"note {number}\n"))
        chunks.append(b"\n")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=remote, input=b"".join(chunks), check=True)


def _settings(data_dir: Path, remote: Path) -> Settings:
    service = ServiceSettings(
        name="bench",
        source=f"file:{data_dir}/x.log",
        repo=str(remote),
        branch="main",
        validation_command="true",
        python=sys.executable,
    )
    return Settings(config_path=None, data_dir=data_dir, services=(service,))


def _edit(clone: Path, index: int, round_: int) -> tuple[Edit, dict[str, str]]:
    path = f"app/mod_{index}.py"
    current = (clone / path).read_text()
    edit = Edit(path, f"    return {index}", f"    return {index}  # fixed {round_}")
    return edit, {path: current}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--commits", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="apply-bench-") as tmp:
        root = Path(tmp)
        remote = root / "remote.git"
        started = time.perf_counter()
        build_repository(remote, args.files, args.commits)
        count = subprocess.run(
            ["git", "rev-list", "--count", "main"], cwd=remote, capture_output=True, text=True, check=True
        ).stdout.strip()
        print(f"generated {args.files + 1} files, {count} commits in {time.perf_counter() - started:.1f}s")

        engine = make_engine(f"sqlite:///{root / 'agent.db'}")
        upgrade_database(engine)
        sessions = make_session_factory(engine)
        settings = _settings(root / "data", remote)
        peer = root / "peer"
        subprocess.run(["git", "clone", "-q", str(remote), str(peer)], check=True)
        script = root / "peer.sh"
        script.write_text(PEER_SCRIPT)

        ours: list[float] = []
        theirs: list[float] = []
        tests: list[float] = []
        for round_ in range(args.rounds + 1):
            # Ours: a proposal computed on the current head, approved, applied.
            subprocess.run(["git", "-C", str(peer), "pull", "-q", "--ff-only", "origin", "main"], check=True)
            edit, files = _edit(peer, 2 * round_, round_)
            applied = apply_edits(files, [edit])
            with sessions.begin() as session:
                proposal = create_proposal(
                    session,
                    service="bench",
                    summary=f"bench {round_}",
                    edits=[edit.to_dict()],
                    diff=applied.diff,
                    content_hash=applied.content_hash,
                )
                lifecycle.approve(
                    session, proposal.fix_id, actor="U0BENCH", content_hash=applied.content_hash
                )
                fix_id = proposal.fix_id
            t0 = time.perf_counter()
            report = run_apply(settings, sessions, fix_id)
            elapsed = time.perf_counter() - t0
            if not report.ok:
                raise SystemExit(f"pipeline failed: {report.message}\n{report.output}")

            # The trivial test command's own time, measured now.
            t0 = time.perf_counter()
            subprocess.run(["true"], check=True)
            test_time = time.perf_counter() - t0

            # The peer: same kind of one-line change, as a patch file applied by a shell script.
            subprocess.run(["git", "-C", str(peer), "pull", "-q", "--ff-only", "origin", "main"], check=True)
            edit, files = _edit(peer, 2 * round_ + 1, round_)
            patch = root / f"peer-{round_}.diff"
            patch.write_text(apply_edits(files, [edit]).diff)
            t0 = time.perf_counter()
            subprocess.run(["sh", str(script), str(peer), str(patch), str(round_)], check=True)
            peer_time = time.perf_counter() - t0

            if round_ == 0:
                print(f"warm-up (initial clone): pipeline {elapsed:.2f}s, script {peer_time:.2f}s")
                continue
            ours.append(elapsed)
            theirs.append(peer_time)
            tests.append(test_time)

        total = statistics.median(ours)
        overhead = total - statistics.median(tests)
        script_median = statistics.median(theirs)
        ratio = overhead / script_median
        print(f"rounds: {args.rounds}")
        print(f"pipeline total median:     {total:.3f}s")
        print(f"test command median:       {statistics.median(tests):.3f}s")
        print(f"pipeline overhead median:  {overhead:.3f}s")
        print(f"shell script median:       {script_median:.3f}s")
        print(f"ratio overhead/script:     {ratio:.2f}x")
        ok = overhead <= 1.5 and ratio <= 2.0
        print(f"bar (<= 1.5 s and <= 2x):  {'met' if ok else 'NOT met'}")
        engine.dispose()


if __name__ == "__main__":
    main()
