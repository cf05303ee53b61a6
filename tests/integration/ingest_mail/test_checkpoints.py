"""The checkpoint store on a real SQLite file: persistence, monotonic checkpoints, a bounded
seen-set."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from ingest_mail.checkpoints import Checkpoint, CheckpointStore

pytestmark = pytest.mark.integration

DAY = 86_400.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_checkpoints_persist_in_a_wal_file_whose_directory_is_created(
    tmp_path: Path,
) -> None:
    path = tmp_path / "var" / "state" / "ingest-mail.db"
    store = CheckpointStore(path)
    await store.advance("sales", "INBOX", 7, 42, "<a@x>")
    await store.close()

    reopened = CheckpointStore(path)
    try:
        assert await reopened.get("sales", "INBOX") == Checkpoint(uidvalidity=7, last_uid=42)
        assert await reopened.get("sales", "Sent") is None
        assert await reopened.get("support", "INBOX") is None
        assert await reopened.seen("sales", "<a@x>")
        assert not await reopened.seen("support", "<a@x>")  # per mailbox
    finally:
        await reopened.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_a_checkpoint_never_moves_back_and_a_new_uidvalidity_replaces_it(
    store: CheckpointStore,
) -> None:
    await store.advance("sales", "INBOX", 7, 10)
    await store.advance("sales", "INBOX", 7, 5)
    assert await store.get("sales", "INBOX") == Checkpoint(7, 10)

    await store.reset("sales", "INBOX", 8)
    assert await store.get("sales", "INBOX") == Checkpoint(8, 0)
    await store.advance("sales", "INBOX", 8, 3)
    assert await store.get("sales", "INBOX") == Checkpoint(8, 3)


async def test_the_checkpoint_and_the_seen_mark_commit_together(store: CheckpointStore) -> None:
    store._db.execute(  # a constraint that makes the seen-mark fail inside the transaction
        "CREATE TRIGGER refuse BEFORE INSERT ON imap_seen BEGIN SELECT RAISE(ABORT, 'no'); END"
    )
    with pytest.raises(sqlite3.IntegrityError):
        await store.advance("sales", "INBOX", 7, 1, "<a@x>")
    assert await store.get("sales", "INBOX") is None
    store._db.execute("DROP TRIGGER refuse")
    await store.advance("sales", "INBOX", 7, 1, "<a@x>")
    assert await store.get("sales", "INBOX") == Checkpoint(7, 1)
    assert await store.seen("sales", "<a@x>")


async def test_concurrent_mailboxes_share_the_store(store: CheckpointStore) -> None:
    async def mailbox(name: str) -> None:
        for uid in range(1, 51):
            await store.advance(name, "INBOX", 1, uid, f"<{uid}@{name}>")

    await asyncio.gather(*(mailbox(f"mb{i}") for i in range(4)))
    for i in range(4):
        assert await store.get(f"mb{i}", "INBOX") == Checkpoint(1, 50)
        assert store.seen_count_sync(f"mb{i}") == 50


async def test_the_seen_set_forgets_old_entries(tmp_path: Path) -> None:
    clock = Clock()
    store = CheckpointStore(tmp_path / "s.db", seen_retention_days=90, clock=clock)
    try:
        await store.mark_seen("sales", "<old@x>")
        clock.now += 60 * DAY
        await store.mark_seen("sales", "<new@x>")
        clock.now += 31 * DAY
        assert not await store.seen("sales", "<old@x>")
        assert await store.seen("sales", "<new@x>")
        assert await store.prune("sales") == 1
        assert store.seen_count_sync("sales") == 1
    finally:
        await store.close()


async def test_the_seen_set_keeps_at_most_n_entries_per_mailbox(tmp_path: Path) -> None:
    clock = Clock()
    store = CheckpointStore(tmp_path / "s.db", seen_max_per_mailbox=5, prune_every=1, clock=clock)
    try:
        for n in range(8):
            clock.now += 1
            await store.advance("sales", "INBOX", 1, n + 1, f"<{n}@x>")
        await store.mark_seen("support", "<0@x>")
        assert store.seen_count_sync("sales") == 5
        assert not await store.seen("sales", "<2@x>")
        assert await store.seen("sales", "<3@x>")
        assert await store.seen("sales", "<7@x>")
        assert await store.seen("support", "<0@x>")
    finally:
        await store.close()
