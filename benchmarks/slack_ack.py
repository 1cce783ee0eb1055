"""Time to the HTTP ack for 200 concurrent signed `app_mention` events, each delivered twice.

The real app (bolt + our `/slack/events` route, uvicorn, SQLite, the fake Slack Web API on
127.0.0.1) receives `implement fix_…` for 200 different proposals; every event is sent twice at
once (the second copy with `X-Slack-Retry-Num: 1`), with slow work (a 0.5 s apply) behind each.
A separate client process fires all 400 requests concurrently and records each one's time to the
HTTP response.

Peer, measured in the same run on the same workload: bolt's stock Starlette adapter
(`slack_bolt.adapter.starlette.SlackRequestHandler`), which runs `App.dispatch` on the event loop.

Bars: p99 ack ≤ 300 ms; duplicate applies = 0.

    /work/venv/bin/python benchmarks/slack_ack.py [--events 200] [--apply-seconds 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("SKIP_SLACK_SDK_WARNING", "1")

SECRET = "bench-signing-secret"  # noqa: S105 - signs the benchmark's own requests
CHANNEL = "C0BENCH"
APPROVER = "UBENCHOPS"


def _client(url: str, events_path: str) -> None:
    """Child process: send every prepared request at once, print latencies (ms) as JSON.

    Raw asyncio streams, one connection per request: httpx's pool spends seconds managing 400
    simultaneous connections, which would measure the client instead of the server.
    """
    from urllib.parse import urlsplit

    requests = json.loads(Path(events_path).read_text())
    target = urlsplit(url)

    async def main() -> list[float]:
        start = asyncio.Event()

        async def one(req: dict[str, Any]) -> float:
            body = req["body"].encode()
            head = "".join(f"{name}: {value}\r\n" for name, value in req["headers"].items())
            raw = (
                f"POST /slack/events HTTP/1.1\r\nhost: {target.netloc}\r\ncontent-length: {len(body)}\r\n"
                f"connection: close\r\n{head}\r\n"
            ).encode() + body
            await start.wait()
            began = time.perf_counter()
            reader, writer = await asyncio.open_connection(target.hostname, target.port)
            writer.write(raw)
            await writer.drain()
            status_line = await reader.readline()
            elapsed = (time.perf_counter() - began) * 1000
            await reader.read()
            writer.close()
            if b" 200 " not in status_line:
                raise SystemExit(f"unexpected response: {status_line!r}")
            return elapsed

        tasks = [asyncio.create_task(one(req)) for req in requests]
        await asyncio.sleep(0.2)
        start.set()
        return list(await asyncio.gather(*tasks))

    print(json.dumps(asyncio.run(main())))


def _prepare(fix_ids: list[str], run: str) -> list[dict[str, Any]]:
    from slack_sdk.signature import SignatureVerifier

    verifier = SignatureVerifier(SECRET)
    requests = []
    for index, fix_id in enumerate(fix_ids):
        body = json.dumps(
            {
                "type": "event_callback",
                "team_id": "T0001",
                "api_app_id": "A0001",
                "event_id": f"Ev{run}{index:05d}",
                "event_time": int(time.time()),
                "authorizations": [{"team_id": "T0001", "user_id": "UBOT", "is_bot": True}],
                "event": {
                    "type": "app_mention",
                    "user": APPROVER,
                    "text": f"<@UBOT> implement {fix_id}",
                    "ts": f"1761900100.{index:06d}",
                    "channel": CHANNEL,
                },
            }
        )
        ts = str(int(time.time()))
        headers = {
            "content-type": "application/json",
            "x-slack-request-timestamp": ts,
            "x-slack-signature": verifier.generate_signature(timestamp=ts, body=body),
        }
        requests.append({"body": body, "headers": headers})
        requests.append({"body": body, "headers": {**headers, "x-slack-retry-num": "1"}})
    return requests


def _run(
    variant: str,
    events: int,
    apply_seconds: float,
    workdir: Path,
    run: int,
    *,
    no_work: bool = False,
    plain_uvicorn: bool = False,
) -> dict[str, Any]:
    import uvicorn
    from prometheus_client import CollectorRegistry
    from pydantic import SecretStr
    from slack_bolt.adapter.starlette import SlackRequestHandler
    from sqlalchemy import update
    from starlette.requests import Request
    from starlette.routing import Route

    from bot.slack import build_slack_stack, slack_routes
    from bot.slack.client import make_web_client
    from core.settings import Secrets, ServiceSettings, Settings, SlackSettings
    from core.store.db import make_engine, make_session_factory, upgrade_database
    from core.store.lifecycle import ProposalStatus, transition
    from core.store.models import Proposal
    from core.store.proposals import create_proposal

    # Slack is remote: its fake runs in its own process so it does not share our GIL.
    fake_process = subprocess.Popen(
        [sys.executable, __file__, "--fake"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert fake_process.stdout is not None
    fake_url, fake_token = fake_process.stdout.readline().split()
    engine = make_engine(f"sqlite:///{workdir / f'{variant}-{run}.db'}")
    upgrade_database(engine)
    sessions = make_session_factory(engine)
    settings = Settings(
        config_path=None,
        data_dir=workdir,
        database_url=str(engine.url),
        port=0,
        slack=SlackSettings(default_channel=CHANNEL, approvers=(APPROVER,), workers=8),
        services=(ServiceSettings(name="bench", source="file:/tmp/x.log", repo="/tmp/x", channel=CHANNEL),),
        secrets=Secrets(slack_bot_token=SecretStr(fake_token), slack_signing_secret=SecretStr(SECRET)),
    )
    with sessions.begin() as session:
        fix_ids = [
            create_proposal(session, service="bench", diff="--- a/x\n+++ b/x\n", content_hash="h").fix_id
            for _ in range(events)
        ]
        # Already posted: the benchmark measures acks and applies, not the outbox.
        for index, fix_id in enumerate(fix_ids):
            session.execute(
                update(Proposal)
                .where(Proposal.fix_id == fix_id)
                .values(slack_channel=CHANNEL, slack_ts=f"1761800000.{index:06d}")
            )

    applies: Counter[str] = Counter()
    lock = threading.Lock()

    class Report:
        def __init__(self, fix_id: str) -> None:
            self.fix_id, self.ok, self.status = fix_id, True, "pushed"
            self.commit_sha, self.failed_step, self.message = "abc1234", "", "pushed"

    def apply(fix_id: str, progress: Any) -> Report:
        with lock:
            applies[fix_id] += 1
        with sessions.begin() as session:
            transition(session, fix_id, ProposalStatus.APPLYING, actor="bot")
        time.sleep(apply_seconds)  # the slow work behind each event: validate, test, push
        with sessions.begin() as session:
            transition(session, fix_id, ProposalStatus.PUSHED, actor="bot", values={"commit_sha": "abc1234"})
        return Report(fix_id)

    stack = build_slack_stack(
        settings,
        sessions,
        make_web_client(fake_token, base_url=fake_url),
        apply_fix=apply,
        revert_fix=apply,
        scan_service=lambda service, progress: [],
        registry=CollectorRegistry(),
    )
    if no_work:  # diagnostic: acks only, hand-offs dropped
        from concurrent.futures import Future

        class Drop:
            def submit(self, fn: Any, *a: Any) -> Future[None]:
                f: Future[None] = Future()
                f.set_result(None)
                return f

        stack.runner.pool = Drop()  # type: ignore[assignment]
    if variant == "ours":
        routes = slack_routes(stack.app, signing_secret=SECRET)
    else:
        handler = SlackRequestHandler(stack.app)

        async def stock(request: Request) -> Any:
            return await handler.handle(request)

        routes = [Route("/slack/events", stock, methods=["POST"])]
    from starlette.applications import Starlette

    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=routes),
            log_level="error",
            lifespan="off",
            # Without httptools/uvloop installed, uvicorn falls back to exactly these.
            **({"http": "h11", "loop": "asyncio"} if plain_uvicorn else {}),
        )
    )
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)

    requests_path = workdir / f"{variant}-{run}-requests.json"
    requests_path.write_text(json.dumps(_prepare(fix_ids, f"{variant}{run}")))
    child = subprocess.run(
        [sys.executable, __file__, "--client", url, str(requests_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    latencies = sorted(json.loads(child.stdout))
    started = time.monotonic()
    stack.operations.wait_idle(600)
    for executor in stack.executors:
        executor.submit(lambda: None).result()
    stack.operations.wait_idle(600)
    drained = time.monotonic() - started
    server.should_exit = True
    thread.join(10)
    stack.close()
    fake_process.communicate("")
    engine.dispose()
    return {
        "variant": variant,
        "requests": len(latencies),
        "p50": statistics.median(latencies),
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "max": latencies[-1],
        "applies": sum(applies.values()),
        "duplicates": sum(count - 1 for count in applies.values() if count > 1),
        "missing": len(set(fix_ids) - set(applies)),
        "drain_seconds": drained,
    }


def _fake() -> None:
    """Child process: the fake Slack Web API until stdin closes."""
    from tests.fakes.slack_api import FakeSlack

    fake = FakeSlack().start()
    fake.add_channel(CHANNEL, "bench")
    print(fake.api_url, fake.token, flush=True)
    sys.stdin.read()
    fake.stop()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        _client(sys.argv[2], sys.argv[3])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--fake":
        _fake()
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--apply-seconds", type=float, default=0.5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--no-work", action="store_true", help="diagnostic: drop hand-offs, measure acks alone"
    )
    parser.add_argument(
        "--plain-uvicorn", action="store_true", help="h11 + asyncio instead of httptools + uvloop"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        # Alternate, twice each: the first runs pay for warming up the interpreter and the disk.
        variants = ("stock-adapter", "ours") * args.rounds
        results = [
            _run(
                v,
                args.events,
                args.apply_seconds,
                Path(tmp),
                i,
                no_work=args.no_work,
                plain_uvicorn=args.plain_uvicorn,
            )
            for i, v in enumerate(variants)
        ]
    print(f"{args.events} app_mention events x2 deliveries, {args.apply_seconds}s apply behind each")
    print(
        f"{'variant':<14} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'applies':>8} {'dupes':>6}"
    )
    for r in results:
        print(
            f"{r['variant']:<14} {r['requests']:>8} {r['p50']:>8.1f} {r['p99']:>8.1f} {r['max']:>8.1f} "
            f"{r['applies']:>8} {r['duplicates']:>6}"
        )
    peer, ours = results[-2:]
    print(f"p99 ratio ours/stock-adapter: {ours['p99'] / peer['p99']:.2f}")
    ok = ours["p99"] <= 300 and ours["duplicates"] == 0 and ours["missing"] == 0
    print(f"bars (p99 <= 300 ms, 0 duplicate applies, none missing): {'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    main()
