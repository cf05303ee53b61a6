"""The crm-store service against the real broker and a real database (SQLite, PostgreSQL):
classified interactions in, rows and crm.*.v1 events out.

Redelivery creates nothing twice; a database outage mid-stream pauses consumption and loses
nothing; call legs arrive in any order; answered calls close callbacks; a number added to a
contact later links the past; a poison message is dead-lettered; a released point is a real
Kafka tombstone (null value) on the compacted topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from sqlalchemy import delete, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_store.app import create_app
from crm_store.config import Settings
from crm_store.core import (
    Activity,
    Interaction,
    OutboxMessage,
    Principal,
    Role,
    make_engine,
    make_sessionmaker,
    outbox_record,
)
from crm_store.core import OutboxRepository as Repository
from crm_store.directory import ContactInput, PointInput, snapshot_contact_points
from crm_store.directory import service as contacts
from crm_store.metrics import METRICS
from crm_store.migrate import migrate
from integration.crm_store.tcp_proxy import TcpProxy
from support.records import read_to_end
from switchboard_shared.cloudevents import decode, encode
from switchboard_shared.events import (
    ActivityChanged,
    ContactPoint,
    Event,
    InteractionClassified,
    InteractionLinked,
)
from switchboard_shared.kafka import Bus
from switchboard_shared.settings import CommonSettings
from switchboard_shared.topics import (
    CRM_ACTIVITIES,
    CRM_CONTACT_POINTS,
    CRM_INTERACTIONS,
    INTERACTIONS_CLASSIFIED,
)

pytestmark = pytest.mark.integration
OPERATOR = Principal(Role.OPERATOR, None, "test-operator")
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def new_number() -> str:
    return f"+1415555{uuid.uuid4().int % 10_000:04d}"


def call(
    disposition: str,
    number: str | None,
    *,
    status: str = "no_answer",
    direction: str = "inbound",
    linked_id: str | None = None,
    at: datetime = NOW,
    agent: str | None = None,
    talk_s: float = 60.0,
) -> InteractionClassified:
    external: dict[str, Any] = {"raw": number, "e164": number, "kind": "external"}
    if number is None:
        external = {"raw": "anonymous", "e164": None, "kind": "withheld"}
    ours = {"raw": agent or "100", "e164": None, "kind": "internal", "extension": agent or "100"}
    call_id = f"asterisk:{uuid.uuid4().hex[:12]}"
    return InteractionClassified.model_validate(
        {
            "interaction_id": f"ce-{call_id}",
            "kind": "call",
            "occurred_at": at,
            "counterpart": number,
            "disposition": disposition,
            "tags": ["missed"] if status == "no_answer" else [],
            "classifier_version": "test",
            "call": {
                "call_id": call_id,
                "provider": "asterisk",
                "direction": direction,
                "status": status,
                "started_at": at,
                "from": external if direction == "inbound" else ours,
                "to": ours if direction == "inbound" else external,
                "counterpart": number,
                "agent": agent,
                "linked_id": linked_id,
                "talk_s": talk_s if status == "answered" else None,
            },
        }
    )


E = TypeVar("E", bound=Event)


def typed(record: Any, model: type[E]) -> E:
    """The payload of a Kafka or outbox record, checked to be of this event type."""
    data = decode(record.headers, record.value)[1]
    assert isinstance(data, model), data
    return data


@dataclass
class Running:
    app: FastAPI
    engine: AsyncEngine
    bootstrap: str
    producer: AIOKafkaProducer

    async def send(self, *events: InteractionClassified) -> None:
        for event in events:
            record = encode(
                INTERACTIONS_CLASSIFIED,
                event,
                id=event.interaction_id,
                source="test-classifier",
                key=event.counterpart or event.interaction_id,
            )
            await self.producer.send_and_wait(
                record.topic,
                record.value,
                key=record.key,
                headers=[(k, v.encode()) for k, v in record.headers.items()],
            )

    async def count(self, model: Any, *where: Any) -> int:
        async with self.engine.connect() as connection:
            statement = select(func.count()).select_from(model).where(*where)
            return int((await connection.execute(statement)).scalar_one())

    async def activities(self, *where: Any) -> list[Activity]:
        async with make_sessionmaker(self.engine)() as session:
            statement = select(Activity).where(*where).order_by(Activity.opened_at, Activity.kind)
            return list((await session.execute(statement)).scalars())


async def eventually(
    check: Callable[[], Awaitable[Any]], timeout: float = 30.0, interval: float = 0.1
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {result!r})")
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def running_service(
    database_url: str, bootstrap: str, **overrides: Any
) -> AsyncIterator[Running]:
    settings = Settings(
        database_url=database_url,
        bootstrap_admin_token="consumer-test-admin-token",
        consumer_group=f"crm-store-test-{uuid.uuid4().hex[:8]}",
        outbox_interval_s=0.1,
        consumer_batch_timeout_ms=50,
        max_attempts=2,
        common=CommonSettings(kafka_bootstrap=bootstrap, publish_timeout_s=5.0),
        **overrides,
    )
    app = create_app(settings, run_migrations=False)
    engine = make_engine(database_url)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        async with app.router.lifespan_context(app):
            bus: Bus = app.state.bus
            assert await bus.wait_connected(30), "crm-store did not connect to the broker"
            yield Running(app, engine, bootstrap, producer)
    finally:
        await producer.stop()
        await engine.dispose()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def own_database(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A database of this module's own: the service commits for real, and the other modules
    count rows in theirs."""
    parsed = make_url(database_url)
    if parsed.get_backend_name() == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('consumer') / 'crm.db'}"
        await migrate(url)
        yield url
        return
    name = f"crm_consumer_{uuid.uuid4().hex[:10]}"
    server = make_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        async with server.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = parsed.set(database=name).render_as_string(hide_password=False)
        await migrate(url)
        yield url
    finally:
        async with server.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await server.dispose()


