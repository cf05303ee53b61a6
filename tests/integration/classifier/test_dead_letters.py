"""The classifier dead-letters a call it keeps failing to handle, after `max_attempts` tries with
backoff, and goes on with the calls behind it on the same partition (real broker).

The failure is real: a call whose provider payload (`raw`) re-encodes larger than it came in
(`1e15` is written back as `1000000000000000.0`) fits on calls.recorded.v1, but its verdict is
over the producer's 1 MiB request limit, so publishing the verdict fails (`RecordTooLarge`) on
every try.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer

from classifier.app import create_app
from classifier.config import Settings
from support.conditions import eventually
from support.offsets import committed, read_to_end, start_group_at_end, unique_group
from support.private_broker import private_broker
from switchboard_shared.cloudevents import KafkaRecord, decode, encode
from switchboard_shared.consumer import backoff
from switchboard_shared.events import (
    CallDirection,
    CallRecorded,
    CallStatus,
    InteractionClassified,
)
from switchboard_shared.phone import PhonePolicy, normalise_phone
from switchboard_shared.settings import CommonSettings
from switchboard_shared.topics import CALLS_RECORDED, INTERACTIONS_CLASSIFIED, MAIL_RECEIVED

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
MAX_ATTEMPTS = 3
US = PhonePolicy(default_region="US")
NOW = datetime.now(UTC).replace(microsecond=0)
PRODUCER_LIMIT = 1024 * 1024  # aiokafka's max_request_size, the services' default
SAMPLES = 80_000  # 5 bytes each in, 19 out


def call(caller: str) -> CallRecorded:
    return CallRecorded(
        call_id=f"generic:{uuid.uuid4().hex}",
        provider="generic",
        direction=CallDirection.INBOUND,
        status=CallStatus.ANSWERED,
        started_at=NOW,
        answered_at=NOW,
        ended_at=NOW,
        talk_s=120.0,
        from_=normalise_phone(caller, US),
        to=normalise_phone("101", US),
        counterpart=caller,
        agent="101",
    )


def as_record(data: CallRecorded, key: str, value: bytes | None = None) -> KafkaRecord:
    record = encode(CALLS_RECORDED, data, id=str(uuid.uuid4()), source="test", key=key, time=NOW)
    return KafkaRecord(record.topic, record.key, value or record.value, record.headers)


def inflating(caller: str) -> KafkaRecord:
    """A valid call whose value grows ~4x when re-encoded: its verdict cannot be published."""
    payload = json.loads(as_record(call(caller), caller).value or b"")
    payload["raw"] = {"samples": "SAMPLES"}
    value = json.dumps(payload).replace('"SAMPLES"', "[" + ",".join(["1e15"] * SAMPLES) + "]")
    record = as_record(call(caller), caller, value.encode())
    decoded = decode(record.headers, record.value)[1]
    assert isinstance(decoded, CallRecorded)  # it decodes
    assert len(record.value or b"") < PRODUCER_LIMIT // 2
    assert len(decoded.model_dump_json(by_alias=True)) > PRODUCER_LIMIT
    return record


async def send(producer: AIOKafkaProducer, record: KafkaRecord) -> Any:
    return await producer.send_and_wait(
        record.topic,
        record.value,
        key=record.key,
        headers=[(k, v.encode()) for k, v in record.headers.items()],
    )


@contextlib.asynccontextmanager
async def classifier(bootstrap: str, group: str) -> AsyncIterator[None]:
    settings = Settings(
        common=CommonSettings(kafka_bootstrap=bootstrap, publish_timeout_s=10.0),
        consumer_group=group,
        max_attempts=MAX_ATTEMPTS,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://classifier") as client:

            async def ready() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await eventually(ready, timeout=60, what="the classifier ready")
            yield


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def broker_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A broker of this module's own: the record left failing on it is met by no other test."""
    async with private_broker(tmp_path_factory.mktemp("dead-letters")) as bootstrap:
        yield bootstrap


async def test_a_call_that_keeps_failing_is_dead_lettered_and_those_behind_it_are_judged(
    broker_bootstrap: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="switchboard_shared.consumer")
    group = unique_group("classifier-dlq")
    # This test's records only (the module's other runs leave theirs on this broker too).
    await start_group_at_end(broker_bootstrap, group, CALLS_RECORDED.name)
    await start_group_at_end(broker_bootstrap, f"{group}-mail", MAIL_RECEIVED.name)
    caller = f"+1415{random.randint(2_000_000, 9_999_999)}"
    poison = inflating(caller)
    behind = [as_record(call(caller), caller) for _ in range(3)]
    producer = AIOKafkaProducer(bootstrap_servers=broker_bootstrap, acks="all")
    await producer.start()
    try:
        async with classifier(broker_bootstrap, group):
            dead = await send(producer, poison)
            rest = [await send(producer, record) for record in behind]
            assert {m.partition for m in rest} == {dead.partition}  # one key: one partition
            assert dead.offset < min(m.offset for m in rest)

            async def caught_up() -> bool:
                offsets = await committed(broker_bootstrap, group, CALLS_RECORDED.name)
                return bool(offsets[dead.partition] == rest[-1].offset + 1)

            await eventually(caught_up, timeout=120, what="the group's position past them all")
    finally:
        await producer.stop()

    poison_id = poison.headers["ce_id"]
    tries = [
        r
        for r in caplog.records
        if r.getMessage() == "handler failed" and getattr(r, "ce_id", None) == poison_id
    ]
    assert [getattr(r, "attempt", None) for r in tries] == list(range(1, MAX_ATTEMPTS + 1))
    assert all("RecordTooLarge" in (r.exc_text or "") for r in tries)
    for n, (earlier, later) in enumerate(itertools.pairwise(tries), start=1):
        assert later.created - earlier.created >= backoff(n, cap=5.0) - 0.05

    # One verdict for each call behind it, none for the dead-lettered one.
    wanted = {poison_id, *(r.headers["ce_id"] for r in behind)}
    verdicts: dict[str, int] = {}
    for record in await read_to_end(broker_bootstrap, INTERACTIONS_CLASSIFIED.name):
        if record.key != caller.encode():
            continue
        event = decode(record.headers, record.value)[1]
        assert isinstance(event, InteractionClassified)
        if event.interaction_id in wanted:
            verdicts[event.interaction_id] = verdicts.get(event.interaction_id, 0) + 1
    assert verdicts == {r.headers["ce_id"]: 1 for r in behind}

    # Exactly one copy on the DLQ: the original record, with what happened in its headers.
    mine = [
        r
        for r in await read_to_end(broker_bootstrap, CALLS_RECORDED.dlq)
        if r.key == caller.encode()
    ]
    assert len(mine) == 1, [dict(r.headers) for r in mine]
    [record] = mine
    headers = {k: v.decode() for k, v in record.headers}
    assert headers["dlq_attempts"] == str(MAX_ATTEMPTS)
    assert headers["dlq_original_topic"] == CALLS_RECORDED.name
    assert headers["dlq_partition"] == str(dead.partition)
    assert headers["dlq_offset"] == str(dead.offset)
    assert headers["dlq_group"] == group
    assert "RecordTooLarge" in headers["dlq_error"]
    assert headers["ce_id"] == poison_id  # the original headers are kept
    assert headers["ce_type"] == CALLS_RECORDED.ce_type
    assert record.value == poison.value
