"""Bench area `classifier`: classifications per second, in-process and through the broker, next
to a batched pass-through relay (`harness/relay.py`: consume in batches, re-publish unchanged,
pipelined, acks=all, one commit per batch) in the same run.

Through the broker, both run as their own processes against the same real broker for the whole
run; each round puts a backlog of call records on each one's input topic in turn
(alternating which goes first) and measures how fast its output appears, from the output
records' timestamps, and the CPU each process spent per record (from /proc). Target:
classifier / pass-through >= 0.7.

The calls are a realistic mix (clients, strangers, missed, voicemail, internal, outbound) without
ring-group legs: a leg held for its siblings waits on purpose and says nothing about speed.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from classifier.knowledge import Knowledge
from classifier.legs import MemoryHeldLegs
from classifier.rules import default_rules_path, load_rules
from classifier.service import Classifier
from harness.kafka import TopicTail, create_extra_topics, producer, send_records
from harness.measure import Usage, alternating, ratio_line
from harness.profile import profiled
from harness.relay import relay_chain
from harness.service import ServiceProcess, free_port, service_env
from ingest_mail.domain.parse import MailboxIdentity, parse_message
from switchboard_shared.cloudevents import KafkaRecord, encode
from switchboard_shared.events import CallDirection, CallRecorded, CallStatus, MailReceived
from switchboard_shared.phone import PhonePolicy, normalise_phone
from switchboard_shared.topics import CALLS_RECORDED, INTERACTIONS_CLASSIFIED

US = PhonePolicy(default_region="US")
PASS_IN, PASS_OUT = "bench.passthrough.in", "bench.passthrough.out"
TARGET = 0.7
PER_ROUND = 3000
ROUNDS = 4


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


def records(calls: list[CallRecorded]) -> Iterator[KafkaRecord]:
    """The calls as call records, each encoded as it is sent."""
    for call in calls:
        yield encode(
            CALLS_RECORDED,
            call,
            id=str(uuid.uuid4()),
            source="bench",
            key=call.counterpart or call.call_id,
            time=call.started_at,
        )


def rate(stamps: list[int]) -> float:
    span_ms = max(stamps) - min(stamps)
    return (len(stamps) - 1) / (span_ms / 1000) if span_ms > 0 else float("inf")


async def bench(bootstrap: str, workdir: Path) -> None:
    call_rate, mail_rate = in_process()
    await create_extra_topics(bootstrap, (PASS_IN, PASS_OUT))
    env = service_env(bootstrap)
    port = free_port()
    classifier_env = {
        **env,
        "CLASSIFIER_PORT": str(port),
        "CLASSIFIER_CONSUMER_GROUP": f"bench-classifier-{uuid.uuid4().hex[:6]}",
    }
    outputs = {
        "classifier": TopicTail(bootstrap, INTERACTIONS_CLASSIFIED.name),
        "pass-through": TopicTail(bootstrap, PASS_OUT),
    }
    inputs = {"classifier": CALLS_RECORDED.name, "pass-through": PASS_IN}
    try:
        with (
            ServiceProcess("classifier", classifier_env, workdir / "classifier.log") as ours,
            relay_chain(bootstrap, workdir, [PASS_IN, PASS_OUT], "pass-through") as relays,
        ):
            await ours.wait_ready(port)
            async with producer(bootstrap) as client:
                for output in outputs.values():
                    await output.start()
                calls, _ = sample_calls(PER_ROUND * ROUNDS + 400, seed=11)
                for name in outputs:  # warm-up: group joined, connections open
                    await send_records(client, records(calls[:200]), topic=inputs[name])
                    await outputs[name].collect(200)
                rates: dict[str, list[float]] = {name: [] for name in outputs}
                pids = {"classifier": ours.pid, "pass-through": relays["relay-1"]}
                usage = Usage(pids)
                async with profiled({"classifier": ours.pid}):
                    with usage:
                        for r in range(ROUNDS):
                            chunk = calls[400 + r * PER_ROUND : 400 + (r + 1) * PER_ROUND]
                            for name in alternating(list(outputs), r):
                                await send_records(client, records(chunk), topic=inputs[name])
                                got = await outputs[name].collect(len(chunk))
                                rates[name].append(rate(got))
    finally:
        for output in outputs.values():
            await output.stop()

    mean = {name: len(values) / sum(1 / v for v in values) for name, values in rates.items()}
    ratio = mean["classifier"] / mean["pass-through"]
    print(f"\nclassifier: classifications per second ({ROUNDS} rounds of {PER_ROUND} call records)")
    print(f"  in-process (rules + knowledge)   calls {call_rate:9.0f}/s   mail {mail_rate:9.0f}/s")
    print(f"  through the broker               {mean['classifier']:9.0f}/s (acks=all)")
    print(f"  batched pass-through relay       {mean['pass-through']:9.0f}/s (acks=all)")
    print("  " + usage.line(ROUNDS * PER_ROUND))
    print(ratio_line("ratio (classifier / pass-through)", ratio, TARGET))
