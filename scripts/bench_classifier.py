"""Bench area `classifier`: classifications per second, in-process and through the broker, next
to a pass-through consumer (consume, re-publish unchanged, acks=all) in the same run.

Through the broker, both consumers run as their own processes against the same real broker for
the whole run; each round puts a backlog of call records on each one's input topic in turn
(alternating which goes first) and measures how fast its output appears, from the output
records' timestamps. Target: classifier / pass-through >= 0.7.

The calls are a realistic mix (clients, strangers, missed, voicemail, internal, outbound) without
ring-group legs: a leg held for its siblings waits on purpose and says nothing about speed.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from classifier.knowledge import Knowledge
from classifier.legs import MemoryHeldLegs
from classifier.rules import default_rules_path, load_rules
from classifier.service import Classifier
from ingest_mail.domain.parse import MailboxIdentity, parse_message
from support.ports import free_port
from switchboard_shared.cloudevents import encode
from switchboard_shared.events import CallDirection, CallRecorded, CallStatus, MailReceived
from switchboard_shared.phone import PhonePolicy, normalise_phone
from switchboard_shared.topics import CALLS_RECORDED, INTERACTIONS_CLASSIFIED

US = PhonePolicy(default_region="US")
PASS_IN, PASS_OUT = "bench.passthrough.in", "bench.passthrough.out"
TARGET = 0.7
PER_ROUND = 3000
ROUNDS = 4
PASSTHROUGH_APP = """
import asyncio, os, signal
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage

broker = KafkaBroker(os.environ["BOOTSTRAP"], acks="all")

@broker.subscriber(
    "bench.passthrough.in", group_id="bench-passthrough", auto_offset_reset="earliest",
    ack_policy=AckPolicy.ACK,
)
async def passthrough(message: KafkaMessage) -> None:
    raw = message.raw_message
    await broker.publish(
        raw.value, "bench.passthrough.out", key=raw.key,
        headers={k: v.decode() for k, v in raw.headers or ()},
    )

async def main() -> None:
    await broker.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await broker.stop()

asyncio.run(main())
"""


def sample_calls(count: int, seed: int = 7) -> tuple[list[CallRecorded], list[str]]:
    rng = random.Random(seed)
    clients = [f"+1415{rng.randint(2_000_000, 9_999_999)}" for _ in range(300)]
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    calls = []
    for i in range(count):
        direction = rng.choices(["inbound", "outbound", "internal"], [6, 3, 1])[0]
        status = rng.choices(["answered", "no_answer", "busy", "voicemail"], [7, 2, 0.5, 0.5])[0]
        other = (
            rng.choice(clients)
            if rng.random() < 0.7
            else f"+1650{rng.randint(2_000_000, 9_999_999)}"
        )
        if rng.random() < 0.03:
            other = "anonymous"
        ours = str(rng.randint(101, 108))
        if direction == "internal":
            other = str(rng.randint(101, 108))
        caller, callee = (other, ours) if direction == "inbound" else (ours, other)
        from_, to = normalise_phone(caller, US), normalise_phone(callee, US)
        party = from_ if direction == "inbound" else to
        answered = status == "answered"
        talk = rng.choice([4.0, 8.0, 45.0, 180.0, 600.0]) if answered else 0.0
        at = start + timedelta(seconds=i * 7)
        calls.append(
            CallRecorded(
                call_id=f"generic:bench-{i}",
                provider="generic",
                direction=CallDirection(direction),
                status=CallStatus(status),
                started_at=at,
                answered_at=at + timedelta(seconds=6) if answered else None,
                ended_at=at + timedelta(seconds=6 + talk),
                ring_s=6.0,
                talk_s=talk,
                from_=from_,
                to=to,
                counterpart=party.e164
                if direction != "internal" and party.kind == "external"
                else None,
                agent=ours,
            )
        )
    return calls, clients


def sample_mail() -> list[MailReceived]:
    mailbox = MailboxIdentity("anna@acme.example", frozenset({"acme.example"}))
    variants = [
        "",
        "Auto-Submitted: auto-replied\nSubject: Automatic reply: Quote\n",
        "List-Unsubscribe: <https://news.example/u>\nPrecedence: bulk\n",
        "Return-Path: <>\nX-Failed-Recipients: gone@client.example\n",
    ]
    out = []
    for i, extra in enumerate(variants * 50):
        raw = (
            f"From: Bob <bob{i}@client.example>\nTo: anna@acme.example\nSubject: Quote {i}\n"
            f"{extra}Date: Mon, 02 Mar 2026 09:00:00 +0000\nMessage-ID: <b{i}@client.example>\n\n"
            "Hello, could you send the quote?\n"
        )
        out.append(parse_message(raw.encode(), mailbox=mailbox))
    return out


def in_process() -> tuple[float, float]:
    rules = load_rules(default_rules_path())
    calls, clients = sample_calls(20_000)
    knowledge = Knowledge()
    for number in clients:
        knowledge.put_point(number, True)
    classifier = Classifier(lambda: rules, knowledge, MemoryHeldLegs())
    start = time.perf_counter()
    for i, call in enumerate(calls):
        classifier.call(f"i{i}", call, 0.0)
    call_rate = len(calls) / (time.perf_counter() - start)
    mails = sample_mail() * 25
    at = datetime(2026, 3, 2, tzinfo=UTC)
    start = time.perf_counter()
    for i, mail in enumerate(mails):
        classifier.mail(f"m{i}", mail, at)
    return call_rate, len(mails) / (time.perf_counter() - start)


async def produce(producer: AIOKafkaProducer, topic: str, calls: list[CallRecorded]) -> None:
    sends = []
    for call in calls:
        record = encode(
            CALLS_RECORDED,
            call,
            id=str(uuid.uuid4()),
            source="bench",
            key=call.counterpart or call.call_id,
            time=call.started_at,
        )
        headers = [(k, v.encode()) for k, v in record.headers.items()]
        sends.append(await producer.send(topic, record.value, key=record.key, headers=headers))
    await asyncio.gather(*sends)


class Output:
    """Counts the records that appear on an output topic, and when they were written."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)

    async def start(self) -> None:
        await self.consumer.start()
        await self.consumer.topics()
        parts = self.consumer.partitions_for_topic(self.topic) or set()
        self.partitions = [TopicPartition(self.topic, p) for p in sorted(parts)]
        self.consumer.assign(self.partitions)
        await self.consumer.seek_to_end(*self.partitions)

    async def collect(self, count: int, timeout: float = 300.0) -> list[int]:
        stamps: list[int] = []
        deadline = time.monotonic() + timeout
        while len(stamps) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.topic}: {len(stamps)} of {count} records after {timeout}s"
                )
            batch = await self.consumer.getmany(timeout_ms=500, max_records=5000)
            stamps.extend(r.timestamp for records in batch.values() for r in records)
        return stamps


