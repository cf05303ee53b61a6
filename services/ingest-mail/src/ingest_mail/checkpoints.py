"""Where each mailbox folder was read up to, and which messages a mailbox already delivered.

One SQLite file (WAL) holds, per (mailbox, folder), the server's UIDVALIDITY and the last UID
whose message the broker acknowledged; and, per mailbox, the keys of delivered messages, so a
UIDVALIDITY change (every UID renumbered) does not deliver the same mail twice. The checkpoint and
the seen-mark of one message commit in one transaction. The seen-set is bounded: entries older
than `seen_retention_days` go, and each mailbox keeps at most `seen_max_per_mailbox`.

It also counts the tries of the message each folder is working on (`imap_attempt`, at most one
row per folder), counted before the message is handed on, so a message that crashes the whole
process is counted too and a crash loop ends after a bounded number of tries.

Calls run in a worker thread (`asyncio.to_thread`) so the event loop never waits on the disk.
`synchronous=NORMAL` may lose the last commits on a power cut, never on a process crash; a lost
checkpoint only means a message is delivered again (at least once).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["Attempt", "Checkpoint", "CheckpointStore"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS imap_checkpoint (
    mailbox TEXT NOT NULL,
    folder TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL,
    last_uid INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (mailbox, folder)
);
CREATE TABLE IF NOT EXISTS imap_seen (
    mailbox TEXT NOT NULL,
    message_key TEXT NOT NULL,
    seen_at REAL NOT NULL,
    PRIMARY KEY (mailbox, message_key)
);
CREATE INDEX IF NOT EXISTS imap_seen_by_age ON imap_seen (mailbox, seen_at);
CREATE TABLE IF NOT EXISTS imap_attempt (
    mailbox TEXT NOT NULL,
    folder TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT,
    PRIMARY KEY (mailbox, folder)
);
"""

_ATTEMPT = """
INSERT INTO imap_attempt (mailbox, folder, uidvalidity, uid, attempts, last_error)
VALUES (?, ?, ?, ?, 1, NULL)
ON CONFLICT (mailbox, folder) DO UPDATE SET
    attempts = CASE WHEN uidvalidity = excluded.uidvalidity AND uid = excluded.uid
                    THEN attempts + 1 ELSE 1 END,
    last_error = CASE WHEN uidvalidity = excluded.uidvalidity AND uid = excluded.uid
                      THEN last_error ELSE NULL END,
    uidvalidity = excluded.uidvalidity,
    uid = excluded.uid
RETURNING attempts, last_error
"""

_ADVANCE = """
INSERT INTO imap_checkpoint (mailbox, folder, uidvalidity, last_uid, updated_at)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (mailbox, folder) DO UPDATE SET
    last_uid = CASE WHEN uidvalidity = excluded.uidvalidity
                    THEN max(last_uid, excluded.last_uid) ELSE excluded.last_uid END,
    uidvalidity = excluded.uidvalidity,
    updated_at = excluded.updated_at
"""

_RESET = """
INSERT INTO imap_checkpoint (mailbox, folder, uidvalidity, last_uid, updated_at)
VALUES (?, ?, ?, 0, ?)
ON CONFLICT (mailbox, folder) DO UPDATE SET
    uidvalidity = excluded.uidvalidity, last_uid = 0, updated_at = excluded.updated_at
"""

_MARK = """
INSERT INTO imap_seen (mailbox, message_key, seen_at) VALUES (?, ?, ?)
ON CONFLICT (mailbox, message_key) DO UPDATE SET seen_at = excluded.seen_at
"""

_PRUNE_OVERFLOW = """
DELETE FROM imap_seen WHERE mailbox = ? AND seen_at < (
    SELECT seen_at FROM imap_seen WHERE mailbox = ? ORDER BY seen_at DESC LIMIT 1 OFFSET ?
)
"""


@dataclass(frozen=True)
class Checkpoint:
    uidvalidity: int
    last_uid: int


@dataclass(frozen=True)
class Attempt:
    """The tries of one message so far, this one included, and why the last one failed."""

    attempts: int
    last_error: str | None


