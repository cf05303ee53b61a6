"""crm-store benchmark (part of `make bench`; `python scripts/bench_crm.py` runs it alone).

1. Throughput: classified interactions stored per second by the real service (`python -m
   crm_store`, consuming `interactions.classified.v1` from the real broker into PostgreSQL:
   linking, activities, outbox and audit rows, one transaction per batch, the outbox relay
   publishing meanwhile), from one run next to two plain batched INSERTs into the same schema
   (batches of the consumer's size, one transaction each):
   a. the same interaction rows alone, and
   b. every row the consumer wrote for them (interactions, activities, their links, outbox
      records, audit entries), copied from the service's database.
   Prints the rates and both ratios. The target (>= 0.5) is on b, the same rows: the consumer
   writes about six rows per interaction in its transaction, so a. (one row) is shown for
   reference. The consumer writes its bulk rows with COPY; the baselines are plain INSERTs.
2. The managers' inbox (`GET /activities` as a manager: their own and unassigned open
   activities, newest first, 50 a page) with 100,000 activities in the table: p50/p99.

PostgreSQL: CRM_STORE_BENCH_DATABASE_URL (default postgresql+asyncpg://postgres@127.0.0.1:5432/
test) names the server; fresh databases are created for the run and dropped after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text

from crm_store.activities import ActivityFilter
from crm_store.activities import ActivityRepository as Repository
from crm_store.core import (
    Activity,
    Base,
    Contact,
    Interaction,
    Manager,
    Point,
    make_engine,
    make_sessionmaker,
)
from crm_store.directory import linking
from crm_store.interactions.rows import interaction_values
from crm_store.migrate import migrate
from harness.databases import temporary_database
from harness.kafka import producer, send_records
from harness.measure import latency_line, ratio_line
from harness.run import run_area
from harness.service import ServiceProcess, free_port, service_env
from switchboard_shared.cloudevents import KafkaRecord, encode
from switchboard_shared.events import InteractionClassified
from switchboard_shared.serve import tune_gc
from switchboard_shared.topics import INTERACTIONS_CLASSIFIED

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
EVENTS = int(os.environ.get("CRM_STORE_BENCH_EVENTS", "20000"))
BATCH = 1000  # the consumer's default (CRM_STORE_CONSUMER_BATCH_SIZE)
INBOX_ACTIVITIES = 100_000
INBOX_QUERIES = 400
MANAGERS = 20
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


# -- the workload ------------------------------------------------------------------------------


def number(n: int) -> str:
    return f"+1415{n:07d}"


def workload(count: int, seed: int = 7) -> list[InteractionClassified]:
    """A day of a busy sales team: missed calls (repeating), conversations that close them,
    attempts, internal calls, mail that needs a reply and our replies."""
    rng = random.Random(seed)
    events = []
    for i in range(count):
        at = T0 + timedelta(seconds=i * 2)
        client = number(rng.randrange(4000))
        roll = rng.random()
        agent = str(100 + rng.randrange(MANAGERS))
        if roll < 0.75:
            if roll < 0.35:
                disposition, status, direction, tags = (
                    "callback",
                    "no_answer",
                    "inbound",
                    ["missed"],
                )
            elif roll < 0.55:
                disposition, status, direction, tags = "needs_status", "answered", "inbound", []
            elif roll < 0.65:
                disposition, status, direction, tags = (
                    "logged",
                    "no_answer",
                    "outbound",
                    ["attempt"],
                )
            else:
                disposition, status, direction, tags = (
                    "auto_closed",
                    "answered",
                    "internal",
                    ["internal"],
                )
            external: dict[str, Any] = {"raw": client, "e164": client, "kind": "external"}
            ours_leg: dict[str, Any] = {
                "raw": agent,
                "e164": None,
                "kind": "internal",
                "extension": agent,
            }
            call_id = f"bench:{i}"
            events.append(
                InteractionClassified.model_validate(
                    {
                        "interaction_id": f"ce-{call_id}",
                        "kind": "call",
                        "occurred_at": at,
                        "counterpart": None if direction == "internal" else client,
                        "disposition": disposition,
                        "tags": tags,
                        "reasons": [{"rule": "bench", "detail": "generated"}],
                        "classifier_version": "bench",
                        "call": {
                            "call_id": call_id,
                            "provider": "asterisk",
                            "direction": direction,
                            "status": status,
                            "started_at": at,
                            "from": external if direction == "inbound" else ours_leg,
                            "to": ours_leg if direction == "inbound" else external,
                            "counterpart": None if direction == "internal" else client,
                            "agent": agent,
                            "linked_id": f"{i}.1",
                            "raw": {"uniqueid": f"{i}.1", "disposition": status.upper()},
                        },
                    }
                )
            )
        else:
            address = f"buyer{rng.randrange(3000)}@client{rng.randrange(300)}.example"
            outbound = roll > 0.9
            thread = f"<t{rng.randrange(2000)}@client.example>"
            ours: dict[str, Any] = {
                "raw": "sales@our.example",
                "address": "sales@our.example",
                "name": None,
                "valid": True,
            }
            theirs: dict[str, Any] = {
                "raw": address,
                "address": address,
                "name": "Buyer",
                "valid": True,
            }
            events.append(
                InteractionClassified.model_validate(
                    {
                        "interaction_id": f"ce-mail-{i}",
                        "kind": "mail",
                        "occurred_at": at,
                        "counterpart": address,
                        "disposition": "logged" if outbound else "reply_needed",
                        "classifier_version": "bench",
                        "mail": {
                            "message_id": f"<m{i}@bench>",
                            "mailbox": "sales@our.example",
                            "direction": "outbound" if outbound else "inbound",
                            "from": ours if outbound else theirs,
                            "to": [theirs if outbound else ours],
                            "subject": "Re: offer",
                            "thread_id": thread,
                            "text": "Could you send the offer again? " * 4,
                            "size_bytes": 4000,
                            "counterpart": address,
                        },
                    }
                )
            )
    return events


async def seed_directory(url: str) -> None:
    """Managers with extensions, and contacts for half the numbers and some companies."""
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            now = datetime.now(UTC)
            managers = [
                {
                    "id": f"m{n:03d}",
                    "name": f"Manager {n}",
                    "email": f"m{n}@our.example",
                    "role": "manager",
                    "extensions": [str(100 + n)],
                    "phones": [],
                    "active": True,
                    "created_at": now,
                }
                for n in range(MANAGERS)
            ]
            await connection.execute(insert(Manager), managers)
            contacts = [
                {
                    "id": f"c{n:05d}",
                    "first_name": f"Client{n}",
                    "last_name": "Bench",
                    "name_key": linking.person_key(f"Client{n}", "Bench"),
                    "owner_id": f"m{n % MANAGERS:03d}",
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(2000)
            ]
            await connection.execute(insert(Contact), contacts)
            points = [
                {
                    "id": f"p{n:05d}",
                    "type": "phone",
                    "value": number(n),
                    "raw": number(n),
                    "contact_id": f"c{n:05d}",
                    "active": True,
                    "position": 0,
                    "created_at": now,
                }
                for n in range(2000)
            ]
            await connection.execute(insert(Point), points)
    finally:
        await engine.dispose()


# -- 1. throughput -----------------------------------------------------------------------------


def records(events: list[InteractionClassified]) -> Iterator[KafkaRecord]:
    for event in events:
        yield encode(
            INTERACTIONS_CLASSIFIED,
            event,
            id=event.interaction_id,
            source="bench",
            key=event.counterpart or event.interaction_id,
        )


async def consumer_rate(url: str, bootstrap: str, workdir: Path, total: int) -> tuple[float, float]:
    """Stored interactions per second, from the first row to the last; and the seconds."""
    port = free_port()
    env = service_env(
        bootstrap,
        {
            "CRM_STORE_DATABASE_URL": url,
            "CRM_STORE_PORT": str(port),
            "CRM_STORE_CONSUMER_GROUP": f"crm-bench-{uuid.uuid4().hex[:8]}",
            "CRM_STORE_CONSUMER_BATCH_SIZE": str(BATCH),
        },
        drop_prefixes=("CRM_STORE_",),
    )
    engine = make_engine(url)
    try:
        with ServiceProcess("crm_store", env, workdir / "crm-store.log") as service:
            await service.wait_ready(port, timeout=60)
            first_at: float | None = None
            first_count = 0
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                async with engine.connect() as connection:
                    stored = (
                        await connection.execute(select(func.count()).select_from(Interaction))
                    ).scalar_one()
                now = time.perf_counter()
                if stored and first_at is None:
                    first_at, first_count = now, stored
                if stored >= total:
                    assert first_at is not None
                    seconds = now - first_at
                    return (stored - first_count) / seconds, seconds
                await asyncio.sleep(0.05)
            raise RuntimeError("the consumer did not store every interaction in 10 minutes")
    finally:
        await engine.dispose()


async def baseline_rate(url: str, events: list[InteractionClassified]) -> tuple[float, float]:
    """The same interaction rows, inserted in batches of the consumer's size, one
    transaction each: what the database alone can take."""
    rows = []
    for event in events:
        email_domain = (
            linking.company_domain(event.counterpart)
            if event.mail is not None and event.counterpart
            else None
        )
        row = interaction_values(event, None, linking.NO_LINK, email_domain)
        rows.append({**row, "created_at": datetime.now(UTC)})
    engine = make_engine(url)
    try:
        start = time.perf_counter()
        for n in range(0, len(rows), BATCH):
            async with engine.begin() as connection:
                await connection.execute(insert(Interaction), rows[n : n + BATCH])
        seconds = time.perf_counter() - start
    finally:
        await engine.dispose()
    return len(rows) / seconds, seconds


WRITTEN = ("interactions", "activities", "activity_interactions", "outbox", "audit_log")


async def written_rows(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row the consumer wrote (the seeded directory excluded), table by table."""
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            out = {}
            for name in WRITTEN:
                table = Base.metadata.tables[name]
                rows = await connection.execute(select(table))
                out[name] = [dict(row._mapping) for row in rows]
            return out
    finally:
        await engine.dispose()