def start_process(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


async def wait_ready(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"classifier exited: {tail(log)}")
            try:
                if (
                    await client.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                ).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.3)
    raise RuntimeError(f"classifier not ready: {tail(log)}")


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


def remove_state(state: Path) -> None:
    for path in (state, Path(f"{state}-wal"), Path(f"{state}-shm")):
        path.unlink(missing_ok=True)


def rate(stamps: list[int]) -> float:
    span_ms = max(stamps) - min(stamps)
    return (len(stamps) - 1) / (span_ms / 1000) if span_ms > 0 else float("inf")


async def bench(bootstrap: str, workdir: Path) -> None:
    call_rate, mail_rate = in_process()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [NewTopic(t, 3, 1) for t in (PASS_IN, PASS_OUT) if t not in existing]
        if wanted:
            await admin.create_topics(wanted)
    finally:
        await admin.close()

    env = {
        **os.environ,
        "SWITCHBOARD_KAFKA_BOOTSTRAP": bootstrap,
        "SWITCHBOARD_LOG_LEVEL": "WARNING",
        "BOOTSTRAP": bootstrap,
    }
    port = free_port()
    state = workdir / f"classifier-bench-{uuid.uuid4().hex[:8]}.db"
    (workdir / "passthrough_app.py").write_text(PASSTHROUGH_APP)
    classifier_log, passthrough_log = workdir / "classifier.log", workdir / "passthrough.log"
    ours = start_process(
        [sys.executable, "-m", "classifier"],
        {
            **env,
            "CLASSIFIER_PORT": str(port),
            "CLASSIFIER_STATE_PATH": str(state),
            "CLASSIFIER_CONSUMER_GROUP": f"bench-classifier-{uuid.uuid4().hex[:6]}",
        },
        classifier_log,
    )
    bare = start_process(
        [sys.executable, str(workdir / "passthrough_app.py")], env, passthrough_log
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    outputs = {
        "classifier": Output(bootstrap, INTERACTIONS_CLASSIFIED.name),
        "pass-through": Output(bootstrap, PASS_OUT),
    }
    inputs = {"classifier": CALLS_RECORDED.name, "pass-through": PASS_IN}
    try:
        await wait_ready(port, ours, classifier_log)
        await producer.start()
        for output in outputs.values():
            await output.start()
        calls, _ = sample_calls(PER_ROUND * ROUNDS + 400, seed=11)
        for name in outputs:  # warm-up: group joined, connections open
            await produce(producer, inputs[name], calls[:200])
            await outputs[name].collect(200)
        rates: dict[str, list[float]] = {name: [] for name in outputs}
        for r in range(ROUNDS):
            chunk = calls[400 + r * PER_ROUND : 400 + (r + 1) * PER_ROUND]
            order = list(outputs) if r % 2 == 0 else list(reversed(outputs))
            for name in order:
                await produce(producer, inputs[name], chunk)
                rates[name].append(rate(await outputs[name].collect(len(chunk))))
    finally:
        await producer.stop()
        for output in outputs.values():
            await output.consumer.stop()
        for process in (ours, bare):
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        remove_state(state)

    mean = {name: len(values) / sum(1 / v for v in values) for name, values in rates.items()}
    ratio = mean["classifier"] / mean["pass-through"]
    print(f"\nclassifier: classifications per second ({ROUNDS} rounds of {PER_ROUND} call records)")
    print(f"  in-process (rules + knowledge)   calls {call_rate:9.0f}/s   mail {mail_rate:9.0f}/s")
    print(f"  through the broker               {mean['classifier']:9.0f}/s (acks=all)")
    print(f"  pass-through consumer            {mean['pass-through']:9.0f}/s (acks=all)")
    verdict = "meets" if ratio >= TARGET else "BELOW"
    print(f"  ratio (classifier / pass-through): {ratio:.2f}  -> {verdict} the {TARGET} target")
