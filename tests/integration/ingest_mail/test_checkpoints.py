"""The checkpoint store and the mailbox leases on a real SQLite file and a real PostgreSQL:
persistence, monotonic checkpoints, a bounded seen-set, and writes fenced by the lease."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ingest_mail.checkpoints import Checkpoint, CheckpointStore, LeaseLost
from ingest_mail.leases import Leases, share, spread
from integration.ingest_mail.conftest import open_store

pytestmark = pytest.mark.integration

DAY = 86_400.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def leases_of(store: CheckpointStore) -> Leases:
    return Leases(store.engine, store.holder)


async def leased(store: CheckpointStore, *mailboxes: str, ttl_s: float = 60) -> CheckpointStore:
    for name in mailboxes:
        assert await leases_of(store).acquire(name, ttl_s)
    return store


async def test_checkpoints_persist_and_are_read_by_another_replica(mail_database_url: str) -> None:
    first = await leased(await open_store(mail_database_url), "sales")
    await first.advance("sales", "INBOX", 7, 42, "<a@x>")
    await first.close()

    other = await open_store(mail_database_url)  # another process, another holder
    try:
        assert other.holder != first.holder
        assert await other.get("sales", "INBOX") == Checkpoint(uidvalidity=7, last_uid=42)
        assert await other.get("sales", "Sent") is None
        assert await other.get("support", "INBOX") is None
        assert await other.seen("sales", "<a@x>")
        assert not await other.seen("support", "<a@x>")  # per mailbox
    finally:
        await other.close()


async def test_the_sqlite_file_is_wal_and_its_directory_is_created(tmp_path: Path) -> None:
    path = tmp_path / "var" / "state" / "ingest-mail.db"
    store = await open_store(f"sqlite+aiosqlite:///{path}")
    try:
        async with store.engine.connect() as db:
            mode = (await db.execute(text("PRAGMA journal_mode"))).scalar_one()
    finally:
        await store.close()
    assert path.exists()
    assert mode == "wal"


async def test_a_checkpoint_never_moves_back_and_a_new_uidvalidity_replaces_it(
    mail_database_url: str,
) -> None:
    store = await leased(await open_store(mail_database_url), "sales")
    try:
        await store.advance("sales", "INBOX", 7, 10)
        await store.advance("sales", "INBOX", 7, 5)
        assert await store.get("sales", "INBOX") == Checkpoint(7, 10)

        await store.reset("sales", "INBOX", 8)
        assert await store.get("sales", "INBOX") == Checkpoint(8, 0)
        await store.advance("sales", "INBOX", 8, 3)
        assert await store.get("sales", "INBOX") == Checkpoint(8, 3)
    finally:
        await store.close()


async def test_the_checkpoint_and_the_seen_mark_commit_together(mail_database_url: str) -> None:
    store = await leased(await open_store(mail_database_url), "sales")
    sqlite = store.engine.dialect.name == "sqlite"
    refuse = (
        ["CREATE TRIGGER refuse BEFORE INSERT ON imap_seen BEGIN SELECT RAISE(ABORT, 'no'); END"]
        if sqlite
        else [
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'no'; END $$",
            "CREATE TRIGGER refuse BEFORE INSERT ON imap_seen"
            " FOR EACH ROW EXECUTE FUNCTION refuse()",
        ]
    )
    try:
        async with store.engine.begin() as db:
            for statement in refuse:
                await db.execute(text(statement))
        with pytest.raises(DBAPIError):
            await store.advance("sales", "INBOX", 7, 1, "<a@x>")
        assert await store.get("sales", "INBOX") is None
        async with store.engine.begin() as db:
            await db.execute(text("DROP TRIGGER refuse" + ("" if sqlite else " ON imap_seen")))
        await store.advance("sales", "INBOX", 7, 1, "<a@x>")
        assert await store.get("sales", "INBOX") == Checkpoint(7, 1)
        assert await store.seen("sales", "<a@x>")
    finally:
        await store.close()


async def test_concurrent_mailboxes_share_the_store(mail_database_url: str) -> None:
    names = [f"mb{i}" for i in range(4)]
    store = await leased(await open_store(mail_database_url), *names)

    async def mailbox(name: str) -> None:
        for uid in range(1, 51):
            await store.advance(name, "INBOX", 1, uid, f"<{uid}@{name}>")

    try:
        await asyncio.gather(*(mailbox(name) for name in names))
        for name in names:
            assert await store.get(name, "INBOX") == Checkpoint(1, 50)
            assert await store.seen_count(name) == 50
    finally:
        await store.close()


async def test_the_seen_set_forgets_old_entries(mail_database_url: str) -> None:
    clock = Clock()
    store = await open_store(mail_database_url, seen_retention_days=90, clock=clock)
    await leased(store, "sales")
    try:
        await store.mark_seen("sales", "<old@x>")
        clock.now += 60 * DAY
        await store.mark_seen("sales", "<new@x>")
        clock.now += 31 * DAY
        assert not await store.seen("sales", "<old@x>")
        assert await store.seen("sales", "<new@x>")
        assert await store.prune("sales") == 1
        assert await store.seen_count("sales") == 1
    finally:
        await store.close()


async def test_the_seen_set_keeps_at_most_n_entries_per_mailbox(mail_database_url: str) -> None:
    clock = Clock()
    store = await open_store(mail_database_url, seen_max_per_mailbox=5, prune_every=1, clock=clock)
    await leased(store, "sales", "support")
    try:
        for n in range(8):
            clock.now += 1
            await store.advance("sales", "INBOX", 1, n + 1, f"<{n}@x>")
        await store.mark_seen("support", "<0@x>")
        assert await store.seen_count("sales") == 5
        assert not await store.seen("sales", "<2@x>")
        assert await store.seen("sales", "<3@x>")
        assert await store.seen("sales", "<7@x>")
        assert await store.seen("support", "<0@x>")
    finally:
        await store.close()


async def test_of_replicas_racing_for_a_free_mailbox_exactly_one_gets_it(
    mail_database_url: str,
) -> None:
    replicas = [await open_store(mail_database_url) for _ in range(4)]
    try:
        for _ in range(5):  # a few races, each for a fresh mailbox
            name = f"mb-{_}"
            won = await asyncio.gather(*(leases_of(r).acquire(name, 30) for r in replicas))
            assert sum(won) == 1, won
            [winner] = [r for r, w in zip(replicas, won, strict=True) if w]
            assert (await leases_of(winner).holders())[name] == winner.holder
            assert await leases_of(winner).acquire(name, 30)  # taking it again: still ours
    finally:
        for replica in replicas:
            await replica.close()


async def test_writes_are_fenced_by_the_lease_and_an_expired_lease_is_taken_over(
    mail_database_url: str,
) -> None:
    old = await open_store(mail_database_url)
    new = await open_store(mail_database_url)
    try:
        with pytest.raises(LeaseLost):  # no lease at all: nothing is written
            await old.advance("sales", "INBOX", 7, 1, "<1@x>")
        assert await old.get("sales", "INBOX") is None

        assert await leases_of(old).acquire("sales", 1.0)
        await old.advance("sales", "INBOX", 7, 1, "<1@x>")
        assert not await leases_of(new).acquire("sales", 30)  # held: not taken
        with pytest.raises(LeaseLost):
            await new.advance("sales", "INBOX", 7, 2, "<2@x>")

        async def taken_over() -> bool:
            return await leases_of(new).acquire("sales", 30)

        deadline = asyncio.get_running_loop().time() + 10
        while not await taken_over():  # the old holder stopped renewing: it runs out in 1 s
            assert asyncio.get_running_loop().time() < deadline, "the lease never ran out"
            await asyncio.sleep(0.1)

        assert await leases_of(old).renew(["sales"], 30) == set()  # not the old holder's
        for write in (
            old.advance("sales", "INBOX", 7, 5, "<5@x>"),
            old.attempt("sales", "INBOX", 7, 5),
            old.reset("sales", "INBOX", 8),
            old.mark_seen("sales", "<5@x>"),
        ):
            with pytest.raises(LeaseLost):
                await write
        assert await new.get("sales", "INBOX") == Checkpoint(7, 1)
        assert not await new.seen("sales", "<5@x>")
        await new.advance("sales", "INBOX", 7, 2, "<2@x>")
        assert await new.get("sales", "INBOX") == Checkpoint(7, 2)
        assert await leases_of(new).renew(["sales"], 30) == {"sales"}
    finally:
        await old.close()
        await new.close()


async def test_live_replicas_are_counted_and_a_graceful_stop_frees_its_leases(
    mail_database_url: str,
) -> None:
    a, b = await open_store(mail_database_url), await open_store(mail_database_url)
    try:
        assert await leases_of(a).join(30) == 1
        assert await leases_of(b).join(30) == 2
        assert await leases_of(a).acquire("sales", 30)
        await leases_of(a).leave()
        assert await leases_of(b).join(30) == 1
        assert await leases_of(b).acquire("sales", 30)  # at once, not after the TTL
    finally:
        await a.close()
        await b.close()


def test_each_replica_takes_at_most_its_share_in_its_own_order() -> None:
    assert [share(5, live) for live in (0, 1, 2, 3, 5, 8)] == [5, 5, 3, 2, 1, 1]
    names = [f"mb{i}" for i in range(8)]
    orders = {tuple(spread(f"pod-{n}", names)) for n in range(5)}
    assert len(orders) > 1  # replicas do not all try the same mailbox first
    assert all(sorted(order) == names for order in orders)
