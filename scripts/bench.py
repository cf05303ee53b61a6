"""`make bench`: throughput and latency, each measured side by side with a bare baseline.

ingest-calls: signed Twilio status callbacks through the real service (signature check,
parsing, number normalisation, CloudEvents, acks=all) against a bare endpoint that only
publishes the same body to the broker (acks=all) from the same web stack. Both run as separate
server processes against the same real broker, driven by the same client, in alternating
rounds, so the ratio is fair on a shared, noisy machine. Prints requests per second, p50/p99
latency and the ratio (target: >= 0.8).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx

from harness import BENCH_DIR, ROOT
from harness.measure import alternating, latency_line, percentile, ratio_line
from harness.run import Bench, run_area
from harness.service import ServiceProcess, free_port, service_env
from ingest_calls.domain.twilio import compute_signature

TWILIO_TOKEN = "bench-twilio-auth-token-0123456789"
BARE_APP = """
import os
from fastapi import FastAPI, Request, Response
from faststream.kafka import KafkaBroker

broker = KafkaBroker(os.environ["SWITCHBOARD_KAFKA_BOOTSTRAP"], acks="all")

async def lifespan(app):
    await broker.start()
    yield
    await broker.stop()

app = FastAPI(lifespan=lifespan)

@app.post("/publish")
async def publish(request: Request) -> Response:
    body = await request.body()
    headers = {"content-type": request.headers["content-type"]}
    await broker.publish(body, "bench.bare", headers=headers)
    return Response(status_code=200)
"""


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        return percentile(self.latencies, p)


Request = tuple[str, bytes, dict[str, str]]


def twilio_requests(url: str, count: int, offset: int) -> list[Request]:
    out = []
    for i in range(offset, offset + count):
        params = [
            ("AccountSid", "AC" + "0" * 32),
            ("CallSid", f"CA{i:032d}"),
            ("CallStatus", "no-answer" if i % 3 else "completed"),
            ("Direction", "inbound"),
            ("From", f"+1415555{i % 10_000:04d}"),
            ("To", "+14155550100"),
            ("Called", "+14155550100"),
            ("Caller", f"+1415555{i % 10_000:04d}"),
            ("CallDuration", "0" if i % 3 else "42"),
            ("Timestamp", "Wed, 25 Nov 2026 10:00:00 +0000"),
            ("ApiVersion", "2010-04-01"),
            ("SequenceNumber", "0"),
        ]
        body = urlencode(params).encode()
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": compute_signature(TWILIO_TOKEN, url, params),
        }
        out.append((url, body, headers))
    return out


async def drive(name: str, requests: list[Request], concurrency: int) -> Result:
    latencies: list[float] = []
    queue = list(reversed(requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            while queue:
                url, body, headers = queue.pop()
                start = time.perf_counter()
                response = await client.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - start)
                if response.status_code != 200:
                    raise RuntimeError(f"{name}: {response.status_code} {response.text[:300]}")

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return Result(name, len(requests), elapsed, latencies)


def merge(results: list[Result]) -> Result:
    return Result(
        results[0].name,
        sum(r.requests for r in results),
        sum(r.seconds for r in results),
        [x for r in results for x in r.latencies],
    )


async def bench_calls(
    bootstrap: str, workdir: Path, per_round: int, rounds: int, concurrency: int
) -> None:
    env = service_env(bootstrap, {"INGEST_CALLS_TWILIO_AUTH_TOKEN": TWILIO_TOKEN})
    service_port, bare_port = free_port(), free_port()
    (workdir / "bare_app.py").write_text(BARE_APP)
    calls_env = {
        **env,
        "INGEST_CALLS_PORT": str(service_port),
        # Twilio signs the URL it calls; ingest-calls takes it from configuration only.
        "INGEST_CALLS_PUBLIC_BASE_URL": f"http://127.0.0.1:{service_port}",
    }
    bare_argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "bare_app:app",
        "--port",
        str(bare_port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--app-dir",
        str(workdir),
    ]
    with (
        ServiceProcess("ingest_calls", calls_env, workdir / "ingest-calls.log") as service,
        ServiceProcess(bare_argv, env, workdir / "bare.log") as bare,
    ):
        await service.wait_ready(service_port, timeout=60)
        # The bare app has no /readyz: its 404 says it serves.
        await bare.wait_ready(bare_port, timeout=60, statuses=(200, 404))
        service_url = f"http://127.0.0.1:{service_port}/webhooks/twilio"
        bare_url = f"http://127.0.0.1:{bare_port}/publish"
        # Warm up both (connections, metadata, first-call imports).
        await drive("warm-up", twilio_requests(service_url, 200, 10_000_000), concurrency)
        await drive("warm-up", twilio_requests(bare_url, 200, 10_000_000), concurrency)
        ours: list[Result] = []
        baseline: list[Result] = []
        contenders: list[tuple[list[Result], str, str]] = [
            (ours, "ingest-calls", service_url),
            (baseline, "bare", bare_url),
        ]
        for r in range(rounds):
            for sink, name, url in alternating(contenders, r):
                requests = twilio_requests(url, per_round, r * per_round)
                sink.append(await drive(name, requests, concurrency))
        report("ingest-calls: signed Twilio webhooks", merge(ours), merge(baseline))


def report(title: str, ours: Result, baseline: Result) -> None:
    print(f"\n{title} (concurrency as given, acks=all, {ours.requests} requests each)")
    for r in (ours, baseline):
        print(f"  {r.name:<14} {r.rate:8.0f} req/s   {latency_line(r.latencies)}")
    print(ratio_line("ratio (ours / bare)", ours.rate / baseline.rate, 0.8))
    print(f"  p99 ratio (bare / ours): {baseline.percentile(0.99) / ours.percentile(0.99):.2f}")


# Other areas add a module `scripts/bench_<area>.py` with `async def bench(bootstrap, workdir)`.
AREAS = ("mail", "classifier", "crm")


async def main_async(args: argparse.Namespace) -> None:
    for area in ("calls", *AREAS):
        if args.only and args.only != area:
            continue
        bench: Bench
        if area == "calls":
            bench = lambda bootstrap, workdir: bench_calls(  # noqa: E731
                bootstrap, workdir, args.requests, args.rounds, args.concurrency
            )
        elif (ROOT / "scripts" / f"bench_{area}.py").exists():
            bench = importlib.import_module(f"bench_{area}").bench
        else:
            continue
        await run_area(area, bench, BENCH_DIR)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1500, help="requests per round and target")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--only", choices=("calls", *AREAS), help="run one area only")
    asyncio.run(main_async(parser.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
