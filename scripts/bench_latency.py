"""Bench area `latency`: a steady 300 calls/s of single Twilio status callbacks for 60 s through
the four services (SQLite), open loop (each request is sent on its schedule, whether or not the
earlier ones were answered), measuring the time from a webhook being sent to its activity on
`crm.activities.v1` (every call is a missed call from a number of its own, so each opens one
callback activity), the consumer lag left 5 s after the load stops, and each service's peak RSS.

Targets: p99 <= 1 s, no lag left, every service under 150 MB. SWITCHBOARD_BENCH_LATENCY_RATE
and _SECONDS change the load.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from harness.kafka import TopicTail
from harness.measure import Usage, percentile
from harness.twilio import TOKEN, callback, caller
from harness.wrk import raw_request
from support.offsets import committed, end_offsets
from support.stack import GENERIC_SECRET, Stack, make_stack
from switchboard_shared.topics import CALLS_RECORDED, CRM_ACTIVITIES, INTERACTIONS_CLASSIFIED

RATE = float(os.environ.get("SWITCHBOARD_BENCH_LATENCY_RATE", "300"))
SECONDS = float(os.environ.get("SWITCHBOARD_BENCH_LATENCY_SECONDS", "60"))
CONNECTIONS = 32
SETTLE_S = 5.0
WAIT_S = 60.0  # after the settling: how long activities still on their way are waited for
P99_TARGET_S = 1.0
RSS_LIMIT = 150 * 2**20
NAMES = {"ingest_calls": "ingest-calls", "ingest_mail": "ingest-mail"}


async def send_at_rate(url: str, count: int, offset: int) -> tuple[dict[str, float], int]:
    """Send `count` callbacks at RATE a second over CONNECTIONS kept-alive connections, each
    request on its own schedule; {caller: when it was due} and how many were not answered 200.

    A plain asyncio HTTP/1.1 client: a request waits for a free connection (then its latency
    counts from when it was due, not from when it went out), and the generator's own cost
    stays far below the services' (a general-purpose client's pool costs more per queued
    request as the queue grows)."""
    split = urlsplit(url)
    host, port = split.hostname or "127.0.0.1", split.port or 80
    due: dict[str, float] = {}
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    failures = 0

    async def connection() -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while (request := await queue.get()) is not None:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                await reader.readexactly(int(length.group(1)) if length else 0)
                failures += status != 200
        finally:
            writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(CONNECTIONS)]
    start = time.monotonic()
    for i in range(count):
        delay = start + i / RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        request = callback(url, offset + i, missed=True)
        due[caller(offset + i)] = time.time()
        queue.put_nowait(raw_request(f"{host}:{port}", request))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return due, failures


async def lag(bootstrap: str, groups: dict[str, str]) -> dict[str, int]:
    """{group: records behind the end of its input topic}."""
    out = {}
    for group, topic in groups.items():
        ends = await end_offsets(bootstrap, topic)
        done = await committed(bootstrap, group, topic)
        out[group] = sum(max(0, end - max(done.get(p, 0), 0)) for p, end in ends.items())
    return out


async def bench(bootstrap: str, workdir: Path) -> None:
    workdir = workdir / f"latency-{uuid.uuid4().hex[:6]}"  # state files new for every run
    await asyncio.to_thread(workdir.mkdir, parents=True)
    stack: Stack = make_stack(
        workdir,
        bootstrap=bootstrap,
        database_url=f"sqlite+aiosqlite:///{workdir / f'crm-{uuid.uuid4().hex[:6]}.db'}",
        secrets={
            "INGEST_CALLS_GENERIC_HMAC_SECRET": GENERIC_SECRET,
            "INGEST_CALLS_TWILIO_AUTH_TOKEN": TOKEN,
            "CRM_STORE_BOOTSTRAP_ADMIN_TOKEN": "bench-admin-token-0123456789abcdef",
        },
    )
    run = uuid.uuid4().hex[:6]
    groups = {f"bench-classifier-{run}": CALLS_RECORDED.name}
    groups[f"bench-crm-store-{run}"] = INTERACTIONS_CLASSIFIED.name
    classifier_group, crm_group = list(groups)
    base = stack.url("ingest_calls")
    stack.env.update(
        {
            "SWITCHBOARD_LOG_LEVEL": "WARNING",
            "INGEST_CALLS_PUBLIC_BASE_URL": base,
            "CLASSIFIER_CONSUMER_GROUP": classifier_group,
            "CRM_STORE_CONSUMER_GROUP": crm_group,
        }
    )
    count = int(RATE * SECONDS)
    url = f"{base}/webhooks/twilio"
    tail = TopicTail(bootstrap, CRM_ACTIVITIES.name)
    await asyncio.to_thread(stack.start)
    try:
        await tail.start()
        await send_at_rate(url, 20, 10_000_000)  # warm-up
        await tail.collect(20, timeout=60)
        pids = {
            NAMES.get(m, m.replace("_", "-")): s.process.pid
            for m, s in stack.services.items()
            if s.process
        }
        with Usage(pids) as usage:
            sent, failures = await send_at_rate(url, count, 0)
            stopped = time.monotonic()
            await asyncio.sleep(max(0.0, stopped + SETTLE_S - time.monotonic()))
            left = await lag(bootstrap, groups)
            # Whatever has not come by then is reported as missing, not waited for.
            records = await tail.collect_values(count, timeout=WAIT_S, or_fewer=True)
    finally:
        await tail.stop()
        await asyncio.to_thread(stack.stop)
    await asyncio.to_thread(shutil.rmtree, workdir, ignore_errors=True)
    latencies = [
        stamp / 1000 - sent[party]
        for stamp, value in records
        if (party := json.loads(value).get("counterpart")) in sent
    ]
    missing = count - len(latencies)
    # An activity that never came counts as later than every one that did.
    ranked = latencies + [float("inf")] * missing
    p50, p99 = percentile(ranked, 0.5), percentile(ranked, 0.99)
    print(
        f"\nlatency: {RATE:.0f} Twilio callbacks/s for {SECONDS:.0f} s (open loop, single "
        "missed calls) -> crm.activities.v1, four services on SQLite"
    )
    print(
        f"  webhook -> activity   p50 {p50 * 1000:7.0f} ms   p99 {p99 * 1000:7.0f} ms   "
        f"({len(latencies)} activities, {missing} not there {SETTLE_S + WAIT_S:.0f} s after the "
        f"load; {failures} webhooks not answered 200)"
    )
    print("  " + usage.line(count))
    lag_text = ", ".join(f"{g.split('-')[1]} {n}" for g, n in left.items())
    print(f"  consumer lag {SETTLE_S:.0f} s after the load: {lag_text}")
    verdicts = [
        ("p99 <= 1 s", p99 <= P99_TARGET_S),
        ("no lag left", not any(left.values())),
        ("every service < 150 MB", all(b < RSS_LIMIT for b in usage.peak_rss.values())),
        ("every webhook 200", failures == 0),
    ]
    print("  " + "   ".join(f"{what}: {'meets' if ok else 'BELOW'}" for what, ok in verdicts))
