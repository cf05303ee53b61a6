"""Bounces on real databases: a permanent failure marks the client's address undeliverable
(API, page, export, `crm.contact-points.v1`), the bounce joins the returned message's contact and
thread, an open reply there says so, and the client writing again clears it all."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_store.config import Settings
from crm_store.core import Interaction, OutboxRepository, make_engine, outbox_record, table_of
from crm_store.interactions import record_interactions
from crm_store.migrate import migrate
from support.bounces import T0, bounced, received, sent
from support.crm_page import build_app, sign_in
from support.databases import own_crm_database
from switchboard_shared.cloudevents import decode
from switchboard_shared.events import ContactPoint, InteractionClassified

pytestmark = pytest.mark.integration

Sessions = async_sessionmaker[AsyncSession]
ANN = "ann@client.example"
BOB = "bob@client.example"
THREAD = "<ask@client.example>"
QUOTE = "<quote@our.example>"


async def record(sessions: Sessions, *events: InteractionClassified) -> None:
    async with sessions() as session:
        await record_interactions(session, events)
        await session.commit()


async def points_published(sessions: Sessions, point: str) -> list[ContactPoint | None]:
    async with sessions() as session:
        rows = await OutboxRepository(session).pending_outbox(limit=10_000)
    out: list[ContactPoint | None] = []
    for row in rows:
        item = outbox_record(row)
        if item.topic == "crm.contact-points.v1" and item.key == point.encode():
            data = None if item.value is None else decode(item.headers, item.value)[1]
            assert data is None or isinstance(data, ContactPoint)
            out.append(data)
    return out


async def contact(client: httpx.AsyncClient, admin: dict[str, str], **body: Any) -> str:
    created = await client.post("/api/v1/contacts", json=body, headers=admin)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def test_a_permanent_bounce_marks_the_address_and_a_message_from_it_clears_it(
    client: httpx.AsyncClient, admin: dict[str, str], sessions: Sessions, settings: Settings
) -> None:
    ann = await contact(client, admin, first_name="Ann", last_name="Lee", emails=[ANN])
    # Our quote goes out in Ann's thread; Ann writes again before the bounce comes back.
    await record(sessions, sent(QUOTE, ANN, thread_id=THREAD))
    await record(
        sessions, received("<more@client>", ANN, at=T0 + timedelta(minutes=5), thread_id=THREAD)
    )
    bounce = bounced(
        "<dsn1@mx.client.example>",
        [ANN],
        original=QUOTE,
        original_in_reply_to=THREAD,
        at=T0 + timedelta(minutes=30),
    )
    await record(sessions, bounce)

    # The bounce is on Ann's timeline, in the quote's thread, and opened nothing.
    timeline = (await client.get(f"/api/v1/contacts/{ann}/timeline", headers=admin)).json()
    [entry] = [i for i in timeline["interactions"] if i["id"] == bounce.interaction_id]
    assert (entry["contact_id"], entry["thread_id"], entry["tags"]) == (ann, THREAD, ["bounce"])
    activities = timeline["activities"]
    assert [a["interaction_id"] for a in activities] == ["ce-<more@client>"]

    # The address is undeliverable on the contact, with the date, status, reason and bounce.
    body = (await client.get(f"/api/v1/contacts/{ann}", headers=admin)).json()
    assert body["emails"] == [ANN]  # still Ann's: kept, not offered
    assert body["preferred_email"] is None
    [mark] = body["undeliverable"]
    assert mark["email"] == ANN
    assert mark["status"] == "5.1.1"
    assert "Recipient address rejected" in mark["diagnostic"]
    assert mark["interaction_id"] == bounce.interaction_id

    # The open reply in that thread says the address bounced.
    [reply] = activities
    assert reply["kind"] == "reply"
    assert reply["state"] == "open"
    assert reply["bounce"]["address"] == ANN
    assert reply["bounce"]["interaction_id"] == bounce.interaction_id

    # Published on the compacted topic; left out of the export.
    published = await points_published(sessions, ANN)
    assert published[-1] is not None
    assert published[-1].contact_id == ann
    assert published[-1].undeliverable is not None
    assert published[-1].undeliverable.status == "5.1.1"
    exported = await client.get("/api/v1/contact-points/export", headers=admin)
    assert ANN not in [row[1] for row in csv.reader(io.StringIO(exported.text))]

    # The page: the contact screen shows it, the bounce reads as a bounce, the reply warns.
    assert settings.bootstrap_admin_token is not None
    admin_token = settings.bootstrap_admin_token
    async with sign_in(build_app(sessions, settings), admin_token) as browser:
        screen = (await browser.get(f"/contacts/{ann}")).text
        assert "Undeliverable" in screen
        assert "Bounces" in screen
        assert f"Your e-mail to {ANN} bounced" in screen
        assert "No working address or number" in screen
        inbox = (await browser.get("/?scope=all")).text
        assert f"Mail to {ANN} bounced for good" in inbox

    # Ann writes again from that address: the mark goes, and that is published too.
    await record(
        sessions, received("<back@client>", ANN, at=T0 + timedelta(days=1), thread_id=THREAD)
    )
    body = (await client.get(f"/api/v1/contacts/{ann}", headers=admin)).json()
    assert (body["undeliverable"], body["preferred_email"]) == ([], ANN)
    published = await points_published(sessions, ANN)
    assert published[-1] is not None
    assert published[-1].undeliverable is None
    reply_now = (await client.get(f"/api/v1/activities/{reply['id']}", headers=admin)).json()
    assert reply_now["bounce"] is None
    exported = await client.get("/api/v1/contact-points/export", headers=admin)
    assert ANN in [row[1] for row in csv.reader(io.StringIO(exported.text))]

    # A copy of the old bounce delivered late marks nothing: Ann has written since.
    late = bounced("<dsn1-copy@mx>", [ANN], original=QUOTE, at=T0 + timedelta(minutes=31))
    await record(sessions, late)
    body = (await client.get(f"/api/v1/contacts/{ann}", headers=admin)).json()
    assert body["undeliverable"] == []

    audit = await client.get(f"/api/v1/audit?entity=contact_point&entity_id={ANN}", headers=admin)
    assert [e["action"] for e in audit.json()] == ["deliverable", "undeliverable"]


async def test_a_temporary_failure_is_on_the_timeline_and_changes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], sessions: Sessions
) -> None:
    bob = await contact(client, admin, first_name="Bob", emails=[BOB])
    await record(sessions, sent("<q2@our.example>", BOB))
    delay = bounced(
        "<delay@mx>",
        [BOB],
        in_reply_to="<q2@our.example>",
        permanent=False,
        status="4.2.2",
        diagnostic="452 4.2.2 Mailbox full",
        at=T0 + timedelta(hours=4),
    )
    await record(sessions, delay)
    body = (await client.get(f"/api/v1/contacts/{bob}", headers=admin)).json()
    assert (body["undeliverable"], body["preferred_email"]) == ([], BOB)
    timeline = (await client.get(f"/api/v1/contacts/{bob}/timeline", headers=admin)).json()
    assert delay.interaction_id in [i["id"] for i in timeline["interactions"]]
    assert timeline["activities"] == []
    assert await points_published(sessions, BOB) == [
        ContactPoint(point=BOB, type="email", contact_id=bob)
    ]


async def test_a_bounce_whose_original_is_unknown_joins_whoever_has_the_address(
    client: httpx.AsyncClient, admin: dict[str, str], sessions: Sessions
) -> None:
    """Sent from a mailbox the service does not read: the failed address still finds Bob, and
    his other address stays the one to write to."""
    bob = await contact(
        client, admin, first_name="Bob", emails=[BOB, "bob@home.example"], phones=["+14155550123"]
    )
    bounce = bounced("<dsn9@mx>", [BOB], original="<never-seen@our.example>")
    await record(sessions, bounce)
    timeline = (await client.get(f"/api/v1/contacts/{bob}/timeline", headers=admin)).json()
    assert [i["id"] for i in timeline["interactions"]] == [bounce.interaction_id]
    body = (await client.get(f"/api/v1/contacts/{bob}", headers=admin)).json()
    assert body["preferred_email"] == "bob@home.example"
    assert [u["email"] for u in body["undeliverable"]] == [BOB]


async def test_a_bounce_in_the_same_batch_as_its_original(
    client: httpx.AsyncClient, admin: dict[str, str], sessions: Sessions
) -> None:
    ann = await contact(client, admin, first_name="Ann", emails=[ANN])
    quote = sent(QUOTE, ANN, thread_id=THREAD)
    bounce = bounced("<dsn2@mx>", [ANN], in_reply_to=QUOTE, at=T0 + timedelta(minutes=1))
    await record(sessions, quote, bounce)
    timeline = (await client.get(f"/api/v1/contacts/{ann}/timeline", headers=admin)).json()
    by_id = {i["id"]: i for i in timeline["interactions"]}
    assert by_id[bounce.interaction_id]["thread_id"] == THREAD
    body = (await client.get(f"/api/v1/contacts/{ann}", headers=admin)).json()
    assert [u["email"] for u in body["undeliverable"]] == [ANN]


async def test_an_address_known_to_bounce_is_undeliverable_wherever_it_is_added(
    client: httpx.AsyncClient, admin: dict[str, str], sessions: Sessions
) -> None:
    """The address fails for everyone: typed in again for another contact, it comes marked,
    and the compacted topic says so."""
    ann = await contact(client, admin, first_name="Ann", emails=[ANN])
    await record(sessions, bounced("<dsn5@mx>", [ANN]))
    created = await client.post(
        "/api/v1/contacts",
        json={"first_name": "Annie", "last_name": "Other", "emails": [ANN], "force": True},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    assert [u["email"] for u in created.json()["undeliverable"]] == [ANN]
    assert created.json()["preferred_email"] is None
    last = (await points_published(sessions, ANN))[-1]
    assert last is not None
    assert last.undeliverable is not None
    assert last.undeliverable.interaction_id == "ce-<dsn5@mx>"
    assert last.contact_id is None  # shared by two contacts now: the point links no one
    # Ann's own card is unchanged.
    body = (await client.get(f"/api/v1/contacts/{ann}", headers=admin)).json()
    assert [u["email"] for u in body["undeliverable"]] == [ANN]


async def test_the_migration_gives_stored_mail_its_message_id_and_thread(
    database_url: str, tmp_path: Path
) -> None:
    """Mail stored before the migration can be found by the bounce that returns it."""
    quote = sent(QUOTE, ANN, thread_id=THREAD)
    async with own_crm_database(database_url, tmp_path, "0004_token_lifecycle") as url:
        engine = make_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    insert(table_of(Interaction)).values(
                        id=quote.interaction_id,
                        kind="mail",
                        occurred_at=T0,
                        counterpart=ANN,
                        direction="outbound",
                        disposition="logged",
                        tags=[],
                        reasons=[],
                        payload=quote.model_dump(mode="json", by_alias=True),
                        link="none",
                        candidates=[],
                        created_at=T0,
                    )
                )
            await migrate(url)
            async with engine.connect() as connection:
                row = (
                    await connection.execute(select(Interaction.message_id, Interaction.thread_id))
                ).one()
        finally:
            await engine.dispose()
    assert tuple(row) == (QUOTE, THREAD)