async def baseline_all_rows(url: str, tables: dict[str, list[dict[str, Any]]]) -> tuple[float, int]:
    """Seconds to insert all those rows in batches, and how many rows that was."""
    engine = make_engine(url)
    try:
        start = time.perf_counter()
        for name in WRITTEN:
            table = Base.metadata.tables[name]
            rows = tables[name]
            for n in range(0, len(rows), BATCH):
                async with engine.begin() as connection:
                    await connection.execute(insert(table), rows[n : n + BATCH])
        return time.perf_counter() - start, sum(len(r) for r in tables.values())
    finally:
        await engine.dispose()


# -- 2. the inbox ------------------------------------------------------------------------------


async def top_up_activities(url: str, wanted: int) -> int:
    """Fill the activities table to `wanted` rows: 30% open, 10% unassigned, a year's spread."""
    engine = make_engine(url)
    rng = random.Random(11)
    try:
        async with engine.connect() as connection:
            have = (
                await connection.execute(select(func.count()).select_from(Activity))
            ).scalar_one()
        missing = max(0, wanted - have)
        now = datetime.now(UTC)
        for start in range(0, missing, 5000):
            size = min(5000, missing - start)
            interactions = []
            activities = []
            for n in range(start, start + size):
                at = now - timedelta(minutes=rng.randrange(525_600))
                interaction_id = f"inbox-{n}"
                interactions.append(
                    {
                        "id": interaction_id,
                        "kind": "call",
                        "occurred_at": at,
                        "counterpart": number(5000 + n % 50_000),
                        "direction": "inbound",
                        "disposition": "callback",
                        "tags": ["missed"],
                        "reasons": [],
                        "payload": {},
                        "link": "none",
                        "candidates": [],
                        "created_at": now,
                    }
                )
                state = "open" if rng.random() < 0.3 else "done"
                assignee = None if rng.random() < 0.1 else f"m{rng.randrange(MANAGERS):03d}"
                activities.append(
                    {
                        "id": str(uuid.uuid4()),
                        "kind": rng.choice(["log_outcome", "reply"]),
                        "state": state,
                        "counterpart": number(5000 + n % 50_000),
                        "interaction_id": interaction_id,
                        "last_interaction_id": interaction_id,
                        "last_occurred_at": at,
                        "count": 1,
                        "assignee_id": assignee,
                        "opened_at": at,
                        "updated_at": at,
                        "closed_at": None if state == "open" else at + timedelta(hours=1),
                    }
                )
            async with engine.begin() as connection:
                await connection.execute(insert(Interaction), interactions)
                await connection.execute(insert(Activity), activities)
        async with engine.begin() as connection:
            await connection.execute(text("ANALYZE"))
            total = (
                await connection.execute(select(func.count()).select_from(Activity))
            ).scalar_one()
        return int(total)
    finally:
        await engine.dispose()


