"""Replaying ingest.rejected.v1 against the real broker."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer

from ingest_calls.config import Settings
from ingest_calls.metrics import METRICS
from ingest_calls.publisher import CallPublisher
from ingest_calls.replay import replay
from switchboard_shared.kafka import Bus
from switchboard_shared.settings import CommonSettings
from switchboard_shared.topics import CALLS_RECORDED

pytestmark = pytest.mark.integration


def call(call_id: str, **changes: str) -> bytes:
    start = datetime.now(UTC) - timedelta(minutes=5)
    body = {
        "id": call_id,
        "direction": "inbound",
        "status": "no_answer",
        "from": "+14155550177",
        "to": "+14155550100",
        "started_at": start.isoformat(),
        **changes,
    }
    return json.dumps(body).encode()


async def reject(settings: Settings, body: bytes, detail: str) -> None:
    """Put a record on ingest.rejected.v1 the way the webhook edge does."""
    bus = Bus(settings.common, client_id="test", metrics=METRICS)
    await bus.start()
    try:
        assert await bus.wait_connected(20)
        await CallPublisher(bus, 10).reject(
            "generic", "invalid_payload", detail, "application/json", body
        )
    finally:
        await bus.stop()


async def published_call_ids(bootstrap: str) -> set[str]:
    consumer = AIOKafkaConsumer(
        CALLS_RECORDED.name,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"replay-{uuid.uuid4().hex}",
    )
    await consumer.start()
    try:
        seen: set[str] = set()
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                seen.update(json.loads(r.value)["call_id"] for r in records)
        return seen
    finally:
        await consumer.stop()


async def test_replay_publishes_what_parses_now_and_reports_the_rest(
    kafka_bootstrap: str,
) -> None:
    settings = Settings(
        generic_hmac_secret="replay-test-secret-0123456789",
        common=CommonSettings(kafka_bootstrap=kafka_bootstrap),
    )
    fixed = f"fixed-{uuid.uuid4().hex[:8]}"
    broken = f"broken-{uuid.uuid4().hex[:8]}"
    # Rejected by an older release, valid today:
    await reject(settings, call(fixed), "older release did not know this field")
    # Still invalid today:
    await reject(settings, call(broken, status="maybe"), "status: invalid")

    dry = await replay(settings, dry_run=True, since=datetime.now(UTC) - timedelta(minutes=1))
    assert dry.replayed >= 1
    assert dry.still_invalid >= 1

    report = await replay(settings, since=datetime.now(UTC) - timedelta(minutes=1))
    assert report.replayed >= 1
    assert any("status" in failure for failure in report.failures)
    published = await published_call_ids(kafka_bootstrap)
    assert f"generic:{fixed}" in published
    assert f"generic:{broken}" not in published
