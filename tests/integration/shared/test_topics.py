"""Topic creation against the real broker."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from support.broker import BrokerProcess, start_broker
from switchboard_shared import topics
from switchboard_shared.admin import create_topics
from switchboard_shared.settings import CommonSettings

pytestmark = pytest.mark.integration


async def test_every_topic_is_created_once_with_its_partitions_and_policy(
    tmp_path: Path,
) -> None:
    broker = start_broker(tmp_path / "broker.log")  # its own: the partition count is ours
    try:
        await check_topics(broker)
    finally:
        broker.stop()


async def check_topics(broker: BrokerProcess) -> None:
    settings = CommonSettings(kafka_bootstrap=broker.bootstrap, topic_partitions=4)
    first = await create_topics(settings)
    again = await create_topics(settings)
    assert again == [], "a second run must create nothing"

    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        assert set(topics.all_topic_names()) <= existing
        assert set(first) <= existing
        described = await admin.describe_topics([topics.CALLS_RECORDED.name])
        assert len(described[0]["partitions"]) == 4
        resource = ConfigResource(ConfigResourceType.TOPIC, topics.CRM_CONTACT_POINTS.name)
        [response] = await admin.describe_configs([resource])
        entries = {entry[0]: entry[1] for result in response.resources for entry in result[4]}
        assert entries.get("cleanup.policy") == "compact"
    finally:
        await admin.close()