async def inbox_latencies(url: str) -> list[float]:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    rng = random.Random(3)
    latencies = []
    try:
        for n in range(INBOX_QUERIES + 20):
            manager = f"m{rng.randrange(MANAGERS):03d}"
            where = ActivityFilter(state="open", visible_to_manager=manager)
            start = time.perf_counter()
            async with sessions() as session:
                page = await Repository(session).list_activities(where, limit=50)
                if n % 4 == 3 and page.next_cursor:  # some managers scroll on
                    await Repository(session).list_activities(
                        where, limit=50, cursor=page.next_cursor
                    )
            if n >= 20:  # warm-up
                latencies.append(time.perf_counter() - start)
    finally:
        await engine.dispose()
    return latencies


# -- the run -----------------------------------------------------------------------------------


async def bench(bootstrap: str, workdir: Path) -> None:
    """Run both measurements against the broker at `bootstrap` (topics created) and print them."""
    base_url = os.environ.get("CRM_STORE_BENCH_DATABASE_URL", DEFAULT_URL)
    tune_gc()  # the baselines run with the collector set as in the service
    events = workload(EVENTS)
    async with contextlib.AsyncExitStack() as databases:
        service_db, plain_db, copy_db = [
            await databases.enter_async_context(temporary_database(base_url, "crm_bench"))
            for _ in range(3)
        ]
        for url in (service_db, plain_db, copy_db):
            await migrate(url)
            await seed_directory(url)
        async with producer(bootstrap) as client:
            await send_records(client, records(events))
        base_rate, base_s = await baseline_rate(plain_db, events)
        ours_rate, ours_s = await consumer_rate(service_db, bootstrap, workdir, len(events))
        written = await written_rows(service_db)
        copy_s, copied = await baseline_all_rows(copy_db, written)
        total = await top_up_activities(service_db, INBOX_ACTIVITIES)
        latencies = await inbox_latencies(service_db)

    counts = {name: len(rows) for name, rows in written.items()}
    same_rows_rate = len(events) / copy_s
    print(
        f"\ncrm-store: {len(events)} classified interactions into PostgreSQL (batches of {BATCH})"
    )
    print(
        f"  consumer            {ours_rate:8.0f} interactions/s ({ours_s:5.1f} s; "
        f"{counts['activities']} activities, {counts['outbox']} outbox records, "
        f"{counts['audit_log']} audit entries)"
    )
    print(
        f"  a. plain insert     {base_rate:8.0f} interactions/s ({base_s:5.1f} s; "
        "the interaction rows)"
    )
    print(
        f"  b. plain insert     {same_rows_rate:8.0f} interactions/s ({copy_s:5.1f} s; "
        f"all {copied} rows the consumer wrote)"
    )
    ratio = ours_rate / same_rows_rate
    print(ratio_line("ratio consumer / b", ratio, 0.5, " (the same rows)"))
    per_interaction = copied / len(events)
    print(
        f"  ratio consumer / a: {ours_rate / base_rate:.2f}  (for reference: the consumer "
        f"writes {per_interaction:.1f} rows per interaction, a. one)"
    )
    print(f"\ncrm-store: managers' inbox with {total} activities ({len(latencies)} queries)")
    print(f"  {latency_line(latencies)}")


if __name__ == "__main__":
    asyncio.run(run_area("crm", bench))
