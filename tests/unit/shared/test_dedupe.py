"""The dedupe helper: one line for a consumer to drop the repeats of at-least-once delivery."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker

from switchboard_shared.dedupe import Dedupe, ce_id_of


def record(ce_id: str | None, offset: int = 0) -> ConsumerRecord[bytes, bytes]:
    """What aiokafka's consumer yields: headers as (name, bytes) pairs."""
    headers = [("ce_specversion", b"1.0")] + ([("ce_id", ce_id.encode())] if ce_id else [])
    return ConsumerRecord(
        topic="crm.activities.v1",
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=b"k",
        value=b"{}",
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=2,
        headers=tuple(headers),
    )


@pytest.mark.parametrize(
    "source",
    [
        {"ce_id": "e-1", "ce_type": "x"},  # faststream's message.headers
        [("ce_type", b"x"), ("ce_id", b"e-1")],  # aiokafka's record.headers
        record("e-1"),  # an aiokafka record itself
    ],
)
def test_the_ce_id_is_read_from_any_shape(source: Any) -> None:
    assert ce_id_of(source) == "e-1"


def test_first_time_then_repeats() -> None:
    dedupe = Dedupe(10)
    assert dedupe.first_time(record("e-1", offset=1))
    assert not dedupe.first_time(record("e-1", offset=2))  # re-sent: same ce_id, new offset
    assert not dedupe.first_time({"ce_id": "e-1"})
    assert dedupe.first_time(record("e-2"))


def test_an_event_without_a_ce_id_is_never_dropped() -> None:
    dedupe = Dedupe(10)
    assert dedupe.first_time(record(None))
    assert dedupe.first_time(record(None))
    assert dedupe.first_time({})
    assert len(dedupe) == 0


def test_it_is_bounded_and_forgets_the_least_recently_seen() -> None:
    dedupe = Dedupe(3)
    for n in range(3):
        dedupe.remember({"ce_id": f"e-{n}"})
    assert dedupe.seen({"ce_id": "e-0"})  # seen again: now the most recent
    dedupe.remember({"ce_id": "e-3"})
    assert len(dedupe) == 3
    assert not dedupe.seen({"ce_id": "e-1"})
    assert dedupe.seen({"ce_id": "e-0"})
    assert dedupe.snapshot() == ["e-2", "e-3", "e-0"]


def test_remember_after_the_work_so_a_failure_is_handled_again() -> None:
    dedupe = Dedupe(10)
    message = record("e-1")
    assert not dedupe.seen(message)
    # ...the work fails; the offset is not committed; the message comes again:
    assert not dedupe.seen(message)
    dedupe.remember(message)  # ...this time the work is done
    assert dedupe.seen(message)


def test_forget_undoes_first_time() -> None:
    dedupe = Dedupe(10)
    assert dedupe.first_time(record("e-1"))
    dedupe.forget(record("e-1"))  # the work failed
    assert dedupe.first_time(record("e-1"))


def test_the_consumer_chooses_persistence_with_a_snapshot() -> None:
    before = Dedupe(10)
    for n in range(4):
        before.first_time({"ce_id": f"e-{n}"})
    after = Dedupe(3, remembered=before.snapshot())  # e.g. loaded from a file at start
    assert not after.first_time({"ce_id": "e-3"})
    assert after.first_time({"ce_id": "e-0"})  # beyond the new bound


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="size"):
        Dedupe(0)


async def test_one_line_in_a_faststream_subscriber() -> None:
    broker = KafkaBroker()
    dedupe = Dedupe(1_000)
    handled: list[str] = []

    @broker.subscriber("crm.activities.v1", group_id="billing")
    async def on_activity(body: dict[str, Any], message: KafkaMessage) -> None:
        if not dedupe.first_time(message):
            return
        handled.append(body["activity_id"])

    async with TestKafkaBroker(broker) as test_broker:
        for ce_id, activity in [("e-1", "a-1"), ("e-1", "a-1"), ("e-2", "a-2"), ("e-1", "a-1")]:
            await test_broker.publish(
                {"activity_id": activity}, "crm.activities.v1", headers={"ce_id": ce_id}
            )
    assert handled == ["a-1", "a-2"]
