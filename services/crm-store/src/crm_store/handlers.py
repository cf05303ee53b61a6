"""Kafka edge: interactions.classified.v1 → store (one transaction) → outbox."""

from __future__ import annotations

from faststream.kafka import KafkaRouter
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_store.metrics import INTERACTIONS
from crm_store.publisher import OutboxRelay
from crm_store.service import record_interaction
from switchboard_shared.cloudevents import Envelope
from switchboard_shared.consumer import RetryableError, subscribe
from switchboard_shared.events import Event, InteractionClassified
from switchboard_shared.kafka import Bus
from switchboard_shared.topics import INTERACTIONS_CLASSIFIED

# The database being away is not the message's fault: retry until it is back.
DATABASE_DOWN = (OperationalError, InterfaceError, ConnectionError, OSError, TimeoutError)


def is_outage(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, DATABASE_DOWN)


def build_router(
    bus: Bus,
    sessionmaker: async_sessionmaker[AsyncSession],
    relay: OutboxRelay,
    *,
    group_id: str,
    max_attempts: int,
) -> KafkaRouter:
    router = KafkaRouter()

    async def on_classified(_: Envelope, event: Event) -> None:
        assert isinstance(event, InteractionClassified)
        try:
            async with sessionmaker() as session:
                result = await record_interaction(session, event)
                await session.commit()
        except Exception as exc:
            if is_outage(exc):
                raise RetryableError(f"database unavailable: {exc!r}") from exc
            raise
        INTERACTIONS.labels(event.kind.value, "duplicate" if result.duplicate else "stored").inc()
        if not result.duplicate:
            relay.notify()

    subscribe(
        router,
        bus,
        INTERACTIONS_CLASSIFIED,
        on_classified,
        group_id=group_id,
        max_attempts=max_attempts,
    )
    return router
