"""`make bench`: throughput and latency, each measured side by side with a bare baseline in the
same run; `python scripts/bench.py [area ...]` (or `make bench ARGS='calls e2e'`) runs some.

Every area prints throughput, p50/p99 latency, CPU seconds per event of each process (from
/proc) and peak resident memory, next to its baseline, and the ratio against its target.

calls: signed Twilio status callbacks through the real service (signature check, parsing,
number normalisation, CloudEvents, acks=all) against a bare endpoint that only publishes the
body to the broker (acks=all, aiokafka), served the same way (`switchboard_shared.serve.run_app`:
uvloop, httptools, the same head guard). HTTP load comes from `wrk` with 32 connections and a
pool of distinct pre-signed requests; both servers run as their own processes against the same
real broker, in alternating rounds. Target: ingest-calls >= 0.8 x bare.

Other areas live in `scripts/bench_<area>.py` (`async def bench(bootstrap, workdir)`): mail,
classifier, crm, e2e (webhooks in, crm.interactions.v1 out, against a three-hop relay), latency
(300 calls/s of single Twilio callbacks) and import when present.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
from pathlib import Path

from harness import BENCH_DIR, ROOT
from harness.measure import Usage, alternating, ratio_line
from harness.profile import ENV as PROFILE_ENV
from harness.profile import profiled
from harness.run import Bench, run_area
from harness.service import ServiceProcess, free_port, service_env
from harness.twilio import TOKEN as TWILIO_TOKEN
from harness.twilio import callbacks
from harness.wrk import WrkResult, run_wrk, write_pool

CONNECTIONS = 32
POOL_RATE = 12_000  # requests/s a pool is sized for: far above either server on this machine
BARE_APP = """
import os, sys
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Request, Response
from switchboard_shared.serve import run_app

producer = None

async def lifespan(app):
    global producer
    producer = AIOKafkaProducer(
        bootstrap_servers=os.environ["SWITCHBOARD_KAFKA_BOOTSTRAP"], acks="all"
    )
    await producer.start()
    yield
    await producer.stop()

app = FastAPI(lifespan=lifespan)

@app.post("/publish")
async def publish(request: Request) -> Response:
    body = await request.body()
    headers = [("content-type", request.headers["content-type"].encode())]
    await producer.send_and_wait("bench.bare", body, headers=headers)
    return Response(status_code=200)

run_app(app, "127.0.0.1", int(sys.argv[1]), 10.0)
"""


async def bench_calls(bootstrap: str, workdir: Path, seconds: float, rounds: int) -> None:
    env = service_env(bootstrap, {"INGEST_CALLS_TWILIO_AUTH_TOKEN": TWILIO_TOKEN})
    service_port, bare_port = free_port(), free_port()
    (workdir / "bare_app.py").write_text(BARE_APP)
    calls_env = {
        **env,
        "INGEST_CALLS_PORT": str(service_port),
        # Twilio signs the URL it calls; ingest-calls takes it from configuration only.
        "INGEST_CALLS_PUBLIC_BASE_URL": f"http://127.0.0.1:{service_port}",
    }
    bare_argv = [sys.executable, str(workdir / "bare_app.py"), str(bare_port)]
    urls = {
        "ingest-calls": f"http://127.0.0.1:{service_port}/webhooks/twilio",
        "bare": f"http://127.0.0.1:{bare_port}/publish",
    }
    per_pool = int(POOL_RATE * seconds)
    pools = {}
    for i, (name, url) in enumerate(urls.items()):
        for r in range(-1, rounds):  # round -1: the warm-up
            offset = (i * (rounds + 1) + r + 1) * per_pool
            requests = callbacks(url, per_pool if r >= 0 else POOL_RATE, offset)
            pools[name, r] = await asyncio.to_thread(
                write_pool, workdir, f"{name}{r}", url, requests
            )
    with (
        ServiceProcess("ingest_calls", calls_env, workdir / "ingest-calls.log") as service,
        ServiceProcess(bare_argv, env, workdir / "bare.log") as bare,
    ):
        await service.wait_ready(service_port, timeout=60)
        # The bare app has no /readyz: its 404 says it serves.
        await bare.wait_ready(bare_port, timeout=60, statuses=(200, 404))
        for name, url in urls.items():  # connections, metadata, first-call imports
            await run_wrk("warm-up", url, pools[name, -1], seconds=1, connections=CONNECTIONS)
        results: dict[str, list[WrkResult]] = {name: [] for name in urls}
        pids = {"ingest-calls": service.pid, "bare": bare.pid}
        async with profiled(pids):
            with Usage(pids) as usage:
                for r in range(rounds):
                    for name in alternating(list(urls), r):
                        result = await run_wrk(
                            name, urls[name], pools[name, r], seconds=seconds,
                            connections=CONNECTIONS,
                        )  # fmt: skip
                        results[name].append(result)
    for path in pools.values():
        path.unlink(missing_ok=True)
    ours, bare_result = merge(results["ingest-calls"]), merge(results["bare"])
    print(
        f"\ningest-calls: signed Twilio webhooks (wrk, {CONNECTIONS} connections, acks=all, "
        f"{rounds} alternating rounds of {seconds:.0f} s)"
    )
    for result in (ours, bare_result):
        print(
            f"  {result.name:<14} {result.rate:8.0f} req/s   p50 {result.p50_s * 1000:6.1f} ms   "
            f"p99 {result.p99_s * 1000:6.1f} ms   ({result.requests} requests)"
        )
    print("  " + usage.line({"ingest-calls": ours.requests, "bare": bare_result.requests}))
    print(ratio_line("ratio (ingest-calls / bare)", ours.rate / bare_result.rate, 0.8))


def merge(results: list[WrkResult]) -> WrkResult:
    """The rounds as one: requests over time, the worst round's percentiles (wrk reports no
    raw latencies to merge)."""
    return WrkResult(
        results[0].name,
        sum(r.requests for r in results),
        sum(r.seconds for r in results),
        max(r.p50_s for r in results),
        max(r.p99_s for r in results),
    )


# Other areas add a module `scripts/bench_<area>.py` with `async def bench(bootstrap, workdir)`;
# one that is not there is skipped.
AREAS = ("calls", "mail", "classifier", "crm", "import", "e2e", "latency")


async def main_async(args: argparse.Namespace) -> None:
    for area in args.areas or AREAS:
        bench: Bench
        if area == "calls":
            bench = lambda bootstrap, workdir: bench_calls(  # noqa: E731
                bootstrap, workdir, args.seconds, args.rounds
            )
        elif (ROOT / "scripts" / f"bench_{area}.py").exists():
            bench = importlib.import_module(f"bench_{area}").bench
        else:
            print(f"\n{area}: no scripts/bench_{area}.py, skipped")
            continue
        await run_area(area, bench, BENCH_DIR)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("areas", nargs="*", help=f"areas to run, of {', '.join(AREAS)} (all)")
    parser.add_argument("--seconds", type=float, default=8, help="calls: seconds per wrk round")
    parser.add_argument("--rounds", type=int, default=3, help="calls: rounds per contender")
    parser.add_argument(
        "--profile", action="store_true", help="sample the processes with py-spy (slower)"
    )
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # each line as it comes
    unknown = [a for a in args.areas if a not in AREAS]
    if unknown:
        parser.error(f"unknown area {', '.join(unknown)}; the areas are {', '.join(AREAS)}")
    if args.profile:
        os.environ[PROFILE_ENV] = str(BENCH_DIR)
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
