"""Where each mailbox folder was read up to, and which messages a mailbox already delivered.

The database (`ingest_mail.database`: PostgreSQL, or a SQLite file) holds, per (mailbox,
folder), the server's UIDVALIDITY and the last UID whose message the broker acknowledged; and,
per mailbox, the keys of delivered messages, so a UIDVALIDITY change (every UID renumbered) does
not deliver the same mail twice. The checkpoint and the seen-mark of one message commit in one
transaction. The seen-set is bounded: entries older than `seen_retention_days` go, and each
mailbox keeps at most `seen_max_per_mailbox`.

It also counts the tries of the message each folder is working on (`imap_attempt`, at most one
row per folder), counted before the message is handed on, so a message that crashes the whole
process is counted too and a crash loop ends after a bounded number of tries.

Every write is fenced by the mailbox's lease (`ingest_mail.leases`): it runs only while this
replica (`holder`) holds an unexpired lease on the mailbox, and it locks the lease row until it
commits, so a replica taking the lease over waits for that commit and then reads it. A replica
whose lease ran out gets `LeaseLost` instead of a write, and stops polling the mailbox.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ingest_mail.database import clocked, create_schema, is_sqlite, make_engine

__all__ = ["Attempt", "Checkpoint", "CheckpointStore", "LeaseLost"]

T = TypeVar("T")


class LeaseLost(Exception):
    """This replica no longer holds the mailbox's lease: another one may poll it now."""

    def __init__(self, mailbox: str) -> None:
        super().__init__(f"the lease on mailbox {mailbox!r} is not held by this replica")
        self.mailbox = mailbox


_ATTEMPT = """
INSERT INTO imap_attempt (mailbox, folder, uidvalidity, uid, attempts, last_error)
VALUES (:mailbox, :folder, :uidvalidity, :uid, 1, NULL)
ON CONFLICT (mailbox, folder) DO UPDATE SET
    attempts = CASE WHEN imap_attempt.uidvalidity = excluded.uidvalidity
                         AND imap_attempt.uid = excluded.uid
                    THEN imap_attempt.attempts + 1 ELSE 1 END,
    last_error = CASE WHEN imap_attempt.uidvalidity = excluded.uidvalidity
                           AND imap_attempt.uid = excluded.uid
                      THEN imap_attempt.last_error ELSE NULL END,
    uidvalidity = excluded.uidvalidity,
    uid = excluded.uid
RETURNING attempts, last_error
"""

_ADVANCE = """
INSERT INTO imap_checkpoint (mailbox, folder, uidvalidity, last_uid, updated_at)
VALUES (:mailbox, :folder, :uidvalidity, :uid, :now)
ON CONFLICT (mailbox, folder) DO UPDATE SET
    last_uid = CASE WHEN imap_checkpoint.uidvalidity = excluded.uidvalidity
                    THEN {greatest}(imap_checkpoint.last_uid, excluded.last_uid)
                    ELSE excluded.last_uid END,
    uidvalidity = excluded.uidvalidity,
    updated_at = excluded.updated_at
"""

_RESET = """
INSERT INTO imap_checkpoint (mailbox, folder, uidvalidity, last_uid, updated_at)
VALUES (:mailbox, :folder, :uidvalidity, 0, :now)
ON CONFLICT (mailbox, folder) DO UPDATE SET
    uidvalidity = excluded.uidvalidity, last_uid = 0, updated_at = excluded.updated_at
"""

_MARK = """
INSERT INTO imap_seen (mailbox, message_key, seen_at) VALUES (:mailbox, :key, :now)
ON CONFLICT (mailbox, message_key) DO UPDATE SET seen_at = excluded.seen_at
"""

_PRUNE_OVERFLOW = """
DELETE FROM imap_seen WHERE mailbox = :mailbox AND seen_at < (
    SELECT seen_at FROM imap_seen WHERE mailbox = :mailbox
    ORDER BY seen_at DESC LIMIT 1 OFFSET :keep
)
"""

