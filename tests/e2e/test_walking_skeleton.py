"""One signed call travels the whole way: webhook → Kafka → classifier → crm-store → API + Kafka.

Runs against the real broker and the real services (separate processes), on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from ingest_calls.domain.generic import sign
from support.stack import ADMIN_TOKEN, GENERIC_SECRET, Stack
from switchboard_shared.cloudevents import decode
from switchboard_shared.events import ActivityChanged
from switchboard_shared.topics import CALLS_RECORDED, CRM_ACTIVITIES

pytestmark = pytest.mark.e2e
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def new_number() -> str:
    """A fresh, valid US number per test, so tests never see each other's activities."""
    return f"+1415555{uuid.uuid4().int % 10_000:04d}"


def call_body(number: str, *, status: str = "no_answer", call_id: str | None = None) -> bytes:
    start = datetime.now(UTC) - timedelta(seconds=40)
    call: dict[str, Any] = {
        "id": call_id or f"e2e-{uuid.uuid4().hex[:10]}",
        "direction": "inbound",
        "status": status,
        "from": number,
        "to": "+14155550100",
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(seconds=30)).isoformat(),
        "agent": "101",
    }
    if status == "answered":
        call["answered_at"] = (start + timedelta(seconds=5)).isoformat()
    return json.dumps(call).encode()


async def post_signed(stack: Stack, body: bytes, secret: str = GENERIC_SECRET) -> httpx.Response:
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Switchboard-Timestamp": timestamp,
        "X-Switchboard-Signature": sign(secret, timestamp, body),
    }
    async with httpx.AsyncClient(base_url=stack.url("ingest_calls")) as client:
        return await client.post("/webhooks/generic", content=body, headers=headers)


async def activities(stack: Stack, **params: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=stack.url("crm_store"), headers=ADMIN) as client:
        response = await client.get("/api/v1/activities", params={"limit": "200", **params})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def eventually(
    check: Callable[[], Awaitable[Any]], timeout: float = 30.0, interval: float = 0.1
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


def for_number(stack: Stack, number: str) -> Callable[[], Awaitable[list[dict[str, Any]]]]:
    async def check() -> list[dict[str, Any]]:
        return [a for a in await activities(stack) if a.get("counterpart") == number]

    return check


async def test_missed_call_opens_a_callback_visible_in_api_and_on_kafka(stack: Stack) -> None:
    number = new_number()
    consumer = AIOKafkaConsumer(
        CRM_ACTIVITIES.name,
        bootstrap_servers=stack.env["SWITCHBOARD_KAFKA_BOOTSTRAP"],
        auto_offset_reset="earliest",
        group_id=f"e2e-{uuid.uuid4().hex}",
    )
    await consumer.start()
    try:
        started = time.monotonic()
        response = await post_signed(stack, call_body(number))
        assert response.status_code == 200, response.text
        [accepted] = response.json()["accepted"]
        assert accepted["outcome"] == "published"

        [activity] = await eventually(for_number(stack, number))
        latency = time.monotonic() - started
        print(f"webhook → activity visible in the API: {latency:.2f}s")
        assert activity["kind"] == "callback"
        assert activity["state"] == "open"
        assert activity["count"] == 1

        async def activity_event() -> ActivityChanged | None:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    _, event = decode(record.headers, record.value)
                    assert isinstance(event, ActivityChanged)
                    if event.activity_id == activity["id"]:
                        return event
            return None

        event = await eventually(activity_event)
        assert event.kind == "callback"
        assert event.state == "open"
        assert event.change == "opened"
        assert event.counterpart == number
    finally:
        await consumer.stop()


async def test_same_webhook_twice_and_a_redelivery_yield_one_interaction(stack: Stack) -> None:
    number = new_number()
    body = call_body(number, call_id=f"dup-{uuid.uuid4().hex[:8]}")
    first = await post_signed(stack, body)
    second = await post_signed(stack, body)
    assert first.status_code == second.status_code == 200
    assert second.json()["accepted"][0]["outcome"] == "duplicate"
    assert first.json()["accepted"][0]["event_id"] == second.json()["accepted"][0]["event_id"]

    # A redelivery the ingest cannot see (e.g. after its restart): the same record again.
    [callback] = await eventually(for_number(stack, number))
    await redeliver_last_call(stack, number)

    # A later answered call with the same number travels the same partition, after the
    # duplicates: once it has closed the callback, the duplicates have been processed.
    answered = await post_signed(stack, call_body(number, status="answered"))
    assert answered.status_code == 200

    async def settled() -> list[dict[str, Any]]:
        items = await for_number(stack, number)()
        kinds = {(a["kind"], a["state"]) for a in items}
        return items if ("log_outcome", "open") in kinds else []

    items = await eventually(settled)
    callbacks = [a for a in items if a["kind"] == "callback"]
    assert len(callbacks) == 1
    assert callbacks[0]["id"] == callback["id"]
    assert callbacks[0]["count"] == 1, "a duplicate was counted as a second missed call"
    assert callbacks[0]["state"] == "done"
    assert callbacks[0]["closed_by"] == "auto"


async def redeliver_last_call(stack: Stack, number: str) -> None:
    """Read the call's record from calls.recorded.v1 and publish it again, unchanged."""
    bootstrap = stack.env["SWITCHBOARD_KAFKA_BOOTSTRAP"]
    consumer = AIOKafkaConsumer(
        CALLS_RECORDED.name,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"e2e-{uuid.uuid4().hex}",
    )
    await consumer.start()
    try:

        async def find() -> Any:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    if record.key == number.encode():
                        return record
            return None

        record = await eventually(find)
    finally:
        await consumer.stop()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            CALLS_RECORDED.name, record.value, key=record.key, headers=list(record.headers)
        )
    finally:
        await producer.stop()


