"""Managers and tokens: the units of work behind `/api/v1/managers` and `/api/v1/tokens`. They
stage their changes and audit entries; the routes commit."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.core import (
    AccessRepository,
    ApiToken,
    Manager,
    Principal,
    Role,
    audit_entry,
    invalid,
    utcnow,
)
from crm_store.directory import normalised_phones
from crm_store.people.repository import PeopleRepository
from crm_store.people.schemas import ManagerIn, TokenIn
from switchboard_shared.email_address import parse_address
from switchboard_shared.problems import Problem


def _address(value: str, field: str) -> str:
    parsed = parse_address(value)
    if parsed is None or parsed.address is None:
        raise invalid(field, "not a valid e-mail address")
    return parsed.address.lower()


async def _free_extensions(
    repo: PeopleRepository, extensions: list[str], manager_id: str | None = None
) -> list[str]:
    extensions = list(dict.fromkeys(extensions))
    taken = [m for m in await repo.find_managers_by_extensions(extensions) if m.id != manager_id]
    if taken:
        used = sorted(set(extensions) & {e for m in taken for e in m.extensions})
        raise Problem(409, "Conflict", f"extensions in use: {', '.join(used)}", field="extensions")
    return extensions


async def _free_aliases(
    repo: PeopleRepository, aliases: list[str], manager_id: str | None
) -> list[str]:
    """More addresses of a manager: valid, and nobody else's (mail to one must reach one)."""
    wanted = list(dict.fromkeys(_address(a, "aliases") for a in aliases))
    others = {
        address
        for m in await repo.list_managers()
        if m.id != manager_id
        for address in (m.email, *m.aliases)
    }
    taken = [a for a in wanted if a in others]
    if taken:
        raise Problem(
            409, "Conflict", f"addresses of another manager: {', '.join(taken)}", field="aliases"
        )
    return wanted


async def add_manager(
    session: AsyncSession, body: ManagerIn, region: str, who: Principal
) -> Manager:
    address = _address(body.email, "email")
    repo = PeopleRepository(session)
    extensions = await _free_extensions(repo, body.extensions)
    manager = Manager(
        id=str(uuid.uuid4()),
        name=body.name,
        email=address,
        aliases=await _free_aliases(repo, body.aliases, None),
        role=body.role.value,
        extensions=extensions,
        phones=[p.value for p in normalised_phones(body.phones, region)],
        active=True,
        created_at=utcnow(),
    )
    if not await repo.add_manager(manager):
        raise Problem(409, "Conflict", "a manager with this e-mail address exists", field="email")
    await repo.audit(
        [audit_entry(who, "created", "manager", manager.id, role=manager.role, email=manager.email)]
    )
    return manager


async def change_manager(
    session: AsyncSession,
    manager_id: str,
    changes: dict[str, Any],
    who: Principal,
    region: str = "US",
) -> Manager:
    """Rename, change the addresses, extensions, numbers or role; deactivating revokes every
    token of the manager (and so their page sessions)."""
    repo = PeopleRepository(session)
    manager = await repo.get_manager(manager_id)
    if manager is None:
        raise Problem(404, "Not found", f"no manager {manager_id}")
    if "email" in changes:
        changes["email"] = _address(changes["email"], "email")
        other = await repo.find_manager_by_email(changes["email"])
        if other is not None and other.id != manager_id:
            raise Problem(
                409, "Conflict", "a manager with this e-mail address exists", field="email"
            )
    if "aliases" in changes:
        changes["aliases"] = await _free_aliases(repo, changes["aliases"], manager_id)
    if "extensions" in changes:
        changes["extensions"] = await _free_extensions(repo, changes["extensions"], manager_id)
    if "phones" in changes:
        changes["phones"] = [p.value for p in normalised_phones(changes["phones"], region)]
    if "role" in changes:
        changes["role"] = Role(changes["role"]).value
    before = {name: getattr(manager, name) for name in changes}
    revoked: list[str] = []
    access_repo = AccessRepository(session)
    if changes.get("active") is False:
        revoked = await access_repo.revoke(await access_repo.token_ids_of(manager_id), utcnow())
    elif "role" in changes and changes["role"] != manager.role:
        # A token carries the role it was issued with: none of them outlives a change of role.
        revoked = await access_repo.revoke(await access_repo.token_ids_of(manager_id), utcnow())
    for name, value in changes.items():
        setattr(manager, name, value)
    await repo.audit(
        [
            audit_entry(
                who, "updated", "manager", manager_id, **changes, before=before, revoked=revoked
            )
        ]
    )
    return manager


def _expiry(body: TokenIn, now: datetime) -> datetime | None:
    if body.expires_in_days is not None:
        return now + timedelta(days=body.expires_in_days)
    if body.expires_at is not None and body.expires_at <= now:
        raise invalid("expires_at", "must be in the future")
    return body.expires_at


async def issue_token(
    session: AsyncSession, body: TokenIn, who: Principal
) -> tuple[ApiToken, str, Role]:
    """A new token (its row, the secret shown once, its role)."""
    manager = None
    if body.manager_id is not None:
        manager = await PeopleRepository(session).get_manager(body.manager_id)
        if manager is None:
            raise invalid("manager_id", "no such manager")
        if not manager.active:
            raise Problem(409, "Conflict", "the manager is deactivated; reactivate them first")
    role = body.role or (Role(manager.role) if manager is not None else None)
    if role is None:
        raise invalid("role", "required when the token belongs to no manager")
    if role is Role.MANAGER and manager is None:
        raise invalid("manager_id", "a manager token needs its manager")
    now = utcnow()
    expires_at = _expiry(body, now)
    row, plaintext = await AccessRepository(session).create_token(
        role=role.value, manager_id=body.manager_id, now=now, expires_at=expires_at
    )
    audit = {"role": role.value, "manager_id": body.manager_id}
    if expires_at is not None:
        audit["expires_at"] = expires_at.isoformat()
    await PeopleRepository(session).audit([audit_entry(who, "created", "token", row.id, **audit)])
    return row, plaintext, role


async def revoke(session: AsyncSession, token_id: str, who: Principal) -> None:
    """Revoke the token and end its page sessions; revoking twice is a no-op."""
    repo = AccessRepository(session)
    if await repo.get_token(token_id) is None:
        raise Problem(404, "Not found", f"no token {token_id}")
    if await repo.revoke([token_id], utcnow()):
        await PeopleRepository(session).audit([audit_entry(who, "revoked", "token", token_id)])
