"""Page passwords and the links that set them.

A password is kept as an argon2id hash (`argon2-cffi`, its default parameters: RFC 9106's
low-memory profile), never in the clear; hashing runs in a worker thread so a sign-in does not
stall the event loop. An administrator never sees or types a manager's password: they hand out
a single-use link (an invitation, or a reset) with which the manager sets it. Only the link
secret's SHA-256 is stored; a new link of the same manager replaces any unused one; a reset
also clears the old password and ends every page session of the manager.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.core import (
    AccessRepository,
    Manager,
    Principal,
    Role,
    SignInLink,
    audit_entry,
    sha256,
)
from crm_store.people import lockout
from crm_store.people.repository import PeopleRepository
from switchboard_shared.email_address import parse_address
from switchboard_shared.problems import Problem

Purpose = Literal["invitation", "reset"]
LINK_PREFIX = "sbl_"
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 256  # bounds the work a hash costs; passphrases fit
MAX_LINK_CHARS = 128

_hasher = PasswordHasher()


@cache
def _decoy_hash() -> str:
    """What an unknown address's password is checked against, so it costs the same time."""
    return _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _decoy_hash(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """True when `password` matches `stored`; with no stored hash it checks a decoy (same
    work, always False)."""
    return await asyncio.to_thread(_verify, stored, password[:MAX_PASSWORD_CHARS])


def password_problem(password: str, again: str, email: str) -> tuple[str, str] | None:
    """(the field, what is wrong) for a password that may not be set, None if it may."""
    if len(password) < MIN_PASSWORD_CHARS:
        return "password", f"Use at least {MIN_PASSWORD_CHARS} characters."
    if len(password) > MAX_PASSWORD_CHARS:
        return "password", f"Use at most {MAX_PASSWORD_CHARS} characters."
    if password.strip().lower() in {email.lower(), email.partition("@")[0].lower()}:
        return "password", "Do not use your e-mail address as your password."
    if password != again:
        return "password_again", "The two passwords differ."
    return None


@dataclass(frozen=True)
class IssuedLink:
    link: SignInLink
    secret: str
    """Shown once, in the link; only its SHA-256 is stored."""


async def issue_link(
    session: AsyncSession,
    manager_id: str,
    purpose: Purpose,
    lifetime: timedelta,
    who: Principal | None,
    now: datetime,
) -> IssuedLink:
    """A new invitation or reset link for an active manager; an unused older link stops
    working. A reset also clears the password and ends every page session of the manager."""
    manager = await PeopleRepository(session).get_manager(manager_id)
    if manager is None:
        raise Problem(404, "Not found", f"no manager {manager_id}")
    if not manager.active:
        raise Problem(409, "Conflict", "the manager is deactivated; reactivate them first")
    if purpose == "invitation" and manager.password_hash is not None:
        raise Problem(409, "Conflict", "the manager has a password already; reset it instead")
    await _retire_links(session, manager_id, now)
    secret = LINK_PREFIX + secrets.token_urlsafe(32)
    link = SignInLink(
        id=str(uuid.uuid4()),
        manager_id=manager_id,
        purpose=purpose,
        secret_sha256=sha256(secret),
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(link)
    ended = 0
    if purpose == "reset":
        manager.password_hash = None
        manager.password_set_at = None
        ended = await AccessRepository(session).end_sessions_of(manager_id)
        await lockout.unlock(session, manager.email)
    action = "invited" if purpose == "invitation" else "password_reset"
    await PeopleRepository(session).audit(
        [
            audit_entry(
                who,
                action,
                "manager",
                manager_id,
                link_id=link.id,
                expires_at=link.expires_at.isoformat(),
                sessions_ended=ended,
            )
        ]
    )
    await session.flush()
    return IssuedLink(link, secret)


async def _retire_links(session: AsyncSession, manager_id: str, now: datetime) -> None:
    await session.execute(
        update(SignInLink)
        .where(SignInLink.manager_id == manager_id, SignInLink.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )


async def find_link(
    session: AsyncSession, secret: str, now: datetime
) -> tuple[SignInLink, Manager] | None:
    """The unused, unexpired link with this secret and its active manager; None otherwise."""
    if not secret or len(secret) > MAX_LINK_CHARS:
        return None
    statement = (
        select(SignInLink, Manager)
        .join(Manager, Manager.id == SignInLink.manager_id)
        .where(
            SignInLink.secret_sha256 == sha256(secret),
            SignInLink.used_at.is_(None),
            SignInLink.expires_at > now,
            Manager.active.is_(True),
        )
    )
    row = (await session.execute(statement)).first()
    return None if row is None else (row[0], row[1])


async def set_password(
    session: AsyncSession, secret: str, password: str, now: datetime
) -> Manager | None:
    """Use the link: the manager's new password; None when the link is not (or no longer)
    valid. The link works once (a concurrent second use finds it used); every page session
    of the manager ends."""
    found = await find_link(session, secret, now)
    if found is None:
        return None
    link, manager = found
    used = await session.execute(
        update(SignInLink)
        .where(SignInLink.id == link.id, SignInLink.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(used, "rowcount", 0):
        return None
    manager.password_hash = await asyncio.to_thread(hash_password, password)
    manager.password_set_at = now
    await AccessRepository(session).end_sessions_of(manager.id)
    who = Principal(Role(manager.role), manager.id)
    await PeopleRepository(session).audit(
        [audit_entry(who, "password_set", "manager", manager.id, link_id=link.id)]
    )
    return manager


def link_url(base_url: str, secret: str) -> str:
    """The page's address where the link's holder sets their password."""
    return f"{base_url.rstrip('/')}/set-password?key={secret}"


def lifetime(purpose: Purpose, *, invitation_h: float, reset_h: float) -> timedelta:
    """How long a new link works (`CRM_STORE_INVITATION_H`, `CRM_STORE_RESET_LINK_H`)."""
    return timedelta(hours=invitation_h if purpose == "invitation" else reset_h)


async def pending_link(session: AsyncSession, manager_id: str, now: datetime) -> SignInLink | None:
    """The manager's unused, unexpired link, if any (its secret is not kept: only its dates)."""
    statement = (
        select(SignInLink)
        .where(
            SignInLink.manager_id == manager_id,
            SignInLink.used_at.is_(None),
            SignInLink.expires_at > now,
        )
        .order_by(SignInLink.created_at.desc())
        .limit(1)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def bootstrap_admin(
    session: AsyncSession, email: str, lifetime: timedelta, now: datetime
) -> tuple[Manager, IssuedLink | None]:
    """The administrator named by `CRM_STORE_BOOTSTRAP_ADMIN_EMAIL`, created if missing; while
    they have no password, a fresh invitation link (an older one stops working)."""
    parsed = parse_address(email)
    if parsed is None or parsed.address is None:
        raise ValueError("CRM_STORE_BOOTSTRAP_ADMIN_EMAIL is not an e-mail address")
    address = parsed.address.lower()
    repo = PeopleRepository(session)
    manager = await repo.find_manager_by_email(address)
    if manager is None:
        manager = Manager(
            id=str(uuid.uuid4()),
            name=address.partition("@")[0].capitalize() or "Administrator",
            email=address,
            role=Role.ADMIN.value,
            extensions=[],
            phones=[],
            active=True,
            created_at=now,
        )
        if not await repo.add_manager(manager):  # another instance made it meanwhile
            found = await repo.find_manager_by_email(address)
            if found is None:
                raise RuntimeError("the bootstrap administrator vanished")
            manager = found
        else:
            await repo.audit(
                [audit_entry(None, "created", "manager", manager.id, role="admin", email=address)]
            )
    if manager.password_hash is not None or not manager.active:
        return manager, None
    return manager, await issue_link(session, manager.id, "invitation", lifetime, None, now)
