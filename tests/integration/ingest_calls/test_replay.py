"""Replaying ingest.rejected.v1 against the real broker."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ingest_calls.config import Settings
from ingest_calls.metrics import METRICS
from ingest_calls.publisher import CallPublisher
from ingest_calls.replay import replay
from support.records import read_to_end
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


async def copies(bootstrap: str) -> dict[str, int]:
    """How many records of each call id calls.recorded.v1 holds: the whole topic, to its end."""
    found: dict[str, int] = {}
    for record in await read_to_end(bootstrap, CALLS_RECORDED.name):
        call_id = json.loads(record.value)["call_id"]
        found[call_id] = found.get(call_id, 0) + 1
    return found


async def test_replay_publishes_what_parses_now_and_reports_the_rest(
    kafka_bootstrap: str,
) -> None:
    settings = Settings(
        generic_hmac_secret="replay-test-secret-0123456789",
        common=CommonSettings(kafka_bootstrap=kafka_bootstrap),
    )
    # Only this test's records: other tests of this broker keep rejected records too.
    since = datetime.now(UTC)
    fixed = f"fixed-{uuid.uuid4().hex[:8]}"
    broken = f"broken-{uuid.uuid4().hex[:8]}"
    # Rejected by an older release, valid today:
    await reject(settings, call(fixed), "older release did not know this field")
    # Still invalid today:
    await reject(settings, call(broken, status="maybe"), "status: invalid")

    before = await copies(kafka_bootstrap)
    dry = await replay(settings, dry_run=True, since=since)
    assert (dry.replayed, dry.events, dry.still_invalid) == (1, 1, 1)
    assert len(dry.failures) == 1
    # a dry run publishes nothing at all
    assert await copies(kafka_bootstrap) == before

    report = await replay(settings, since=since)
    assert (report.replayed, report.events, report.still_invalid) == (1, 1, 1)
    [failure] = report.failures
    assert failure.startswith("generic: status")
    assert report.skipped == report.read - 2  # everything else on the topic is older
    after = await copies(kafka_bootstrap)
    assert after.get(f"generic:{fixed}") == 1  # exactly one event, the fixed call's
    assert f"generic:{broken}" not in after
    assert {k: v for k, v in after.items() if k != f"generic:{fixed}"} == before
