"""Bench area `e2e`: the whole pipeline, signed generic webhooks in (arrays of 500 calls) and
`crm.interactions.v1` out, with the four services as processes, on SQLite (the embedded
default) and on PostgreSQL, each next to a bare three-hop relay (produce -> relay -> relay ->
consume, batched, pipelined, no work; `harness/relay.py`) in the same run.

Prints interactions per second (from the first post to the last record out), the p50/p99 from
posting a call's array to its interaction appearing, CPU per interaction of each service and
peak RSS, then the ratio. Target: >= 0.25 x the relay (aim: 0.5). PostgreSQL:
SWITCHBOARD_BENCH_DATABASE_URL (default postgresql+asyncpg://postgres@127.0.0.1:5432/test)
names the server; a throw-away database is made for the run.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
import uuid
from pathlib import Path

import httpx

from harness.databases import temporary_database
from harness.kafka import TopicTail, producer
from harness.measure import Usage, percentile, ratio_line
from harness.profile import profiled
from harness.relay import prepare, relay_chain
from support.generic_webhook import missed_call, signature_headers
from support.offsets import start_group_at_end
from support.stack import GENERIC_SECRET, Stack, make_stack
from switchboard_shared.topics import CALLS_RECORDED, CRM_INTERACTIONS, INTERACTIONS_CLASSIFIED

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
ARRAY = 500  # calls per webhook (the generic format's maximum)
ARRAYS = int(os.environ.get("SWITCHBOARD_BENCH_E2E_ARRAYS", "12"))
IN_FLIGHT = 2  # webhooks posted at once
RELAY_RECORDS = 20_000
TARGET = 0.25
SERVICE_NAMES = {
    "ingest_calls": "ingest-calls",
    "ingest_mail": "ingest-mail",
    "classifier": "classifier",
    "crm_store": "crm-store",
}


def caller(n: int) -> str:
    return f"+1415{2_000_000 + n:07d}"


def arrays(run: str, first: int, count: int) -> list[list[bytes]]:
    """`count` arrays of ARRAY missed calls, each from a number of its own; the call ids carry
    the run's token, so that no state left by an earlier run takes them for repeats."""
    return [
        [missed_call(f"bench-{run}-{n}", caller(n)) for n in range(start, start + ARRAY)]
        for start in range(first, first + count * ARRAY, ARRAY)
    ]


async def post_all(url: str, batches: list[list[bytes]]) -> dict[str, float]:
    """Post every array (IN_FLIGHT at a time); {caller: when its array was posted}."""
    posted: dict[str, float] = {}
    queue = list(reversed(batches))
    async with httpx.AsyncClient(timeout=120) as client:

        async def worker() -> None:
            while queue:
                calls = queue.pop()
                body = b"[" + b",".join(calls) + b"]"
                at = time.time()
                for call in calls:
                    posted[json.loads(call)["from"]] = at
                response = await client.post(
                    url, content=body, headers=signature_headers(body, GENERIC_SECRET)
                )
                if response.status_code != 200:
                    raise RuntimeError(f"webhook: {response.status_code} {response.text[:300]}")

        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return posted


def latencies(records: list[tuple[int, bytes]], posted: dict[str, float]) -> list[float]:
    out = []
    for stamp, value in records:
        counterpart = json.loads(value).get("counterpart")
        if counterpart in posted:
            out.append(stamp / 1000 - posted[counterpart])
    return out


