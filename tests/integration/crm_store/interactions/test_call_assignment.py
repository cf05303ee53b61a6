"""Who gets a call's activity, through the consumer on a real broker and database (SQLite,
PostgreSQL), for calls assembled from Asterisk channel events by the ingest-calls assembler: a
transferred call's outcome goes to whoever talked last; a missed ring-group call asks for one
callback, for the client's owner, else the group's owner (`CRM_STORE_GROUP_OWNERS`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from sqlalchemy import select

from crm_store.core import Activity, Interaction, Manager
from crm_store.directory import ContactInput, PointInput
from crm_store.directory import service as contacts
from crm_store.people import PeopleRepository
from integration.crm_store.interactions import test_consumer as consumer
from integration.crm_store.interactions.test_consumer import (
    OPERATOR,
    Running,
    eventually,
    new_number,
    running_service,
)
from support.cel_interactions import assembled, classified

pytestmark = pytest.mark.integration
own_database = consumer.own_database

ANNA = ("m-assign-anna", "anna@assign.example", "101")
BEN = ("m-assign-ben", "ben@assign.example", "102")
GRETA = ("m-assign-greta", "greta@assign.example", None)


@pytest_asyncio.fixture(loop_scope="session")
async def service(own_database: str, kafka_bootstrap: str) -> AsyncIterator[Running]:
    """crm-store with ring group 600 owned by Greta (named by e-mail), and the team stored."""
    async with running_service(
        own_database, kafka_bootstrap, group_owners={"600": GRETA[1].upper()}
    ) as running:
        async with running.app.state.sessionmaker() as session:
            people = PeopleRepository(session)
            for manager_id, email, extension in (ANNA, BEN, GRETA):
                if await people.get_manager(manager_id) is None:
                    await people.add_manager(
                        Manager(
                            id=manager_id,
                            name=email.split("@")[0],
                            email=email,
                            role="manager",
                            extensions=[extension] if extension else [],
                            phones=[],
                            active=True,
                            created_at=datetime.now(UTC),
                        )
                    )
            await session.commit()
        yield running


async def activities_of(service: Running, number: str, count: int) -> list[Activity]:
    """The number's activities, once its interactions are stored and `count` activities are."""

    async def settled() -> list[Activity]:
        if await service.count(Interaction, Interaction.counterpart == number) == 0:
            return []
        found = await service.activities(Activity.counterpart == number)
        return found if len(found) >= count else []

    found: list[Activity] = await eventually(settled)
    return found


async def test_a_transferred_call_s_outcome_goes_to_whoever_talked_last(service: Running) -> None:
    number = new_number()
    call = assembled("attended_transfer", client=number, fresh=True)
    await service.send(classified(call))

    found = await activities_of(service, number, count=2)
    by_kind = {a.kind: a for a in found}
    assert sorted(by_kind) == ["identify_contact", "log_outcome"]
    assert by_kind["log_outcome"].assignee_id == BEN[0]  # 102, after 101 handed the client on
    assert by_kind["identify_contact"].assignee_id == BEN[0]
    async with service.app.state.sessionmaker() as session:
        stored = await session.scalar(select(Interaction).where(Interaction.counterpart == number))
    assert stored is not None
    assert stored.manager_id == BEN[0]


async def test_a_missed_ring_group_call_asks_the_group_s_owner_for_one_callback(
    service: Running,
) -> None:
    number = new_number()
    event = classified(assembled("ring_group_missed", client=number, fresh=True))
    await service.send(event, event)  # redelivered: still one

    [callback] = await activities_of(service, number, count=1)
    assert (callback.kind, callback.count, callback.state) == ("callback", 1, "open")
    assert callback.assignee_id == GRETA[0]
    assert await service.count(Interaction, Interaction.counterpart == number) == 1


async def test_a_missed_ring_group_call_of_an_owned_client_goes_to_the_owner(
    service: Running,
) -> None:
    number = new_number()
    async with service.app.state.sessionmaker() as session:
        await contacts.create_contact(
            session,
            ContactInput(first_name="Olga", owner_id=ANNA[0], phones=[PointInput(number, number)]),
            OPERATOR,
        )
        await session.commit()
    await service.send(classified(assembled("ring_group_missed", client=number, fresh=True)))

    [callback] = await activities_of(service, number, count=1)
    assert (callback.kind, callback.assignee_id) == ("callback", ANNA[0])


async def test_a_missed_call_to_a_manager_s_own_extension_stays_theirs(service: Running) -> None:
    number = new_number()
    await service.send(classified(assembled("no_answer", client=number, fresh=True)))

    [callback] = await activities_of(service, number, count=1)
    assert (callback.kind, callback.assignee_id) == ("callback", ANNA[0])