@pytest_asyncio.fixture(loop_scope="session")
async def service(own_database: str, kafka_bootstrap: str) -> AsyncIterator[Running]:
    async with running_service(own_database, kafka_bootstrap) as running:
        yield running


async def read_topic(
    service: Running, topic: str, wanted: Callable[[Any], bool], count: int, timeout: float = 30.0
) -> list[Any]:
    """The records of `topic` that `wanted` accepts, all of them, once there are `count` and
    the outbox has nothing left to publish: a copy beyond `count` would be among them."""

    async def settled() -> list[Any]:
        pending = await service.count(OutboxMessage, OutboxMessage.published_at.is_(None))
        records = await read_to_end(service.bootstrap, topic)
        found = [record for record in records if wanted(record)]
        return found if pending == 0 and len(found) >= count else []

    found: list[Any] = await eventually(settled, timeout=timeout, interval=0.2)
    return found


async def test_redelivery_creates_no_duplicate_and_an_answered_call_closes_the_callback(
    service: Running,
) -> None:
    number = new_number()
    first = call("callback", number)
    second = call("callback", number, at=NOW + timedelta(minutes=1))
    answered = call(
        "needs_status",
        number,
        status="answered",
        direction="outbound",
        at=NOW + timedelta(minutes=5),
    )
    await service.send(first, first, second, first, second, answered)

    async def closed() -> bool:
        return (
            await service.count(Activity, Activity.counterpart == number, Activity.state == "done")
            == 1
        )

    await eventually(closed)
    assert await service.count(Interaction, Interaction.counterpart == number) == 3
    [callback] = await service.activities(
        Activity.counterpart == number, Activity.kind == "callback"
    )
    assert (callback.count, callback.closed_by) == (2, "auto")
    assert (callback.close_reason or "").startswith("answered outbound call")
    kinds = [a.kind for a in await service.activities(Activity.counterpart == number)]
    assert sorted(kinds) == ["callback", "identify_contact", "log_outcome"]

    records = await read_topic(
        service, CRM_ACTIVITIES.name, lambda r: r.key == callback.id.encode(), count=3
    )
    changes = [typed(r, ActivityChanged) for r in records]
    assert [(c.change, c.count) for c in changes] == [("opened", 1), ("repeated", 2), ("closed", 2)]


