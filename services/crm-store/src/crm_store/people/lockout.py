"""Lock-out after repeated failed sign-ins, per account and per client address.

Failures are counted per key within a window (`Limits.window`): the account's key is a hash of
the e-mail address as typed (folded), so an address nobody has counts and locks exactly as a
real one does and the answer never tells whether an account exists; the address key is the
client's IP address. At the limit the key is locked for `Limits.lock`; while locked, no password
is checked at all. A successful sign-in clears its account's count, never its address's (an
attacker with an account of their own must not reset the counter they are guessing under).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.core import SignInFailures

MAX_ADDRESS_CHARS = 64
STALE = timedelta(days=1)


@dataclass(frozen=True)
class Limits:
    account_failures: int = 5
    address_failures: int = 50
    window: timedelta = timedelta(minutes=15)
    lock: timedelta = timedelta(minutes=15)


def account_key(email: str) -> str:
    folded = email.strip().lower()[:320]
    return "account:" + hashlib.sha256(folded.encode()).hexdigest()[:64]


def address_key(address: str | None) -> str:
    return "address:" + (address or "unknown")[:MAX_ADDRESS_CHARS]


async def locked_until(session: AsyncSession, keys: list[str], now: datetime) -> datetime | None:
    """The latest time until which any of `keys` is locked; None when none is."""
    statement = select(SignInFailures.locked_until).where(
        SignInFailures.key.in_(keys), SignInFailures.locked_until > now
    )
    times = [t for t in (await session.execute(statement)).scalars() if t is not None]
    return max(times) if times else None


async def _count(
    session: AsyncSession, key: str, limit: int, limits: Limits, now: datetime
) -> datetime | None:
    row = await session.get(SignInFailures, key, with_for_update=True)
    if row is None:
        row = SignInFailures(key=key, failures=0, window_start=now, locked_until=None)
        try:
            async with session.begin_nested():
                session.add(row)
        except IntegrityError:  # a concurrent failure made it first
            row = await session.get(
                SignInFailures, key, with_for_update=True, populate_existing=True
            )
            if row is None:
                return None
    if row.window_start + limits.window <= now:
        row.failures, row.window_start = 0, now
    row.failures += 1
    if row.failures >= limit:
        row.locked_until = now + limits.lock
        row.failures, row.window_start = 0, now
    return row.locked_until if row.locked_until and row.locked_until > now else None


async def record_failure(
    session: AsyncSession, email: str, address: str | None, limits: Limits, now: datetime
) -> datetime | None:
    """Count a failed sign-in; returns until when it locks the account or address, if it does.
    Counters idle for a day are dropped on the way, so guessing at many addresses leaves no
    lasting rows."""
    await session.execute(
        delete(SignInFailures).where(
            SignInFailures.window_start < now - STALE,
            or_(SignInFailures.locked_until.is_(None), SignInFailures.locked_until < now),
        )
    )
    locks = [
        await _count(session, account_key(email), limits.account_failures, limits, now),
        await _count(session, address_key(address), limits.address_failures, limits, now),
    ]
    found = [t for t in locks if t is not None]
    return max(found) if found else None


async def clear_account(session: AsyncSession, email: str) -> None:
    await session.execute(delete(SignInFailures).where(SignInFailures.key == account_key(email)))


async def unlock(session: AsyncSession, email: str) -> None:
    """An administrator's reset lifts the account's lock (the address's stays)."""
    await clear_account(session, email)
