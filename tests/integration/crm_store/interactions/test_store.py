"""Storage, migrations and the record-interaction unit of work on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, func, select, text, update
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.engine import Connection, ExceptionContext
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crm_store.activities import ActivityRepository
from crm_store.core import (
    COPY_MIN_ROWS,
    Activity,
    ActivityInteraction,
    AuditEntry,
    Base,
    Interaction,
    OutboxMessage,
    OutboxRepository,
    Preset,
    Store,
    make_sessionmaker,
    outbox_record,
)
from crm_store.interactions import InteractionRepository, record_interaction, record_interactions
from crm_store.interactions.handlers import is_outage
from crm_store.metrics import METRICS
from crm_store.migrate import migrate
from crm_store.publisher import OutboxRelay
from switchboard_shared.cloudevents import decode
from switchboard_shared.events import ActivityChanged, InteractionClassified, InteractionLinked
from switchboard_shared.kafka import Bus
from switchboard_shared.settings import CommonSettings

pytestmark = pytest.mark.integration

Sessions = async_sessionmaker[AsyncSession]
EventFactory = Callable[..., InteractionClassified]
CLIENT = "+14155550123"
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)  # the factories' default time


async def count(session: AsyncSession, model: Any, *where: Any) -> int:
    return (
        await session.execute(select(func.count()).select_from(model).where(*where))
    ).scalar_one()


async def record(sessions: Sessions, event: InteractionClassified) -> Any:
    async with sessions() as session:
        result = await record_interaction(session, event)
        await session.commit()
        return result


async def outbox(sessions: Sessions) -> list[tuple[str, Any]]:
    async with sessions() as session:
        rows = await OutboxRepository(session).pending_outbox(limit=1000)
        out = []
        for row in rows:
            record = outbox_record(row)
            _envelope, data = decode(record.headers, record.value)
            out.append((record.topic, data))
        return out


async def test_migrations_apply_again_without_change(
    database_url: str, engine: AsyncEngine
) -> None:
    await migrate(database_url)
    await migrate(database_url)
    async with engine.connect() as connection:
        versions = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
    assert [v[0] for v in versions] == ["0009_settings"]


async def test_models_match_the_migrations(engine: AsyncEngine) -> None:
    def diff(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as connection:
        assert await connection.run_sync(diff) == []


async def test_presets_are_seeded(sessions: Sessions) -> None:
    async with sessions() as session:
        presets = {p.code: p for p in await ActivityRepository(session).list_presets()}
    assert list(presets) == [
        "in_progress",
        "completed",
        "wrong_number",
        "callback_later",
        "left_voicemail",
        "not_interested",
        "meeting_scheduled",
        "spam",
    ]
    assert presets["in_progress"].label == "Taken into work"
    # Calls' presets are not offered on an e-mail's card; the others fit both.
    assert presets["wrong_number"].channels == ["call"]
    assert presets["callback_later"].channels == ["call"]
    assert presets["completed"].channels == ["call", "mail"]
    voicemail = presets["left_voicemail"]
    assert (voicemail.label, voicemail.kinds, voicemail.closes) == (
        "Left a voicemail",
        ["callback"],
        False,
    )
    assert not presets["in_progress"].closes
    assert presets["wrong_number"].closes
    assert presets["wrong_number"].overturns == ["needs_status", "callback"]
    assert presets["spam"].overturns == ["needs_status", "callback", "reply_needed"]
    assert set(presets["completed"].kinds) == {
        "callback",
        "log_outcome",
        "reply",
        "identify_contact",
    }


async def test_recording_the_same_interaction_twice_changes_nothing(
    sessions: Sessions, call_event: EventFactory
) -> None:
    event = call_event("callback", call_id="twilio:CA-dup")
    first = await record(sessions, event)
    second = await record(sessions, event)

    assert not first.duplicate
    assert first.opened
    assert first.published == 2
    assert second.duplicate
    assert second.published == 0
    async with sessions() as session:
        assert await count(session, Interaction) == 1
        assert await count(session, Activity) == 1
        assert await count(session, OutboxMessage) == 2
        stored = await InteractionRepository(session).get_interaction(event.interaction_id)
    assert stored is not None
    assert stored.payload["call"]["call_id"] == "twilio:CA-dup"
    assert stored.occurred_at == event.occurred_at
    assert stored.occurred_at.tzinfo is UTC


async def test_repeated_missed_calls_keep_one_callback_with_a_count(
    sessions: Sessions, call_event: EventFactory
) -> None:
    for n in range(3):
        at = T0 + timedelta(minutes=n)
        await record(sessions, call_event("callback", call_id=f"twilio:CA-miss{n}", at=at))
    async with sessions() as session:
        callbacks = (await session.execute(select(Activity))).scalars().all()
        linked = await count(session, ActivityInteraction)
    assert len(callbacks) == 1
    callback = callbacks[0]
    assert (callback.kind, callback.state, callback.count) == ("callback", "open", 3)
    assert callback.interaction_id == "ce-twilio:CA-miss0"
    assert callback.last_interaction_id == "ce-twilio:CA-miss2"
    assert linked == 3

    changes = [data for topic, data in await outbox(sessions) if topic == "crm.activities.v1"]
    assert [(c.change, c.count) for c in changes] == [
        ("opened", 1),
        ("repeated", 2),
        ("repeated", 3),
    ]
    assert all(isinstance(c, ActivityChanged) for c in changes)


async def test_an_answered_call_closes_the_callback(
    sessions: Sessions, call_event: EventFactory
) -> None:
    missed = call_event("callback", call_id="twilio:CA-1")
    answered = call_event(
        "logged",
        call_id="twilio:CA-2",
        status="answered",
        direction="outbound",
        at=missed.occurred_at + timedelta(minutes=10),
    )
    opened = await record(sessions, missed)
    closed = await record(sessions, answered)

    assert closed.closed == opened.opened
    async with sessions() as session:
        activity = await ActivityRepository(session).get_activity(opened.opened[0])
    assert activity is not None
    assert (activity.state, activity.closed_by) == ("done", "auto")
    assert activity.close_reason == "answered outbound call twilio:CA-2"
    assert activity.closed_at == answered.occurred_at

    records = await outbox(sessions)
    closing = [d for t, d in records if t == "crm.activities.v1" and d.change == "closed"]
    assert len(closing) == 1
    assert closing[0].closed_by == "auto"
    linked = [d for t, d in records if t == "crm.interactions.v1"]
    assert [type(d) for d in linked] == [InteractionLinked, InteractionLinked]


async def test_a_five_second_answered_call_leaves_the_callback_open(
    sessions: Sessions, call_event: EventFactory
) -> None:
    """A 5-second outbound "answered" call is a voicemail box or a dropped line: nobody was
    reached, so the client still waits for a call back."""
    missed = call_event("callback", call_id="twilio:CA-v1")
    short = call_event(
        "auto_closed",
        call_id="twilio:CA-v2",
        status="answered",
        direction="outbound",
        talk_s=5.0,
        at=missed.occurred_at + timedelta(minutes=10),
    )
    opened = await record(sessions, missed)
    after = await record(sessions, short)

    assert after.closed == []
    async with sessions() as session:
        activity = await ActivityRepository(session).get_activity(opened.opened[0])
    assert activity is not None
    assert (activity.state, activity.closed_by) == ("open", None)


async def test_a_missed_call_after_the_callback_was_closed_opens_a_new_one(
    sessions: Sessions, call_event: EventFactory
) -> None:
    first = await record(sessions, call_event("callback", call_id="twilio:CA-a"))
    await record(
        sessions,
        call_event(
            "needs_status",
            call_id="twilio:CA-b",
            status="answered",
            at=T0 + timedelta(minutes=1),
        ),
    )
    again = await record(
        sessions,
        call_event(
            "callback",
            call_id="twilio:CA-c",
            at=T0 + timedelta(minutes=2),
        ),
    )
    assert again.opened
    assert again.opened != first.opened
    async with sessions() as session:
        kinds = (await session.execute(select(Activity.kind, Activity.state))).all()
    assert sorted(kinds) == [
        ("callback", "done"),
        ("callback", "open"),
        ("identify_contact", "open"),  # a conversation with a number no contact has
        ("log_outcome", "open"),
    ]


async def test_replies_fold_by_thread_and_close_on_our_answer(
    sessions: Sessions, mail_event: EventFactory
) -> None:
    first = await record(sessions, mail_event("reply_needed", message_id="<m1@client.example>"))
    second = await record(sessions, mail_event("reply_needed", message_id="<m2@client.example>"))
    assert second.folded == first.opened
    answer = mail_event(
        "logged",
        message_id="<r1@our.example>",
        direction="outbound",
        at=T0 + timedelta(hours=1),
    )
    result = await record(sessions, answer)
    reply_id, identify_id = first.opened  # the sender is no contact: identify them too
    assert result.closed == [reply_id]
    async with sessions() as session:
        reply = await ActivityRepository(session).get_activity(reply_id)
        identify = await ActivityRepository(session).get_activity(identify_id)
    assert reply is not None
    assert (reply.state, reply.count, reply.thread_id) == ("done", 2, "<t1@client.example>")
    assert identify is not None
    assert (identify.kind, identify.state, identify.count) == ("identify_contact", "open", 2)


async def test_withheld_missed_calls_open_separate_callbacks(
    sessions: Sessions, call_event: EventFactory
) -> None:
    for n in range(2):
        await record(sessions, call_event("callback", call_id=f"twilio:W{n}", counterpart=None))
    async with sessions() as session:
        assert await count(session, Activity, Activity.state == "open") == 2


async def test_outbox_rows_are_marked_published(
    sessions: Sessions, call_event: EventFactory
) -> None:
    await record(sessions, call_event("callback", call_id="twilio:CA-out"))
    async with sessions() as session:
        repo = OutboxRepository(session)
        pending = await repo.pending_outbox(limit=10)
        assert [r.topic for r in pending] == ["crm.activities.v1", "crm.interactions.v1"]
        assert pending[1].key == CLIENT.encode()
        assert pending[0].headers["ce_type"] == "switchboard.crm.activity.changed.v1"
        await repo.mark_published([pending[0].id])
        await session.commit()
    async with sessions() as session:
        assert [r.topic for r in await OutboxRepository(session).pending_outbox()] == [
            "crm.interactions.v1"
        ]


async def test_published_outbox_rows_are_pruned_after_the_retention(
    sessions: Sessions, call_event: EventFactory
) -> None:
    await record(sessions, call_event("callback", call_id="twilio:CA-old"))
    await record(
        sessions, call_event("callback", call_id="twilio:CA-2", counterpart="+14155550999")
    )
    async with sessions() as session:
        repo = OutboxRepository(session)
        rows = await repo.pending_outbox(limit=10)
        assert len(rows) == 4
        old, recent = rows[0], rows[1]
        await repo.mark_published([old.id, recent.id])
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == old.id)
            .values(published_at=datetime.now(UTC) - timedelta(days=8))
        )
        await session.commit()
    bus = Bus(CommonSettings(), client_id="test", metrics=METRICS)
    relay = OutboxRelay(bus, sessions, retention=timedelta(days=7))

    assert await relay.prune() == 1
    assert await relay.prune() == 0

    async with sessions() as session:
        left = list((await session.execute(select(OutboxMessage.id))).scalars())
        pending = await OutboxRepository(session).pending_outbox(limit=10)
    # the recently published row stays for the retention; unpublished rows always stay
    assert sorted(left) == sorted([r.id for r in rows[1:]])
    assert [r.id for r in pending] == [r.id for r in rows[2:]]


@contextlib.contextmanager
def statements_in_flight(engine: AsyncEngine) -> Iterator[dict[int, str]]:
    """The statement each connection of `engine` has sent and not yet had answered."""
    running: dict[int, str] = {}

    def before(conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        running[id(conn)] = statement

    def after(conn: Connection, *_: Any) -> None:
        running.pop(id(conn), None)

    def failed(context: ExceptionContext) -> None:
        running.pop(id(context.connection), None)

    listeners: list[tuple[str, Callable[..., None]]] = [
        ("before_cursor_execute", before),
        ("after_cursor_execute", after),
        ("handle_error", failed),
    ]
    for name, listener in listeners:
        sqlalchemy_event.listen(engine.sync_engine, name, listener)
    try:
        yield running
    finally:
        for name, listener in listeners:
            sqlalchemy_event.remove(engine.sync_engine, name, listener)


async def until_blocked_by(
    holder: AsyncSession,
    racing: asyncio.Task[Any],
    engine: AsyncEngine,
    running: dict[int, str],
    timeout: float = 30.0,
) -> None:
    """Until `racing` waits on a lock `holder` holds: proof that the two really overlap.

    PostgreSQL says so (a backend of this database waiting on a lock); SQLite's writer waits
    inside its `BEGIN IMMEDIATE` (busy timeout) while the holder's write transaction is open.
    """
    holder_connection = id((await holder.connection()).sync_connection)

    async def waiting() -> bool:
        if engine.dialect.name == "postgresql":
            async with engine.connect() as watcher:
                rows = await watcher.execute(
                    text(
                        "SELECT pid FROM pg_stat_activity"
                        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                )
                return bool(rows.all())
        return any(connection != holder_connection for connection in running)

    deadline = time.monotonic() + timeout
    while not await waiting():
        assert not racing.done(), f"finished without waiting: {racing.result()!r}"
        assert time.monotonic() < deadline, f"never blocked in {timeout}s"
        await asyncio.sleep(0.02)
    assert not racing.done()


async def test_concurrent_missed_calls_from_one_number_share_one_callback(
    engine: AsyncEngine, call_event: EventFactory
) -> None:
    """Two units of work race for the same counterpart; the unique guard keeps one callback."""
    number = "+14155550777"
    sessions = make_sessionmaker(engine)
    first = call_event("callback", call_id="twilio:RACE1", counterpart=number)
    second = call_event("callback", call_id="twilio:RACE2", counterpart=number)
    try:
        async with sessions() as a, sessions() as b:
            with statements_in_flight(engine) as running:
                await record_interaction(a, first)  # holds the new callback, uncommitted
                racing = asyncio.create_task(record_interaction(b, second))
                # b waits on a's lock (the index or the database) before a commits
                await until_blocked_by(a, racing, engine, running)
            await a.commit()
            result = await racing
            await b.commit()
        assert result.folded
        assert not result.opened
        async with sessions() as session:
            callbacks = (
                (await session.execute(select(Activity).where(Activity.counterpart == number)))
                .scalars()
                .all()
            )
        assert [(c.state, c.count) for c in callbacks] == [("open", 2)]
    finally:
        async with sessions() as session:
            ids = [first.interaction_id, second.interaction_id]
            await session.execute(
                delete(ActivityInteraction).where(ActivityInteraction.interaction_id.in_(ids))
            )
            await session.execute(delete(Activity).where(Activity.counterpart == number))
            await session.execute(delete(OutboxMessage))
            await session.execute(delete(Interaction).where(Interaction.id.in_(ids)))
            await session.commit()


def big_batch(
    call_event: EventFactory, mail_event: EventFactory, tag: str, area: str = "555"
) -> list[Any]:
    """60 events, enough for the bulk path (COPY on PostgreSQL): missed calls from 20
    numbers (each twice), 10 answered calls back to some of them, 10 mails needing a reply."""
    events = []
    for n in range(40):
        number = f"+1415{area}{n % 20:04d}"
        at = T0 + timedelta(minutes=n)
        events.append(call_event("callback", call_id=f"{tag}:m{n}", counterpart=number, at=at))
    for n in range(10):
        number = f"+1415{area}{n:04d}"
        at = T0 + timedelta(hours=1, minutes=n)
        events.append(
            call_event(
                "needs_status",
                call_id=f"{tag}:a{n}",
                counterpart=number,
                status="answered",
                direction="outbound",
                at=at,
            )
        )
    for n in range(10):
        events.append(
            mail_event(
                "reply_needed",
                message_id=f"<{tag}{n}@client.example>",
                counterpart=f"buyer{n}@{tag}{n}.example",
                thread_id=f"<{tag}-t{n}@client.example>",
                at=T0 + timedelta(hours=2, minutes=n),
            )
        )
    return events


async def stored_shape(session: AsyncSession, events: list[Any]) -> dict[str, Any]:
    """What a set of events left behind, comparable between two sets."""
    ids = [e.interaction_id for e in events]
    activities = (
        (await session.execute(select(Activity).where(Activity.interaction_id.in_(ids))))
        .scalars()
        .all()
    )
    activity_ids = [a.id for a in activities]
    return {
        "interactions": await count(session, Interaction, Interaction.id.in_(ids)),
        "activities": sorted((a.kind, a.state, a.count, a.closed_by) for a in activities),
        "links": await count(
            session, ActivityInteraction, ActivityInteraction.interaction_id.in_(ids)
        ),
        "audit": await count(session, AuditEntry, AuditEntry.entity_id.in_(activity_ids)),
    }


async def test_a_large_batch_is_stored_as_one_event_at_a_time_would_be(
    sessions: Sessions, call_event: EventFactory, mail_event: EventFactory
) -> None:
    bulk = big_batch(call_event, mail_event, "bulk", "555")
    single = big_batch(call_event, mail_event, "single", "666")
    async with sessions() as session:
        results = await record_interactions(session, bulk)
        await session.commit()
    async with sessions() as session:
        outbox_after_bulk = await count(session, OutboxMessage)
    for event in single:
        await record(sessions, event)

    assert not any(r.duplicate for r in results)
    async with sessions() as session:
        bulk_shape = await stored_shape(session, bulk)
        single_shape = await stored_shape(session, single)
        stored = await session.get(Interaction, bulk[-1].interaction_id)
        rows = (await session.execute(select(OutboxMessage))).scalars().all()
    assert bulk_shape == single_shape
    assert bulk_shape["interactions"] == 60
    assert ("callback", "done", 2, "auto") in bulk_shape["activities"]
    assert ("callback", "open", 2, None) in bulk_shape["activities"]
    assert len(rows) == 2 * outbox_after_bulk
    assert stored is not None
    assert stored.payload == bulk[-1].model_dump(mode="json", by_alias=True)
    assert stored.created_at.tzinfo is not None
    assert all(r.published_at is None and r.created_at is not None for r in rows)
    assert {r.headers["ce_specversion"] for r in rows} == {"1.0"}


async def test_a_large_batch_racing_its_twin_is_stored_once(
    engine: AsyncEngine, call_event: EventFactory, mail_event: EventFactory
) -> None:
    """Another unit of work stores the same batch first: the bulk insert fails on the
    unique ids, and the batch is decided again, as duplicates."""
    events = big_batch(call_event, mail_event, "twin", "777")
    sessions = make_sessionmaker(engine)
    ids = [e.interaction_id for e in events]
    try:
        async with sessions() as a, sessions() as b:
            with statements_in_flight(engine) as running:
                await record_interactions(a, events)  # uncommitted
                racing = asyncio.create_task(record_interactions(b, events))
                await until_blocked_by(a, racing, engine, running)  # b waits on a's rows
            await a.commit()
            results = await racing
            await b.commit()
        assert all(r.duplicate for r in results)
        async with sessions() as session:
            assert await count(session, Interaction, Interaction.id.in_(ids)) == 60
    finally:
        async with sessions() as session:
            activities = select(Activity.id).where(Activity.interaction_id.in_(ids))
            await session.execute(
                delete(ActivityInteraction).where(ActivityInteraction.activity_id.in_(activities))
            )
            await session.execute(
                delete(ActivityInteraction).where(ActivityInteraction.interaction_id.in_(ids))
            )
            await session.execute(delete(Activity).where(Activity.interaction_id.in_(ids)))
            await session.execute(delete(OutboxMessage))
            await session.execute(delete(AuditEntry))
            await session.execute(delete(Interaction).where(Interaction.id.in_(ids)))
            await session.commit()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # COPY is PostgreSQL's
async def test_a_connection_lost_during_a_bulk_write_is_an_outage(engine: AsyncEngine) -> None:
    """The bulk path talks to the driver directly; losing the connection there must still
    read as the database being away (the consumer pauses), not as a bad batch."""
    sessions = make_sessionmaker(engine)
    entries = [
        {"actor": "test", "actor_role": "system", "action": "x", "entity": "t", "entity_id": str(n)}
        for n in range(COPY_MIN_ROWS)
    ]
    session = sessions()
    try:
        pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with engine.connect() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(OperationalError) as caught:
            await Store(session).audit(entries)
    finally:
        closing: BaseException | None = None
        try:
            await session.close()
        except Exception as exc:  # the connection is gone: ending the session may say so too
            closing = exc
    assert is_outage(caught.value)
    assert closing is None or is_outage(closing), closing  # which the consumer reads as one


async def test_presets_can_be_added_and_changed(sessions: Sessions) -> None:
    def quote(label: str) -> Preset:
        return Preset(
            code="quote_sent",
            label=label,
            kinds=["log_outcome"],
            closes=True,
            overturns=[],
            position=80,
            active=True,
        )

    async with sessions() as session:
        assert await ActivityRepository(session).add_preset(quote("Quote sent"))
        await session.commit()
    async with sessions() as session:
        repo = ActivityRepository(session)
        assert not await repo.add_preset(quote("Again"))
        stored = await repo.get_preset("quote_sent")
        assert stored is not None
        await repo.update_preset(stored, label="Quote sent to client", active=False)
        await session.commit()
    async with sessions() as session:
        repo = ActivityRepository(session)
        assert "quote_sent" not in [p.code for p in await repo.list_presets()]
        stored = await repo.get_preset("quote_sent")
        assert stored is not None
        assert stored.label == "Quote sent to client"


async def test_legs_of_one_call_in_one_batch_in_either_order(
    sessions: Sessions, call_event: EventFactory
) -> None:
    number = "+14155550888"
    later = T0 + timedelta(minutes=30)
    missed_first = [
        call_event("callback", call_id="ast:b1", counterpart=number, linked_id="B", at=later),
        call_event(
            "needs_status",
            call_id="ast:b2",
            status="answered",
            counterpart=number,
            linked_id="B",
            at=later - timedelta(seconds=1),
        ),
    ]
    answered_first = [
        call_event(
            "needs_status", call_id="ast:a1", status="answered", counterpart=number, linked_id="A"
        ),
        call_event("callback", call_id="ast:a2", counterpart=number, linked_id="A"),
    ]
    async with sessions() as session:
        results = await record_interactions(session, [*answered_first, *missed_first])
        await session.commit()
    assert results[1].opened == []  # a colleague had answered call A
    [callback] = results[2].opened
    assert results[3].closed == [callback]
    async with sessions() as session:
        activity = await ActivityRepository(session).get_activity(callback)
        stored = await InteractionRepository(session).get_interaction("ce-ast:b1")
    assert activity is not None
    assert (activity.state, activity.closed_by) == ("canceled", "auto")
    assert stored is not None
    assert stored.linked_id == "twilio:B"  # scoped by provider
