"""Kafka administration: create every Switchboard topic idempotently.

    python -m switchboard_shared.admin create-topics [--timeout 30]

Reads `SWITCHBOARD_KAFKA_BOOTSTRAP`, `SWITCHBOARD_TOPIC_PARTITIONS` and
`SWITCHBOARD_TOPIC_REPLICATION`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from switchboard_shared import topics
from switchboard_shared.logging import configure_logging
from switchboard_shared.settings import CommonSettings

log = logging.getLogger(__name__)


# What is kept for replay (rejected input, dead letters) outlives Kafka's 7-day default.
REPLAY_RETENTION = {"retention.ms": str(30 * 24 * 3600 * 1000)}


def topic_specs(partitions: int, replication: int) -> list[NewTopic]:
    specs = []
    for topic in topics.ALL:
        configs: dict[str, str] = {}
        if topic.compacted:
            configs["cleanup.policy"] = "compact"
        if topic is topics.INGEST_REJECTED:
            configs.update(REPLAY_RETENTION)
        specs.append(NewTopic(topic.name, partitions, replication, topic_configs=configs))
    for topic in topics.CONSUMED:
        specs.append(
            NewTopic(topic.dlq, partitions, replication, topic_configs=dict(REPLAY_RETENTION))
        )
    return specs


async def create_topics(settings: CommonSettings, timeout_s: float = 30.0) -> list[str]:
    """Create the missing topics; return the names created."""
    deadline = time.monotonic() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            await admin.close()
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
    try:
        existing = set(await admin.list_topics())
        wanted = [
            t
            for t in topic_specs(settings.topic_partitions, settings.topic_replication)
            if t.name not in existing
        ]
        if wanted:
            # Another process may win the race; the topics exist either way.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
        return [t.name for t in wanted]
    finally:
        await admin.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m switchboard_shared.admin")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create-topics", help="create every topic that does not exist yet")
    create.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for Kafka")
    args = parser.parse_args(argv)
    settings = CommonSettings()
    configure_logging("admin", settings.log_level, "text")
    try:
        created = asyncio.run(create_topics(settings, args.timeout))
    except KafkaConnectionError as exc:
        log.error("cannot reach Kafka at %s: %s", settings.kafka_bootstrap, exc)
        return 1
    log.info("topics ready (%d created)", len(created))
    return 0


if __name__ == "__main__":
    sys.exit(main())
