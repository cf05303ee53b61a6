"""The classifier against the real broker: calls and mail in, verdicts out, with the knowledge
topics (contact points with tombstones, managers' feedback) read at start-up and as they change,
read again in full at every start (nothing is kept on local disk)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastapi import FastAPI
from prometheus_client import REGISTRY

from classifier.app import create_app
from classifier.config import Settings
from classifier.rules import default_rules_path
from switchboard_shared.cloudevents import KafkaRecord, deterministic_id, encode
from switchboard_shared.events import (
    CallDirection,
    CallRecorded,
    CallStatus,
    ContactPoint,
    Disposition,
    Event,
    Feedback,
    InteractionClassified,
    MailDirection,
    MailReceived,
    Tag,
)
from switchboard_shared.phone import PhonePolicy, normalise_phone
from switchboard_shared.settings import CommonSettings
from switchboard_shared.topics import (
    CALLS_RECORDED,
    CRM_CONTACT_POINTS,
    CRM_FEEDBACK,
    INTERACTIONS_CLASSIFIED,
    MAIL_RECEIVED,
    Topic,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
US = PhonePolicy(default_region="US")
NOW = datetime.now(UTC).replace(microsecond=0)


def number() -> str:
    return f"+1415{random.randint(2_000_000, 9_999_999)}"


def call(
    caller: str,
    status: str = "answered",
    talk_s: float = 200.0,
    linked_id: str | None = None,
) -> CallRecorded:
    answered = status == "answered"
    return CallRecorded(
        call_id=f"generic:{uuid.uuid4().hex}",
        provider="generic",
        direction=CallDirection.INBOUND,
        status=CallStatus(status),
        started_at=NOW,
        answered_at=NOW + timedelta(seconds=5) if answered else None,
        ended_at=NOW + timedelta(seconds=5 + talk_s),
        talk_s=talk_s if answered else 0.0,
        from_=normalise_phone(caller, US),
        to=normalise_phone("101", US),
        counterpart=caller,
        agent="101",
        linked_id=linked_id,
    )


async def send(
    producer: AIOKafkaProducer, topic: Topic, data: Event, key: str, ce_id: str | None = None
) -> str:
    ce_id = ce_id or str(uuid.uuid4())
    record: KafkaRecord = encode(topic, data, id=ce_id, source="test", key=key, time=NOW)
    await producer.send_and_wait(
        record.topic,
        record.value,
        key=record.key,
        headers=[(k, v.encode()) for k, v in record.headers.items()],
    )
    return ce_id


async def tombstone(producer: AIOKafkaProducer, point: str) -> None:
    await producer.send_and_wait(CRM_CONTACT_POINTS.name, None, key=point.encode())


def feedback(preset: str, overturns: bool = False, tags: list[Tag] | None = None) -> Feedback:
    return Feedback(
        interaction_id=str(uuid.uuid4()),
        activity_id="a1",
        manager_id=f"m-{uuid.uuid4().hex[:6]}",
        preset=preset,
        classifier_disposition=Disposition.AUTO_CLOSED if tags else Disposition.NEEDS_STATUS,
        classifier_tags=tags or [],
        overturns_classifier=overturns,
        at=NOW - timedelta(days=2),
    )


class Verdicts:
    """Reads interactions.classified.v1 from its start, keyed by interaction id."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = AIOKafkaConsumer(
            INTERACTIONS_CLASSIFIED.name,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            group_id=f"verdicts-{uuid.uuid4().hex}",
        )
        self.seen: dict[str, tuple[InteractionClassified, dict[str, str]]] = {}

    async def get(self, interaction_id: str, timeout: float = 30.0) -> InteractionClassified:
        deadline = time.monotonic() + timeout
        while interaction_id not in self.seen:
            assert time.monotonic() < deadline, f"no verdict for {interaction_id}"
            batch = await self.consumer.getmany(timeout_ms=300)
            for records in batch.values():
                for r in records:
                    try:  # the session broker also carries other tests' (even poison) records
                        event = InteractionClassified.model_validate(json.loads(r.value))
                    except (ValueError, TypeError):
                        continue
                    headers = {k: v.decode() for k, v in r.headers}
                    self.seen[event.interaction_id] = (event, headers)
        return self.seen[interaction_id][0]


