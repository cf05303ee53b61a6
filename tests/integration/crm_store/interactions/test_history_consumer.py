"""crm-store's history consumer against the real broker and a real database (SQLite,
PostgreSQL): a big import queued on interactions.classified.history.v1 never delays today's
missed call on interactions.classified.v1, history is stored once and opens nothing past the
horizon, and a batch of history is replayed in the order it happened.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from crm_store.core import Activity, Interaction
from integration.crm_store.interactions.test_consumer import (
    Running,
    call,
    new_number,
    running_service,
)
from support.conditions import eventually
from support.databases import own_crm_database
from switchboard_shared.cloudevents import encode
from switchboard_shared.events import InteractionClassified
from switchboard_shared.topics import INTERACTIONS_CLASSIFIED, history_of

pytestmark = pytest.mark.integration
HISTORY = history_of(INTERACTIONS_CLASSIFIED)
BACKLOG = 20_000
LIVE_WITHIN_S = 2.0


def past(event: InteractionClassified) -> InteractionClassified:
    assert event.call is not None
    return event.model_copy(update={"call": event.call.model_copy(update={"historical": True})})


async def queue_history(service: Running, events: list[InteractionClassified]) -> None:
    """Published as the classifier publishes verdicts on history: the history topic, the id
    the interaction has live."""
    sent = []
    for event in events:
        record = encode(
            HISTORY,
            event,
            id=event.interaction_id,
            source="test-classifier",
            key=event.counterpart or event.interaction_id,
        )
        sent.append(
            await service.producer.send(
                record.topic,
                record.value,
                key=record.key,
                headers=[(k, v.encode()) for k, v in record.headers.items()],
            )
        )
    await asyncio.gather(*sent)


@pytest_asyncio.fixture(loop_scope="session")
async def service(
    database_url: str, kafka_bootstrap: str, tmp_path: Path
) -> AsyncIterator[Running]:
    """A service of the test's own: its own database (20,000 rows stay out of the others') and
    its own consumer groups, which read the history topic from its beginning."""
    async with (
        own_crm_database(database_url, tmp_path) as url,
        running_service(url, kafka_bootstrap) as running,
    ):
        yield running


async def test_a_live_missed_call_opens_its_callback_promptly_behind_a_big_import(
    service: Running,
) -> None:
    months_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(days=90)
    prefix = uuid.uuid4().int % 1000
    numbers = [f"+1628{prefix:03d}{n:04d}" for n in range(1000)]
    imported = [
        past(call("callback", numbers[n % len(numbers)], at=months_ago + timedelta(minutes=n)))
        for n in range(BACKLOG)
    ]
    ids = [e.interaction_id for e in imported]
    await queue_history(service, imported)

    async def stored() -> int:
        return await service.count(Interaction, Interaction.id.in_(ids[:2000]))

    # the import is being stored: the history consumer is busy with its backlog
    await eventually(stored, what="history being stored")

    number = new_number()
    live = call("callback", number, at=datetime.now(UTC) - timedelta(seconds=30))
    sent = time.monotonic()
    await service.send(live)

    async def opened() -> bool:
        return await service.count(Activity, Activity.counterpart == number) == 1

    await eventually(opened, timeout=30.0, interval=0.02, what="the live callback")
    latency = time.monotonic() - sent
    history_then = await service.count(Interaction, Interaction.id.in_(ids))
    assert latency < LIVE_WITHIN_S, f"live callback after {latency:.2f}s"
    assert history_then < BACKLOG, "the backlog was gone already: nothing was proven"

    async def all_stored() -> bool:
        return await service.count(Interaction, Interaction.id.in_(ids)) == BACKLOG

    await eventually(all_stored, timeout=600.0, interval=0.5, what="the whole import")
    # 90 days ago is past the horizon: not one reminder for the import's 20,000 missed calls
    assert await service.count(Activity, Activity.counterpart.in_(numbers)) == 0
    [callback] = await service.activities(Activity.counterpart == number)
    assert (callback.kind, callback.state) == ("callback", "open")
    print(
        f"\nlive callback opened {latency * 1000:.0f} ms after publishing, "
        f"with {BACKLOG - history_then} history records still to store"
    )


async def test_history_in_one_batch_is_stored_in_the_order_it_happened(
    service: Running,
) -> None:
    number = new_number()
    yesterday = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=30)
    missed = past(call("callback", number, at=yesterday))
    called_back = past(
        call(
            "logged",
            number,
            status="answered",
            direction="outbound",
            at=yesterday + timedelta(minutes=20),
        )
    )
    # the call log lists the callback first; one key, so one partition and one batch
    await queue_history(service, [called_back, missed])

    async def both() -> bool:
        return await service.count(Interaction, Interaction.counterpart == number) == 2

    await eventually(both, what="both stored")
    callbacks = await service.activities(Activity.counterpart == number)
    assert [(a.kind, a.state) for a in callbacks] == [("callback", "done")]