# Holds the lease row (PostgreSQL: a row lock; SQLite: the write lock of BEGIN IMMEDIATE) until
# the transaction ends; no row: the lease is someone else's, or ran out.
_FENCE = """
UPDATE imap_lease SET holder = holder
WHERE mailbox = :mailbox AND holder = :holder AND expires_at > DB_NOW
RETURNING mailbox
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
    """IMAP checkpoints and the per-mailbox seen-set in the shared database; `holder` names
    this replica in the lease table."""

    def __init__(
        self,
        url: str,
        *,
        holder: str,
        seen_retention_days: float = 90.0,
        seen_max_per_mailbox: int = 100_000,
        prune_every: int = 500,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.holder = holder
        self.seen_retention_s = seen_retention_days * 86_400
        self.seen_max_per_mailbox = seen_max_per_mailbox
        self.prune_every = prune_every
        self._clock = clock
        self._marks_since_prune: dict[str, int] = {}
        self.engine: AsyncEngine = make_engine(url)
        greatest = "max" if is_sqlite(self.engine) else "greatest"
        self._advance = text(_ADVANCE.format(greatest=greatest))
        self._fence = clocked(self.engine, _FENCE)

    async def open(self) -> CheckpointStore:
        """Create the tables that are missing; returns the store."""
        await create_schema(self.engine)
        return self

    async def close(self) -> None:
        await self.engine.dispose()

    async def _fenced(self, mailbox: str, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run `work` in one transaction, only while this replica holds the mailbox's lease."""
        async with self.engine.begin() as db:
            held = await db.execute(self._fence, {"mailbox": mailbox, "holder": self.holder})
            if held.first() is None:
                raise LeaseLost(mailbox)
            return await work(db)

    async def _one(self, sql: str, params: dict[str, Any]) -> Any:
        async with self.engine.connect() as db:
            return (await db.execute(text(sql), params)).first()

    # -- reads -----------------------------------------------------------------------------

    async def get(self, mailbox: str, folder: str) -> Checkpoint | None:
        row = await self._one(
            "SELECT uidvalidity, last_uid FROM imap_checkpoint"
            " WHERE mailbox = :mailbox AND folder = :folder",
            {"mailbox": mailbox, "folder": folder},
        )
        if row is None:
            return None
        return Checkpoint(uidvalidity=int(row[0]), last_uid=int(row[1]))

    async def seen(self, mailbox: str, message_key: str) -> bool:
        row = await self._one(
            "SELECT seen_at FROM imap_seen WHERE mailbox = :mailbox AND message_key = :key",
            {"mailbox": mailbox, "key": message_key},
        )
        if row is None:
            return False
        return float(row[0]) >= self._clock() - self.seen_retention_s

    async def seen_count(self, mailbox: str) -> int:
        row = await self._one(
            "SELECT count(*) FROM imap_seen WHERE mailbox = :mailbox", {"mailbox": mailbox}
        )
        return int(row[0]) if row else 0

    # -- fenced writes ---------------------------------------------------------------------

    async def reset(self, mailbox: str, folder: str, uidvalidity: int) -> None:
        """A new UIDVALIDITY: every stored UID of the folder is void; start from UID 0."""
        params = {"mailbox": mailbox, "folder": folder, "uidvalidity": uidvalidity}

        async def work(db: AsyncConnection) -> None:
            await db.execute(text(_RESET), {**params, "now": self._clock()})

        await self._fenced(mailbox, work)

    async def advance(
        self, mailbox: str, folder: str, uidvalidity: int, uid: int, message_key: str | None = None
    ) -> None:
        """Checkpoint `uid` (never moving back) and, in the same transaction, mark the key seen."""
        now = self._clock()
        params = {"mailbox": mailbox, "folder": folder, "uidvalidity": uidvalidity, "uid": uid}

        async def work(db: AsyncConnection) -> None:
            await db.execute(self._advance, {**params, "now": now})
            await db.execute(
                text(
                    "DELETE FROM imap_attempt"
                    " WHERE mailbox = :mailbox AND folder = :folder AND uid <= :uid"
                ),
                {"mailbox": mailbox, "folder": folder, "uid": uid},
            )
            if message_key is not None:
                await db.execute(text(_MARK), {"mailbox": mailbox, "key": message_key, "now": now})

        await self._fenced(mailbox, work)
        if message_key is not None:
            await self._count_mark(mailbox)

    async def attempt(self, mailbox: str, folder: str, uidvalidity: int, uid: int) -> Attempt:
        """Count one more try of this message (committed before it is tried)."""
        params = {"mailbox": mailbox, "folder": folder, "uidvalidity": uidvalidity, "uid": uid}

        async def work(db: AsyncConnection) -> Attempt:
            row = (await db.execute(text(_ATTEMPT), params)).one()
            return Attempt(int(row[0]), row[1])

        return await self._fenced(mailbox, work)

    async def attempt_failed(
        self, mailbox: str, folder: str, uid: int, error: str | None, *, counts: bool = True
    ) -> None:
        """Record why the try failed; `counts=False` takes the try back (the broker was down:
        not the message's fault)."""
        params = {
            "mailbox": mailbox,
            "folder": folder,
            "uid": uid,
            "error": error,
            "back": 0 if counts else 1,
        }

        async def work(db: AsyncConnection) -> None:
            await db.execute(
                text(
                    "UPDATE imap_attempt SET last_error = coalesce(:error, last_error),"
                    " attempts = attempts - :back"
                    " WHERE mailbox = :mailbox AND folder = :folder AND uid = :uid"
                ),
                params,
            )

        await self._fenced(mailbox, work)

    async def mark_seen(self, mailbox: str, message_key: str) -> None:
        now = self._clock()

        async def work(db: AsyncConnection) -> None:
            await db.execute(text(_MARK), {"mailbox": mailbox, "key": message_key, "now": now})

        await self._fenced(mailbox, work)
        await self._count_mark(mailbox)

    async def prune(self, mailbox: str) -> int:
        """Drop the mailbox's seen entries past the retention or beyond the newest N."""
        cutoff = self._clock() - self.seen_retention_s

        async def work(db: AsyncConnection) -> int:
            old = await db.execute(
                text("DELETE FROM imap_seen WHERE mailbox = :mailbox AND seen_at < :cutoff"),
                {"mailbox": mailbox, "cutoff": cutoff},
            )
            extra = await db.execute(
                text(_PRUNE_OVERFLOW),
                {"mailbox": mailbox, "keep": self.seen_max_per_mailbox - 1},
            )
            return int(old.rowcount) + int(extra.rowcount)

        removed = await self._fenced(mailbox, work)
        self._marks_since_prune[mailbox] = 0
        return removed

    async def _count_mark(self, mailbox: str) -> None:
        count = self._marks_since_prune.get(mailbox, 0) + 1
        self._marks_since_prune[mailbox] = count
        if count >= self.prune_every:
            await self.prune(mailbox)