class CheckpointStore:
    """IMAP checkpoints and the per-mailbox seen-set in one SQLite file."""

    def __init__(
        self,
        path: str | Path,
        *,
        seen_retention_days: float = 90.0,
        seen_max_per_mailbox: int = 100_000,
        prune_every: int = 500,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.seen_retention_s = seen_retention_days * 86_400
        self.seen_max_per_mailbox = seen_max_per_mailbox
        self.prune_every = prune_every
        self._clock = clock
        self._lock = threading.Lock()
        self._marks_since_prune: dict[str, int] = {}
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: every transaction below is an explicit BEGIN IMMEDIATE ... COMMIT.
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        return db

    def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = work(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return result

    def _read(self, sql: str, params: tuple[object, ...]) -> tuple[Any, ...] | None:
        with self._lock:
            row: tuple[Any, ...] | None = self._db.execute(sql, params).fetchone()
            return row

    # -- async API (the poller's) --------------------------------------------------------------

    async def get(self, mailbox: str, folder: str) -> Checkpoint | None:
        return await asyncio.to_thread(self.get_sync, mailbox, folder)

    async def reset(self, mailbox: str, folder: str, uidvalidity: int) -> None:
        """A new UIDVALIDITY: every stored UID of the folder is void; start from UID 0."""
        await asyncio.to_thread(self.reset_sync, mailbox, folder, uidvalidity)

    async def advance(
        self, mailbox: str, folder: str, uidvalidity: int, uid: int, message_key: str | None = None
    ) -> None:
        """Checkpoint `uid` (never moving back) and, in the same transaction, mark the key seen."""
        await asyncio.to_thread(self.advance_sync, mailbox, folder, uidvalidity, uid, message_key)

    async def seen(self, mailbox: str, message_key: str) -> bool:
        return await asyncio.to_thread(self.seen_sync, mailbox, message_key)

    async def attempt(self, mailbox: str, folder: str, uidvalidity: int, uid: int) -> Attempt:
        """Count one more try of this message (committed before it is tried)."""
        return await asyncio.to_thread(self.attempt_sync, mailbox, folder, uidvalidity, uid)

    async def attempt_failed(
        self, mailbox: str, folder: str, uid: int, error: str | None, *, counts: bool = True
    ) -> None:
        """Record why the try failed; `counts=False` takes the try back (the broker was down:
        not the message's fault)."""
        await asyncio.to_thread(self.attempt_failed_sync, mailbox, folder, uid, error, counts)

    async def mark_seen(self, mailbox: str, message_key: str) -> None:
        await asyncio.to_thread(self.mark_seen_sync, mailbox, message_key)

    async def prune(self, mailbox: str) -> int:
        return await asyncio.to_thread(self.prune_sync, mailbox)

    async def close(self) -> None:
        await asyncio.to_thread(self.close_sync)

    # -- the same, synchronous -----------------------------------------------------------------

    def get_sync(self, mailbox: str, folder: str) -> Checkpoint | None:
        row = self._read(
            "SELECT uidvalidity, last_uid FROM imap_checkpoint WHERE mailbox = ? AND folder = ?",
            (mailbox, folder),
        )
        if row is None:
            return None
        return Checkpoint(uidvalidity=int(row[0]), last_uid=int(row[1]))

    def reset_sync(self, mailbox: str, folder: str, uidvalidity: int) -> None:
        now = self._clock()
        self._transaction(lambda db: db.execute(_RESET, (mailbox, folder, uidvalidity, now)))

    def advance_sync(
        self, mailbox: str, folder: str, uidvalidity: int, uid: int, message_key: str | None = None
    ) -> None:
        now = self._clock()

        def work(db: sqlite3.Connection) -> None:
            db.execute(_ADVANCE, (mailbox, folder, uidvalidity, uid, now))
            db.execute(
                "DELETE FROM imap_attempt WHERE mailbox = ? AND folder = ? AND uid <= ?",
                (mailbox, folder, uid),
            )
            if message_key is not None:
                db.execute(_MARK, (mailbox, message_key, now))

        self._transaction(work)
        if message_key is not None:
            self._count_mark(mailbox)

    def seen_sync(self, mailbox: str, message_key: str) -> bool:
        row = self._read(
            "SELECT seen_at FROM imap_seen WHERE mailbox = ? AND message_key = ?",
            (mailbox, message_key),
        )
        if row is None:
            return False
        return float(row[0]) >= self._clock() - self.seen_retention_s

    def attempt_sync(self, mailbox: str, folder: str, uidvalidity: int, uid: int) -> Attempt:
        def work(db: sqlite3.Connection) -> Attempt:
            row = db.execute(_ATTEMPT, (mailbox, folder, uidvalidity, uid)).fetchone()
            return Attempt(int(row[0]), row[1])

        return self._transaction(work)

    def attempt_failed_sync(
        self, mailbox: str, folder: str, uid: int, error: str | None, counts: bool = True
    ) -> None:
        self._transaction(
            lambda db: db.execute(
                "UPDATE imap_attempt SET last_error = coalesce(?, last_error),"
                " attempts = attempts - ? WHERE mailbox = ? AND folder = ? AND uid = ?",
                (error, 0 if counts else 1, mailbox, folder, uid),
            )
        )

    def mark_seen_sync(self, mailbox: str, message_key: str) -> None:
        now = self._clock()
        self._transaction(lambda db: db.execute(_MARK, (mailbox, message_key, now)))
        self._count_mark(mailbox)

    def prune_sync(self, mailbox: str) -> int:
        """Drop the mailbox's seen entries past the retention or beyond the newest N."""
        cutoff = self._clock() - self.seen_retention_s

        def work(db: sqlite3.Connection) -> int:
            old = db.execute(
                "DELETE FROM imap_seen WHERE mailbox = ? AND seen_at < ?", (mailbox, cutoff)
            ).rowcount
            extra = db.execute(
                _PRUNE_OVERFLOW, (mailbox, mailbox, self.seen_max_per_mailbox - 1)
            ).rowcount
            return int(old) + int(extra)

        removed = self._transaction(work)
        self._marks_since_prune[mailbox] = 0
        return removed

    def _count_mark(self, mailbox: str) -> None:
        count = self._marks_since_prune.get(mailbox, 0) + 1
        self._marks_since_prune[mailbox] = count
        if count >= self.prune_every:
            self.prune_sync(mailbox)

    def seen_count_sync(self, mailbox: str) -> int:
        row = self._read("SELECT count(*) FROM imap_seen WHERE mailbox = ?", (mailbox,))
        return int(row[0]) if row else 0

    def close_sync(self) -> None:
        with self._lock:
            self._db.close()