@contextlib.asynccontextmanager
async def running(bootstrap: str, rules: Path) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    settings = Settings(
        common=CommonSettings(kafka_bootstrap=bootstrap),
        consumer_group=f"classifier-it-{uuid.uuid4().hex[:8]}",
        rules_path=rules,
        rules_check_interval_s=0.2,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://classifier") as client:
            deadline = time.monotonic() + 30
            while (await client.get("/readyz")).status_code != 200:
                assert time.monotonic() < deadline, (await client.get("/readyz")).text
                await asyncio.sleep(0.2)
            yield app, client


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    yield producer
    await producer.stop()


@pytest.fixture
async def verdicts(kafka_bootstrap: str) -> AsyncIterator[Verdicts]:
    reader = Verdicts(kafka_bootstrap)
    await reader.consumer.start()
    yield reader
    await reader.consumer.stop()


async def test_calls_and_mail_judged_with_the_knowledge_topics(
    kafka_bootstrap: str, producer: AIOKafkaProducer, verdicts: Verdicts, tmp_path: Path
) -> None:
    client_number, former, stranger, reported = number(), number(), number(), number()
    # Knowledge published before the classifier starts: read at start-up, before any call.
    await send(
        producer,
        CRM_CONTACT_POINTS,
        ContactPoint(point=client_number, type="phone", contact_id="c1"),
        client_number,
    )
    await send(
        producer,
        CRM_CONTACT_POINTS,
        ContactPoint(point=former, type="phone", contact_id="c2"),
        former,
    )
    await tombstone(producer, former)
    await send(producer, CRM_FEEDBACK, feedback("wrong_number"), reported)

    rules = tmp_path / "rules.yaml"
    shutil.copy(default_rules_path(), rules)
    async with running(kafka_bootstrap, rules) as (app, http):
        ready = (await http.get("/readyz")).json()
        assert ready["checks"] == {"kafka": "ok", "knowledge": "ok"}

        cases = {
            "routine": (call(client_number, talk_s=6), "call.routine_short"),
            "tombstoned": (call(former, talk_s=6), "call.wrong_number_short"),
            "short stranger": (call(stranger, talk_s=6), "call.wrong_number_short"),
            "reported": (call(reported, talk_s=300), "call.wrong_number_known"),
            "conversation": (call(client_number, talk_s=300), "call.conversation"),
        }
        ids = {
            name: await send(producer, CALLS_RECORDED, c, c.counterpart or "")
            for name, (c, _) in cases.items()
        }
        for name, (event, rule) in cases.items():
            verdict = await verdicts.get(ids[name])
            assert [r.rule for r in verdict.reasons] == [rule], name
            assert verdict.call == event
            assert verdict.classifier_version.startswith("0.1.0+rules.yaml@")
            _, headers = verdicts.seen[ids[name]]
            assert headers["ce_id"] == deterministic_id(INTERACTIONS_CLASSIFIED.name, ids[name])

        # A ring group: two legs ring in vain and are reported first, then the answered leg.
        ring_caller = number()
        legs = [
            call(ring_caller, "no_answer", linked_id="ring-1"),
            call(ring_caller, "canceled", linked_id="ring-1"),
            call(ring_caller, "answered", talk_s=120, linked_id="ring-1"),
        ]
        leg_ids = [await send(producer, CALLS_RECORDED, leg, ring_caller) for leg in legs]
        judged = [await verdicts.get(i) for i in leg_ids]
        assert [v.disposition for v in judged] == [
            Disposition.AUTO_CLOSED,
            Disposition.AUTO_CLOSED,
            Disposition.NEEDS_STATUS,
        ]
        assert judged[0].reasons[0].rule == "call.answered_elsewhere"

        # Mail travels the same way.
        bounce = MailReceived(
            message_id="<b1@mx.example>",
            mailbox="anna@acme.example",
            direction=MailDirection.INBOUND,
            subject="Undelivered Mail Returned to Sender",
            auto_headers={"Return-Path": "<>", "Auto-Submitted": "auto-replied"},
            report_type="delivery-status",
            size_bytes=2048,
        )
        mail_id = await send(producer, MAIL_RECEIVED, bounce, "<b1@mx.example>")
        assert (await verdicts.get(mail_id)).tags == [Tag.BOUNCE]

        # Knowledge that arrives while running: a new contact, an overturned wrong number.
        newcomer = number()
        await send(
            producer,
            CRM_CONTACT_POINTS,
            ContactPoint(point=newcomer, type="phone", company_id="co1"),
            newcomer,
        )
        before = metric("classifier_overturned_total", tag="wrong_number")
        await send(
            producer, CRM_FEEDBACK, feedback("completed", True, [Tag.WRONG_NUMBER]), reported
        )
        deadline = time.monotonic() + 20
        while metric("classifier_overturned_total", tag="wrong_number") < before + 1:
            assert time.monotonic() < deadline, "the overturn was not counted"
            await asyncio.sleep(0.2)
        later = {
            "newcomer": (call(newcomer, talk_s=6), "call.routine_short"),
            "forgiven": (call(reported, talk_s=300), "call.conversation"),
        }
        later_ids = {
            n: await send(producer, CALLS_RECORDED, c, c.counterpart or "")
            for n, (c, _) in later.items()
        }
        for name, (_, rule) in later.items():
            assert (await verdicts.get(later_ids[name])).reasons[0].rule == rule, name

        # The rules file changes: the next verdicts name the new rules.
        old_version = verdicts.seen[ids["routine"]][0].classifier_version
        rules.write_text(rules.read_text().replace("very_short_call_s: 10", "very_short_call_s: 7"))
        deadline = time.monotonic() + 10
        while app.state.rules.current.thresholds["very_short_call_s"] != 7:
            assert time.monotonic() < deadline, "the rules were not reloaded"
            await asyncio.sleep(0.1)
        eight = call(stranger, talk_s=8)
        verdict = await verdicts.get(await send(producer, CALLS_RECORDED, eight, stranger))
        assert verdict.reasons[0].rule == "call.conversation"
        assert verdict.classifier_version != old_version

    # A restart reads the knowledge again: everything is still known.
    async with running(kafka_bootstrap, rules):
        again = call(newcomer, talk_s=6)
        verdict = await verdicts.get(await send(producer, CALLS_RECORDED, again, newcomer))
        assert verdict.reasons[0].rule == "call.routine_short"

    # Contact points come from the compacted topic, tombstones included.
    async with running(kafka_bootstrap, rules):
        again = call(client_number, talk_s=6)
        verdict = await verdicts.get(await send(producer, CALLS_RECORDED, again, client_number))
        assert verdict.reasons[0].rule == "call.routine_short"
        tomb = call(former, talk_s=6)
        verdict = await verdicts.get(await send(producer, CALLS_RECORDED, tomb, former))
        assert verdict.reasons[0].rule == "call.wrong_number_short"
