"""The reputation kept in `classifier.knowledge.v1`: values merge as unions whatever their order,
a withdrawn report stays withdrawn, and the feed writes a number's value only when the topic's
latest one lacks something it knows (so replicas writing the same number converge)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from aiokafka.structs import ConsumerRecord

from classifier.feed import KnowledgeFeed
from classifier.knowledge import WRONG_NUMBER, Knowledge, Report
from classifier.rules import RuleSet
from switchboard_shared.cloudevents import KafkaRecord, encode
from switchboard_shared.events import Disposition, Feedback, Reputation
from switchboard_shared.topics import CLASSIFIER_KNOWLEDGE, CRM_FEEDBACK

from .conftest import STARTED, STRANGER_E164

AT = STARTED - timedelta(days=1)


def report(n: int, manager: str = "m-1") -> Report:
    return Report(f"fb{n}:{WRONG_NUMBER}", STRANGER_E164, WRONG_NUMBER, manager, AT, False)


def consumed(record: KafkaRecord, offset: int = 0) -> ConsumerRecord[bytes, bytes]:
    """A record as the consumer hands it over."""
    headers = [(k, v.encode()) for k, v in record.headers.items()]
    return ConsumerRecord(
        record.topic, 0, offset, 0, 0, record.key, record.value, None, 0, 0, headers
    )


def wrong_number_feedback(manager: str, retracts: str | None = None) -> KafkaRecord:
    data = Feedback(
        interaction_id=str(uuid.uuid4()),
        manager_id=manager,
        preset="" if retracts else "wrong_number",
        classifier_disposition=Disposition.NEEDS_STATUS,
        overturns_classifier=False,
        retracts=retracts,
        at=AT,
    )
    return encode(CRM_FEEDBACK, data, id=str(uuid.uuid4()), source="t", key=STRANGER_E164)


def test_values_merge_into_the_same_reputation_in_either_order() -> None:
    left, right = Knowledge(), Knowledge()
    left.add_report(report(1))
    left.add_report(report(2, "m-2"))
    right.add_report(report(1))
    right.add_report(report(3, "m-3"))
    right.remove_report(STRANGER_E164, report(2).id)  # withdrawn where only right saw it
    a, b = left.reputation(STRANGER_E164), right.reputation(STRANGER_E164)
    assert left.merge(b) is True
    assert right.merge(a) is False  # right knew all of it (report 2 is withdrawn there)
    assert left.signature(STRANGER_E164) == right.signature(STRANGER_E164)
    merged = left.reputation(STRANGER_E164)
    assert [r.id for r in merged.reports] == [report(1).id, report(3).id]
    assert merged.retracted == [report(2).id]
    assert merged.counts == {WRONG_NUMBER: 2}
    assert left.merge(merged) is False  # nothing new: a redelivery


def test_a_withdrawn_report_is_not_added_again() -> None:
    known = Knowledge()
    known.remove_report(STRANGER_E164, report(1).id)  # the withdrawal read first
    assert known.add_report(report(1)) is False
    assert known.standing(STRANGER_E164, WRONG_NUMBER, STARTED, 365).reports == 0


def feed_with(rules: RuleSet, written: list[KafkaRecord]) -> KnowledgeFeed:
    async def publish(records: Sequence[KafkaRecord]) -> int:
        written.extend(records)
        return len(records)

    feed = KnowledgeFeed("unused:9092", Knowledge(), lambda: rules, publish)
    feed.loaded.set()
    return feed


def values(records: list[KafkaRecord]) -> list[Reputation]:
    return [Reputation.model_validate_json(r.value or b"") for r in records]


def test_the_feed_writes_what_the_topic_lacks_and_converges(rules: RuleSet) -> None:
    written: list[KafkaRecord] = []
    feed = feed_with(rules, written)
    first = wrong_number_feedback("m-1")
    feed.apply_records([consumed(first, 0)])
    assert asyncio.run(feed.write_back()) == 1
    [value] = values(written)
    assert value.point == STRANGER_E164
    assert value.counts == {WRONG_NUMBER: 1}
    assert written[0].topic == CLASSIFIER_KNOWLEDGE.name
    assert written[0].key == STRANGER_E164.encode()

    # Its own value read back: nothing more to write.
    feed.apply_records([consumed(written[0], 0)])
    assert asyncio.run(feed.write_back()) == 0

    # Another replica's older value lands last: the union is written again.
    second = wrong_number_feedback("m-2")
    feed.apply_records([consumed(second, 1)])
    assert asyncio.run(feed.write_back()) == 1
    stale: Any = encode(CLASSIFIER_KNOWLEDGE, value, id="x", source="t", key=STRANGER_E164)
    feed.apply_records([consumed(written[1], 1), consumed(stale, 2)])
    assert asyncio.run(feed.write_back()) == 1
    assert values(written)[-1].counts == {WRONG_NUMBER: 2}

    # The first report withdrawn: written as withdrawn, and a fresh reader of the topic alone
    # (the feedback expired) knows what this one knows.
    undo = wrong_number_feedback("m-1", retracts=first.headers["ce_id"])
    feed.apply_records([consumed(undo, 2)])
    assert asyncio.run(feed.write_back()) == 1
    fresh = feed_with(rules, [])
    fresh.apply_records([consumed(written[-1], 3)])
    assert fresh.knowledge.signature(STRANGER_E164) == feed.knowledge.signature(STRANGER_E164)
    assert fresh.knowledge.standing(STRANGER_E164, WRONG_NUMBER, STARTED, 365).reports == 1