async def test_legs_of_one_call_in_any_order(service: Running) -> None:
    number = new_number()
    a, b = f"A{uuid.uuid4().hex[:8]}", f"B{uuid.uuid4().hex[:8]}"
    # Call A: the answered leg arrives before the missed ones -> no callback at all.
    answered_a = call("needs_status", number, status="answered", linked_id=a, agent="101")
    missed_a = [call("callback", number, linked_id=a, agent=x) for x in ("102", "103")]
    await service.send(answered_a, *missed_a)
    # Call B (later): the missed leg first -> a callback, canceled by the answered leg.
    later = NOW + timedelta(minutes=10)
    missed_b = call("callback", number, linked_id=b, agent="102", at=later)
    answered_b = call(
        "needs_status",
        number,
        status="answered",
        linked_id=b,
        agent="101",
        at=later - timedelta(seconds=1),  # started a second earlier than the missed leg
    )
    await service.send(missed_b, answered_b)

    async def settled() -> bool:
        return await service.count(Interaction, Interaction.counterpart == number) == 5

    await eventually(settled)
    await eventually(
        lambda: service.count(
            Activity, Activity.counterpart == number, Activity.state == "canceled"
        )
    )
    callbacks = [
        a for a in await service.activities(Activity.counterpart == number) if a.kind == "callback"
    ]
    assert [(c.state, c.closed_by, c.count) for c in callbacks] == [("canceled", "auto", 1)]
    assert (callbacks[0].close_reason or "").startswith("answered by a colleague")


async def test_a_number_added_to_a_contact_later_links_the_past_interactions(
    service: Running,
) -> None:
    number = new_number()
    conversation = call("needs_status", number, status="answered")
    await service.send(conversation)
    await eventually(
        lambda: service.count(
            Activity, Activity.counterpart == number, Activity.kind == "identify_contact"
        )
    )
    sessions = service.app.state.sessionmaker
    async with sessions() as session:
        contact = await contacts.create_contact(
            session,
            ContactInput(first_name="Wes", phones=[PointInput(number, number)]),
            OPERATOR,
        )
        await session.commit()
    [identify] = await service.activities(
        Activity.counterpart == number, Activity.kind == "identify_contact"
    )
    assert (identify.state, identify.closed_by, identify.contact_id) == ("done", "auto", contact.id)

    def relinked(record: Any) -> bool:
        if record.key != number.encode():
            return False
        data = decode(record.headers, record.value)[1]
        return isinstance(data, InteractionLinked) and data.contact_id == contact.id

    [record] = await read_topic(service, CRM_INTERACTIONS.name, relinked, count=1)
    assert typed(record, InteractionLinked).interaction_id == conversation.interaction_id


async def test_a_released_point_is_a_null_tombstone_on_the_compacted_topic(
    service: Running,
) -> None:
    address = f"t-{uuid.uuid4().hex[:8]}@client.example"
    sessions = service.app.state.sessionmaker
    async with sessions() as session:
        contact = await contacts.create_contact(
            session, ContactInput(first_name="Tom", emails=[PointInput(address, address)]), OPERATOR
        )
        await session.commit()
    async with sessions() as session:
        await contacts.archive_contact(session, contact.id, OPERATOR)
        await session.commit()

    owned, tombstone = await read_topic(
        service, CRM_CONTACT_POINTS.name, lambda r: r.key == address.encode(), count=2
    )
    assert typed(owned, ContactPoint).contact_id == contact.id
    assert tombstone.value is None
    assert dict(tombstone.headers)["ce_type"] == CRM_CONTACT_POINTS.ce_type.encode()