async def test_bad_signature_malformed_and_oversized_requests(stack: Stack) -> None:
    body = call_body(new_number())
    wrong = await post_signed(stack, body, secret="not-the-secret-0123456789")
    assert wrong.status_code == 401
    assert wrong.headers["content-type"] == "application/problem+json"

    malformed = json.loads(body)
    malformed["status"] = "maybe"
    response = await post_signed(stack, json.dumps(malformed).encode())
    assert response.status_code == 422
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["field"] == "status"
    assert problem["rejected_event_id"]

    huge = b'{"id": "' + b"x" * 2_000_000 + b'"}'
    too_large = await post_signed(stack, huge)
    assert too_large.status_code == 413


async def test_every_service_is_healthy_ready_and_exposes_metrics(stack: Stack) -> None:
    prefixes = {
        "ingest_calls": "ingest_calls_",
        "ingest_mail": "ingest_mail_",
        "classifier": "classifier_",
        "crm_store": "crm_store_",
    }
    async with httpx.AsyncClient() as client:
        for module, prefix in prefixes.items():
            base = stack.url(module)
            assert (await client.get(f"{base}/healthz")).status_code == 200
            ready = await client.get(f"{base}/readyz")
            assert ready.status_code == 200, ready.text
            metrics = await client.get(f"{base}/metrics")
            assert metrics.status_code == 200
            assert f"{prefix}broker_up 1.0" in metrics.text


async def test_api_requires_a_bearer_token(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url("crm_store")) as client:
        missing = await client.get("/api/v1/activities")
        wrong = await client.get(
            "/api/v1/activities", headers={"Authorization": "Bearer nope-nope-nope"}
        )
    assert missing.status_code == wrong.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"


async def test_a_poison_message_goes_to_the_dead_letter_topic_and_the_rest_flows(
    stack: Stack,
) -> None:
    bootstrap = stack.env["SWITCHBOARD_KAFKA_BOOTSTRAP"]
    marker = uuid.uuid4().hex.encode()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            CALLS_RECORDED.name,
            b'{"not": "a call"}',
            key=marker,
            headers=[("ce_specversion", b"1.0"), ("ce_id", marker)],
        )
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        CALLS_RECORDED.dlq,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"e2e-{uuid.uuid4().hex}",
    )
    await consumer.start()
    try:

        async def dead_lettered() -> dict[str, bytes] | None:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    if record.key == marker:
                        return dict(record.headers)
            return None

        headers = await eventually(dead_lettered)
    finally:
        await consumer.stop()
    assert headers["dlq_original_topic"] == CALLS_RECORDED.name.encode()
    assert b"missing CloudEvents headers" in headers["dlq_error"]

    # The consumer moved on: a real call behind the poison message still becomes an activity.
    number = new_number()
    assert (await post_signed(stack, call_body(number))).status_code == 200
    await eventually(for_number(stack, number))
