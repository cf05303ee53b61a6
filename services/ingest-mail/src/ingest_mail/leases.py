"""One poller per mailbox across replicas: a lease per mailbox in the shared database.

A lease row (`imap_lease`) names the replica that polls the mailbox (`holder`, unique per
process) and when that right ends (`expires_at`, the database's clock). Each replica, every
`ttl_s / 3`:

1. renews its own member row (`imap_member`): how many replicas are alive;
2. renews the leases it holds, one statement for all (a lease that ran out is not renewed:
   its poller stops at once);
3. takes its share: at most ceil(mailboxes / live replicas) leases. Below it, it takes leases
   that are free or ran out, one atomic upsert each (`... ON CONFLICT DO UPDATE ... WHERE the
   lease ran out`: of two replicas trying at once, exactly one gets it). Above it (a replica
   joined), it stops the pollers of its extra mailboxes and deletes their leases, so the new
   replica picks them up on its next round.

A replica stopped gracefully deletes its leases (another takes them within a round); one that
dies keeps them until they run out (`ttl_s`), then another takes them over.

Fencing: a replica that cannot renew stops its pollers before its leases can run out (at
`renewed + ttl_s * 0.8`, measured from before the renewal was sent, on its own monotonic
clock), and every checkpoint write checks the lease in its own transaction
(`CheckpointStore`), so even a replica frozen past its lease writes nothing once another one
holds it. What a frozen replica published before that is at least once: the message is
delivered again under the same event id, which every consumer drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import os
import secrets
import socket
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import Gauge
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest_mail.database import clocked

__all__ = [
    "IMAP_LEASE_HELD",
    "LeaseKeeper",
    "LeaseOptions",
    "Leases",
    "replica_id",
    "share",
    "spread",
]

log = logging.getLogger(__name__)

IMAP_LEASE_HELD = Gauge(
    "ingest_mail_imap_lease_held",
    "1 while this replica holds the mailbox's lease and polls it",
    ["mailbox"],
)


@dataclass(frozen=True)
class LeaseOptions:
    ttl_s: float = 30.0
    safety: float = 0.8  # stop polling at this fraction of the TTL without a renewal

    @property
    def renew_every_s(self) -> float:
        return self.ttl_s / 3


def replica_id() -> str:
    """This process's name in the lease table: host (the pod's name), process, and a random
    part, so a restarted pod never mistakes its predecessor's leases for its own."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{secrets.token_hex(4)}"


def share(mailboxes: int, live: int) -> int:
    """The most mailboxes one replica polls: ceil(mailboxes / live replicas)."""
    return math.ceil(mailboxes / max(live, 1))


def spread(holder: str, names: Iterable[str]) -> list[str]:
    """The order in which `holder` tries mailboxes: its own, so replicas starting together do
    not all go for the same mailbox first."""
    return sorted(names, key=lambda name: hashlib.sha256(f"{holder}\0{name}".encode()).digest())


class Leases:
    """The lease and member rows of one replica (`holder`)."""

    def __init__(self, engine: AsyncEngine, holder: str) -> None:
        self.engine = engine
        self.holder = holder
        self._join = clocked(
            engine,
            "INSERT INTO imap_member (holder, expires_at) VALUES (:holder, DB_NOW + :ttl)"
            " ON CONFLICT (holder) DO UPDATE SET expires_at = excluded.expires_at",
        )
        self._live = clocked(engine, "SELECT count(*) FROM imap_member WHERE expires_at > DB_NOW")
        self._forget_dead = clocked(
            engine, "DELETE FROM imap_member WHERE expires_at < DB_NOW - 10 * :ttl"
        )
        self._acquire = clocked(
            engine,
            "INSERT INTO imap_lease (mailbox, holder, expires_at, acquired_at)"
            " VALUES (:mailbox, :holder, DB_NOW + :ttl, DB_NOW)"
            " ON CONFLICT (mailbox) DO UPDATE SET holder = excluded.holder,"
            " expires_at = excluded.expires_at, acquired_at = excluded.acquired_at"
            " WHERE imap_lease.holder = excluded.holder OR imap_lease.expires_at <= DB_NOW"
            " RETURNING holder",
        )
        self._renew = clocked(
            engine,
            "UPDATE imap_lease SET expires_at = DB_NOW + :ttl"
            " WHERE holder = :holder AND expires_at > DB_NOW AND mailbox IN :mailboxes"
            " RETURNING mailbox",
        ).bindparams(bindparam("mailboxes", expanding=True))
        self._holders = clocked(
            engine, "SELECT mailbox, holder FROM imap_lease WHERE expires_at > DB_NOW"
        )

    async def join(self, ttl_s: float) -> int:
        """Renew this replica's member row; how many replicas are alive (this one included)."""
        async with self.engine.begin() as db:
            await db.execute(self._join, {"holder": self.holder, "ttl": ttl_s})
            await db.execute(self._forget_dead, {"ttl": ttl_s})
            live = (await db.execute(self._live)).scalar_one()
        return max(int(live), 1)

    async def acquire(self, mailbox: str, ttl_s: float) -> bool:
        """Take the mailbox's lease if it is free, ran out, or is already ours."""
        async with self.engine.begin() as db:
            row = (
                await db.execute(
                    self._acquire, {"mailbox": mailbox, "holder": self.holder, "ttl": ttl_s}
                )
            ).first()
        return row is not None and row[0] == self.holder

    async def renew(self, mailboxes: Iterable[str], ttl_s: float) -> set[str]:
        """Extend the leases still ours; the mailboxes whose lease was renewed."""
        names = list(mailboxes)
        if not names:
            return set()
        async with self.engine.begin() as db:
            rows = await db.execute(
                self._renew, {"holder": self.holder, "ttl": ttl_s, "mailboxes": names}
            )
            return {str(row[0]) for row in rows}

    async def release(self, mailbox: str) -> None:
        async with self.engine.begin() as db:
            await db.execute(
                text("DELETE FROM imap_lease WHERE mailbox = :mailbox AND holder = :holder"),
                {"mailbox": mailbox, "holder": self.holder},
            )

    async def leave(self) -> None:
        """Give up every lease and the member row (a graceful stop)."""
        async with self.engine.begin() as db:
            params = {"holder": self.holder}
            await db.execute(text("DELETE FROM imap_lease WHERE holder = :holder"), params)
            await db.execute(text("DELETE FROM imap_member WHERE holder = :holder"), params)

    async def holders(self) -> dict[str, str]:
        """Mailbox → the replica whose lease on it has not run out."""
        async with self.engine.connect() as db:
            rows = await db.execute(self._holders)
            return {str(mailbox): str(holder) for mailbox, holder in rows}


