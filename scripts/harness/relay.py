"""The bare Kafka baseline of a pipeline: relays that do no work, done the fastest plain way.

Each relay is a process of its own: it consumes in batches (`getmany`), produces the whole
batch pipelined (acks=all, every send awaited together) and commits its offsets once per batch,
after the broker acknowledged every send: the same delivery guarantee as the services, with no
business logic. `relay_chain` runs `hops` of them in a row (in -> hop1 -> ... -> out).
"""

from __future__ import annotations

import contextlib
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path

from harness.kafka import create_extra_topics
from harness.service import ServiceProcess, service_env

RELAY_APP = """
import asyncio, os, signal, sys
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

async def main() -> None:
    source, target, group = sys.argv[1:4]
    bootstrap = os.environ["SWITCHBOARD_KAFKA_BOOTSTRAP"]
    consumer = AIOKafkaConsumer(
        source, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await consumer.start()
    await producer.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    while not stop.is_set():
        batch = await consumer.getmany(timeout_ms=200, max_records=2000)
        sends = [
            await producer.send(target, r.value, key=r.key, headers=list(r.headers))
            for records in batch.values() for r in records
        ]
        if sends:
            await asyncio.gather(*sends)
            await consumer.commit()
    await consumer.stop()
    await producer.stop()

asyncio.run(main())
"""


def hop_topics(prefix: str, hops: int) -> list[str]:
    """`prefix.0` (where records are produced) to `prefix.<hops>` (where they are read)."""
    return [f"{prefix}.{i}" for i in range(hops + 1)]


async def prepare(bootstrap: str, prefix: str, hops: int) -> list[str]:
    topics = hop_topics(prefix, hops)
    await create_extra_topics(bootstrap, topics)
    return topics


@contextlib.contextmanager
def relay_chain(
    bootstrap: str, workdir: Path, topics: list[str], name: str
) -> Iterator[dict[str, int]]:
    """A relay process per hop between consecutive `topics`; yields their pids by name."""
    script = workdir / "relay_app.py"
    script.write_text(RELAY_APP)
    env = service_env(bootstrap)
    with contextlib.ExitStack() as stack:
        pids = {}
        for i, (source, target) in enumerate(itertools.pairwise(topics), 1):
            argv = [sys.executable, str(script), source, target, f"{name}-relay-{i}"]
            relay = stack.enter_context(
                ServiceProcess(argv, env, workdir / f"{name}-relay-{i}.log")
            )
            pids[f"relay-{i}"] = relay.pid
        yield pids