async def pipeline(bootstrap: str, workdir: Path, database_url: str, label: str) -> float:
    run = uuid.uuid4().hex[:6]
    workdir = workdir / f"e2e-{label}-{run}"  # the services' state files: new for every run
    await asyncio.to_thread(workdir.mkdir, parents=True)
    stack: Stack = make_stack(
        workdir,
        bootstrap=bootstrap,
        database_url=database_url,
        secrets={
            "INGEST_CALLS_GENERIC_HMAC_SECRET": GENERIC_SECRET,
            "CRM_STORE_BOOTSTRAP_ADMIN_TOKEN": "bench-admin-token-0123456789abcdef",
        },
    )
    stack.env.update(
        {
            "SWITCHBOARD_LOG_LEVEL": "WARNING",
            "CLASSIFIER_CONSUMER_GROUP": f"bench-classifier-{run}",
            "CRM_STORE_CONSUMER_GROUP": f"bench-crm-store-{run}",
        }
    )
    tail = TopicTail(bootstrap, CRM_INTERACTIONS.name)
    url = f"{stack.url('ingest_calls')}/webhooks/generic"
    # Both databases' runs share the area's broker: each run's groups read only its own calls.
    await start_group_at_end(bootstrap, f"bench-classifier-{run}", CALLS_RECORDED.name)
    await start_group_at_end(bootstrap, f"bench-crm-store-{run}", INTERACTIONS_CLASSIFIED.name)
    await asyncio.to_thread(stack.start)
    try:
        await tail.start()
        warm = arrays(run, 10_000_000, 1)
        await post_all(url, [warm[0][:50]])
        await tail.collect(50)
        batches = arrays(run, 0, ARRAYS)
        count = ARRAYS * ARRAY
        pids = {SERVICE_NAMES[m]: s.process.pid for m, s in stack.services.items() if s.process}
        async with profiled({f"{name}-{label}": pid for name, pid in pids.items()}):
            with Usage(pids) as usage:
                start = time.time()
                posting = asyncio.create_task(post_all(url, batches))
                records = await tail.collect_values(count, timeout=600)
                posted = await posting
    finally:
        await tail.stop()
        await asyncio.to_thread(stack.stop)
    await asyncio.to_thread(shutil.rmtree, workdir, ignore_errors=True)
    end = max(stamp for stamp, _ in records) / 1000
    rate = count / (end - start)
    lat = latencies(records, posted)
    print(
        f"  pipeline ({label:<10}) {rate:8.0f} interactions/s   "
        f"p50 {percentile(lat, 0.5) * 1000:7.0f} ms   p99 {percentile(lat, 0.99) * 1000:7.0f} ms"
        f"   ({count} calls in {ARRAYS} webhooks)"
    )
    print("    " + usage.line(count))
    return rate


async def relay(bootstrap: str, workdir: Path, label: str) -> float:
    topics = await prepare(bootstrap, f"bench.relay-{label}", hops=2)
    values = [missed_call(f"relay-{n}", caller(n)) for n in range(RELAY_RECORDS)]
    tail = TopicTail(bootstrap, topics[-1])
    with relay_chain(bootstrap, workdir, topics, f"relay-{label}") as pids:
        await tail.start()
        try:
            async with producer(bootstrap) as client:
                for value in values[:200]:  # warm-up: groups joined, connections open
                    await client.send(topics[0], value)
                await tail.collect(200)
                with Usage(pids) as usage:
                    start = time.time()
                    sends = [await client.send(topics[0], value) for value in values]
                    await asyncio.gather(*sends)
                    stamps = await tail.collect(len(values), timeout=300)
        finally:
            await tail.stop()
    rate = len(values) / (max(stamps) / 1000 - start)
    print(f"  three-hop relay         {rate:8.0f} records/s   ({len(values)} records)")
    print("    " + usage.line(len(values)))
    return rate


async def bench(bootstrap: str, workdir: Path) -> None:
    server = os.environ.get("SWITCHBOARD_BENCH_DATABASE_URL", DEFAULT_URL)
    print(
        f"\ne2e: signed generic webhooks ({ARRAY} calls each) -> crm.interactions.v1, "
        "four services as processes, next to a bare three-hop relay"
    )
    backends = {"sqlite": "sqlite+aiosqlite:///unused.db", "postgresql": server}
    chosen = os.environ.get("SWITCHBOARD_BENCH_E2E_BACKENDS", "sqlite,postgresql").split(",")
    for label, like in ((name, backends[name]) for name in chosen):
        async with temporary_database(like, prefix="bench_e2e") as database_url:
            bare = await relay(bootstrap, workdir, label)
            ours = await pipeline(bootstrap, workdir, database_url, label)
        print(ratio_line(f"ratio on {label} (pipeline / relay)", ours / bare, TARGET))
