"""A broker of a module's own, for tests that leave records other tests must not meet (a record
that keeps failing would be retried, with backoff, by every later consumer group reading the
session broker's topics from their start). The benches in `scripts/` start theirs the same way."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from support.broker import start_broker
from switchboard_shared.admin import create_topics
from switchboard_shared.settings import CommonSettings


@contextlib.asynccontextmanager
async def broker_with_topics(log_path: Path) -> AsyncIterator[str]:
    """The bootstrap address of a fresh broker (its output in `log_path`) with every
    Switchboard topic created; the broker is stopped afterwards."""
    process = start_broker(log_path)
    try:
        await create_topics(CommonSettings(kafka_bootstrap=process.bootstrap, topic_partitions=3))
        yield process.bootstrap
    finally:
        process.stop()


@contextlib.asynccontextmanager
async def private_broker(directory: Path) -> AsyncIterator[str]:
    """The bootstrap address of a fresh broker with every Switchboard topic created."""
    async with broker_with_topics(directory / "broker.log") as bootstrap:
        yield bootstrap
