"""`/api/v1/managers` (created, renamed, deactivated) and `/api/v1/tokens` (issued with an
optional expiry, listed, revoked). Writes commit here, at the edge."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Query, Response, status

from crm_store.core import (
    AccessRepository,
    Authorized,
    Manager,
    Role,
    SessionDep,
    SettingsDep,
    TokenState,
    audit_entry,
    feature_router,
    invalid,
    utcnow,
)
from crm_store.directory import normalised_phones
from crm_store.people.repository import PeopleRepository
from crm_store.people.schemas import (
    ManagerIn,
    ManagerOut,
    ManagerPatch,
    TokenIn,
    TokenInfo,
    TokenOut,
)
from switchboard_shared.email_address import parse_address
from switchboard_shared.problems import Problem

router = feature_router()


# -- managers --------------------------------------------------------------------------------


@router.post(
    "/managers", response_model=ManagerOut, status_code=status.HTTP_201_CREATED, tags=["managers"]
)
async def create_manager(
    body: ManagerIn, session: SessionDep, settings: SettingsDep, who: Authorized
) -> Manager:
    email = parse_address(body.email)
    if email is None or email.address is None:
        raise invalid("email", "not a valid e-mail address")
    extensions = list(dict.fromkeys(body.extensions))
    repo = PeopleRepository(session)
    taken = await repo.find_managers_by_extensions(extensions)
    if taken:
        used = sorted(set(extensions) & {e for m in taken for e in m.extensions})
        raise Problem(409, "Conflict", f"extensions in use: {', '.join(used)}")
    manager = Manager(
        id=str(uuid.uuid4()),
        name=body.name,
        email=email.address.lower(),
        role=body.role.value,
        extensions=extensions,
        phones=[p.value for p in normalised_phones(body.phones, settings.common.default_region)],
        active=True,
        created_at=utcnow(),
    )
    if not await repo.add_manager(manager):
        raise Problem(409, "Conflict", "a manager with this e-mail address exists")
    await repo.audit(
        [audit_entry(who, "created", "manager", manager.id, role=manager.role, email=manager.email)]
    )
    await session.commit()
    return manager


@router.get("/managers", response_model=list[ManagerOut], tags=["managers"])
async def list_managers(session: SessionDep, who: Authorized) -> list[Manager]:
    return await PeopleRepository(session).list_managers()


@router.patch("/managers/{manager_id}", response_model=ManagerOut, tags=["managers"])
async def update_manager(
    manager_id: str, body: ManagerPatch, session: SessionDep, who: Authorized
) -> Manager:
    """Rename, deactivate or reactivate. Deactivating revokes every token of the manager and
    ends their page sessions at once; reactivating revives none of them (issue new tokens)."""
    repo = PeopleRepository(session)
    manager = await repo.get_manager(manager_id)
    if manager is None:
        raise Problem(404, "Not found", f"no manager {manager_id}")
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    revoked: list[str] = []
    if changes.get("active") is False:
        access_repo = AccessRepository(session)
        revoked = await access_repo.revoke(await access_repo.token_ids_of(manager_id), utcnow())
    for name, value in changes.items():
        setattr(manager, name, value)
    await repo.audit(
        [audit_entry(who, "updated", "manager", manager_id, **changes, revoked=revoked)]
    )
    await session.commit()
    return manager


# -- tokens ----------------------------------------------------------------------------------


def _expiry(body: TokenIn, now: datetime) -> datetime | None:
    if body.expires_in_days is not None:
        return now + timedelta(days=body.expires_in_days)
    if body.expires_at is not None and body.expires_at <= now:
        raise invalid("expires_at", "must be in the future")
    return body.expires_at


@router.post(
    "/tokens", response_model=TokenOut, status_code=status.HTTP_201_CREATED, tags=["tokens"]
)
async def create_token(body: TokenIn, session: SessionDep, who: Authorized) -> TokenOut:
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
    await session.commit()
    return TokenOut(
        id=row.id,
        token=plaintext,
        manager_id=row.manager_id,
        role=role,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


@router.get("/tokens", response_model=list[TokenInfo], tags=["tokens"])
async def list_tokens(
    session: SessionDep,
    who: Authorized,
    manager_id: Annotated[str | None, Query(max_length=64)] = None,
    state: TokenState | None = None,
) -> list[TokenInfo]:
    """Every token (newest first) with its state and last use; never the secret."""
    now = utcnow()
    views = await AccessRepository(session).list_tokens(manager_id=manager_id)
    listed = [
        TokenInfo(
            id=v.token.id,
            manager_id=v.token.manager_id,
            manager_name=v.manager.name if v.manager is not None else None,
            role=Role(v.token.role),
            state=v.state(now),
            created_at=v.token.created_at,
            expires_at=v.token.expires_at,
            last_used_at=v.token.last_used_at,
            revoked_at=v.token.revoked_at,
        )
        for v in views
    ]
    return [t for t in listed if state is None or t.state == state]


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["tokens"])
async def revoke_token(token_id: str, session: SessionDep, who: Authorized) -> Response:
    """Revoke the token and end the page sessions opened with it; revoking twice is a no-op."""
    repo = AccessRepository(session)
    if await repo.get_token(token_id) is None:
        raise Problem(404, "Not found", f"no token {token_id}")
    if await repo.revoke([token_id], utcnow()):
        await PeopleRepository(session).audit([audit_entry(who, "revoked", "token", token_id)])
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