async def test_a_poison_message_is_dead_lettered_and_the_rest_is_stored(
    service: Running,
) -> None:
    marker = uuid.uuid4().hex.encode()
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", marker),
        ("ce_source", b"test"),
        ("ce_type", INTERACTIONS_CLASSIFIED.ce_type.encode()),
    ]
    await service.producer.send_and_wait(
        INTERACTIONS_CLASSIFIED.name, b'{"kind": "fax"}', key=marker, headers=headers
    )
    number = new_number()
    after = call("callback", number)
    await service.send(after)
    await eventually(lambda: service.count(Interaction, Interaction.counterpart == number))
    [dead] = await read_topic(
        service, INTERACTIONS_CLASSIFIED.dlq, lambda r: r.key == marker, count=1
    )
    assert b"undecodable" in dict(dead.headers)["dlq_error"]


async def test_the_database_stopped_mid_stream_loses_nothing(
    own_database: str, kafka_bootstrap: str
) -> None:
    database_url = own_database
    backend = make_url(database_url).get_backend_name()
    proxy: TcpProxy | None = None
    url = database_url
    if backend == "postgresql":
        parsed = make_url(database_url)
        proxy = TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
        await proxy.start()
        url = parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    number = new_number()
    events = [call("callback", number, at=NOW + timedelta(seconds=n)) for n in range(20)]
    retried = METRICS.messages.labels(INTERACTIONS_CLASSIFIED.name, "retried")
    retried_before = retried._value.get()
    try:
        async with running_service(url, kafka_bootstrap) as service:
            await service.send(*events[:5])
            await eventually(lambda: service.count(Interaction, Interaction.counterpart == number))
            stop, resume = await outage(database_url, proxy)
            await stop()
            try:
                await service.send(*events[5:])

                # Wait until the consumer met the outage (a write failed and was retried; with
                # SQLite that takes its busy timeout), not for a guessed time.
                async def noticed() -> bool:
                    return bool(retried._value.get() > retried_before)

                await eventually(noticed, timeout=60)
            finally:
                await resume()

            async def all_stored() -> bool:
                return await service.count(Interaction, Interaction.counterpart == number) == 20

            await eventually(all_stored, timeout=60)
            [callback] = await service.activities(Activity.counterpart == number)
            assert (callback.kind, callback.count, callback.state) == ("callback", 20, "open")
            assert retried._value.get() > retried_before, "the outage was never noticed"
    finally:
        if proxy is not None:
            await proxy.cut()


async def outage(
    database_url: str, proxy: TcpProxy | None
) -> tuple[Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]:
    """How to stop and bring back the database: cut the proxy (PostgreSQL), or hold SQLite's
    write lock from another process's point of view (a separate connection)."""
    if proxy is not None:
        return proxy.cut, proxy.restore
    path = make_url(database_url).database or ""
    holder = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)

    # In a thread: waiting for the lock must not block the service's own event loop.
    async def stop() -> None:
        await asyncio.to_thread(holder.execute, "BEGIN EXCLUSIVE")

    async def resume() -> None:
        await asyncio.to_thread(holder.execute, "ROLLBACK")
        holder.close()

    return stop, resume


async def test_the_first_start_stages_a_snapshot_of_every_point_once(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'snapshot.db'}"
    await migrate(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        async with sessions() as session:
            for name, number in (("Ada", "+14155550601"), ("Bea", "+14155550602")):
                await contacts.create_contact(
                    session,
                    ContactInput(first_name=name, phones=[PointInput(number, number)]),
                    OPERATOR,
                )
            await contacts.create_contact(
                session,
                ContactInput(first_name="Cal", phones=[PointInput("+14155550602", "x")]),
                OPERATOR,
                force=True,
            )
            await session.execute(delete(OutboxMessage))
            await session.commit()
        async with sessions() as session:
            assert await snapshot_contact_points(session) == 2
            await session.commit()
        async with sessions() as session:
            assert await snapshot_contact_points(session) is None  # a restart: not again
            rows = await Repository(session).pending_outbox(limit=100)
    finally:
        await engine.dispose()
    points = [typed(r, ContactPoint) for r in map(outbox_record, rows)]
    assert [(p.point, p.contact_id is not None) for p in points] == [
        ("+14155550601", True),
        ("+14155550602", False),  # shared by two contacts: no person
    ]