Run = Callable[[str], Coroutine[Any, Any, None]]
"""Poll the named mailbox until cancelled (returns if its lease is found lost)."""


class LeaseKeeper:
    """Runs `run(mailbox)` for exactly the mailboxes whose lease this replica holds."""

    def __init__(
        self, leases: Leases, mailboxes: Sequence[str], run: Run, options: LeaseOptions
    ) -> None:
        self.leases = leases
        self.mailboxes = list(mailboxes)
        self.run = run
        self.options = options
        self.live = 1
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._valid_until = 0.0  # monotonic: stop every poller past it without a renewal
        self._held_gauge = {name: IMAP_LEASE_HELD.labels(name) for name in self.mailboxes}

    def held(self) -> set[str]:
        return {name for name, task in self._tasks.items() if not task.done()}

    async def keep(self) -> None:
        """Until cancelled: renew, take the share, give up extras; on cancel, stop every
        poller and delete this replica's leases."""
        try:
            while True:
                started = time.monotonic()
                # Holding leases, a round must end before they may run out (then the pollers
                # stop below); holding none, it has until the next round.
                budget = self.options.renew_every_s
                if self._tasks:
                    budget = min(budget, max(self._valid_until - started, 0.05))
                try:
                    await asyncio.wait_for(self.round(started), budget)
                except Exception as exc:  # the database is away: keep polling while it lasts
                    log.warning(
                        "imap leases not renewed",
                        extra={"error": f"{type(exc).__name__}: {exc}"[:300]},
                    )
                if self._tasks and time.monotonic() >= self._valid_until:
                    log.error("imap leases may have run out; every poller of this replica stops")
                    await self._stop(list(self._tasks))
                await asyncio.sleep(
                    max(self.options.renew_every_s - (time.monotonic() - started), 0.05)
                )
        finally:
            await self._stop(list(self._tasks))
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.leases.leave(), self.options.renew_every_s)

    async def round(self, started: float) -> None:
        """One renewal round; `started` (monotonic) is taken before anything is sent."""
        ttl = self.options.ttl_s
        for name in [n for n, task in self._tasks.items() if task.done()]:
            await self._stop([name])  # its poller found the lease lost
        self.live = await self.leases.join(ttl)
        held = self.held()
        renewed = await self.leases.renew(held, ttl)
        if held - renewed:
            log.warning("imap leases lost", extra={"mailboxes": sorted(held - renewed)})
            await self._stop(list(held - renewed))
        self._valid_until = started + ttl * self.options.safety
        cap = share(len(self.mailboxes), self.live)
        order = spread(self.leases.holder, self.mailboxes)
        mine = [name for name in order if name in renewed]
        if len(mine) > cap:
            extra = mine[cap:]
            log.info("imap mailboxes handed to other replicas", extra={"mailboxes": extra})
            await self._stop(extra)
            for name in extra:
                await self.leases.release(name)
            return
        taken = await self.leases.holders()
        for name in order:
            if len(self.held()) >= cap:
                break
            if name in self._tasks or taken.get(name, self.leases.holder) != self.leases.holder:
                continue
            if await self.leases.acquire(name, ttl):
                log.info("imap lease taken", extra={"mailbox_label": name})
                self._tasks[name] = asyncio.create_task(self.run(name), name=f"imap-{name}")
                self._held_gauge[name].set(1)

    async def _stop(self, names: Sequence[str]) -> None:
        tasks = [self._tasks.pop(name) for name in names if name in self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for name in names:
            self._held_gauge[name].set(0)
