"""A broker of a module's own, for tests that leave records other tests must not meet (a record
that keeps failing would be retried, with backoff, by every later consumer group reading the
session broker's topics from their start)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from support.broker import start_broker
from switchboard_shared.admin import create_topics
from switchboard_shared.settings import CommonSettings


@contextlib.asynccontextmanager
async def private_broker(directory: Path) -> AsyncIterator[str]:
    """The bootstrap address of a fresh broker with every Switchboard topic created."""
    process = start_broker(directory / "broker.log")
    try:
        await create_topics(CommonSettings(kafka_bootstrap=process.bootstrap, topic_partitions=3))
        yield process.bootstrap
    finally:
        process.stop()
