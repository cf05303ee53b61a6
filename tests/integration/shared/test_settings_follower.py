"""The settings follower against the real broker: it reads `crm.settings.v1` to its end before
the service consumes anything, applies the latest version of each group (an older or invalid
record never replaces it), then follows changes live; with no broker it gives up waiting in
bounded time and the environment's values stay in force."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer

from support.conditions import until
from support.private_broker import private_broker
from switchboard_shared.cloudevents import encode
from switchboard_shared.events import SettingsChanged
from switchboard_shared.settings.follower import LiveSettings, SettingsFollower
from switchboard_shared.settings.groups import (
    ClassificationSettings,
    OutcomeSettings,
    TelephonySettings,
)
from switchboard_shared.topics import CRM_SETTINGS

pytestmark = pytest.mark.integration
AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest_asyncio.fixture
async def bootstrap(tmp_path: Path) -> AsyncIterator[str]:
    # A broker of its own: other tests' services must not follow these settings.
    async with private_broker(tmp_path) as address:
        yield address


async def publish(bootstrap: str, group: str, version: int, values: dict[str, Any]) -> None:
    event = SettingsChanged(
        group=group, values=values, version=version, changed_by="manager:m-1", changed_at=AT
    )
    record = encode(CRM_SETTINGS, event, id=f"{group}-{version}", source="test", key=group)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            record.topic,
            record.value,
            key=record.key,
            headers=[(k, v.encode()) for k, v in record.headers.items()],
        )
    finally:
        await producer.stop()


async def test_an_empty_topic_leaves_the_environment_values(bootstrap: str) -> None:
    live = LiveSettings(TelephonySettings(default_region="PL"))
    follower = SettingsFollower(bootstrap, live, client_id="test-empty", load_timeout_s=30)
    try:
        assert await follower.load()
    finally:
        await follower.stop()
    assert live.get(TelephonySettings).default_region == "PL"
    assert live.get(ClassificationSettings) == ClassificationSettings()
    assert live.version("telephony") == 0


async def test_the_latest_of_each_group_before_consuming_then_live_changes(
    bootstrap: str,
) -> None:
    await publish(bootstrap, "classification", 1, {"very_short_call_s": 20})
    await publish(bootstrap, "classification", 2, {"very_short_call_s": 45})
    await publish(bootstrap, "outcomes", 1, {"min_talk_min": 7})
    await publish(bootstrap, "classification", 1, {"very_short_call_s": 99})  # late, older
    await publish(bootstrap, "outcomes", 2, {"min_talk_min": -3})  # invalid: refused
    live = LiveSettings()
    changes: list[str] = []
    live.on_change(changes.append)
    follower = SettingsFollower(bootstrap, live, client_id="test-latest", load_timeout_s=30)
    try:
        assert await follower.load()
        # Loaded means read to the end: every record above was applied or refused.
        assert live.get(ClassificationSettings).very_short_call_s == 45
        assert live.version("classification") == 2
        assert live.get(OutcomeSettings).min_talk_min == 7
        assert live.version("outcomes") == 1
        await publish(bootstrap, "classification", 3, {"very_short_call_s": 5})
        await until(lambda: live.version("classification") == 3, "the live change", 30)
        assert live.get(ClassificationSettings).very_short_call_s == 5
    finally:
        await follower.stop()
    assert changes == ["classification", "classification", "outcomes", "classification"]


async def test_no_broker_gives_up_waiting_in_bounded_time() -> None:
    live = LiveSettings(TelephonySettings(default_region="DE"))
    follower = SettingsFollower(
        "127.0.0.1:1", live, client_id="test-nobroker", load_timeout_s=1.0, retry_s=0.2
    )
    started = time.monotonic()
    try:
        assert not await follower.load()
    finally:
        await follower.stop()
    assert time.monotonic() - started < 5
    assert live.get(TelephonySettings).default_region == "DE"
