"""`/api/v1/managers` (created, renamed, deactivated) and `/api/v1/tokens` (issued with an
optional expiry, listed, revoked). Writes commit here, at the edge."""

from __future__ import annotations

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
    feature_router,
    utcnow,
)
from crm_store.people import service
from crm_store.people.handover import HandOver, hand_over
from crm_store.people.repository import PeopleRepository
from crm_store.people.schemas import (
    HandOverIn,
    HandOverOut,
    ManagerIn,
    ManagerOut,
    ManagerPatch,
    TokenIn,
    TokenInfo,
    TokenOut,
)

router = feature_router()


# -- managers --------------------------------------------------------------------------------


@router.post(
    "/managers", response_model=ManagerOut, status_code=status.HTTP_201_CREATED, tags=["managers"]
)
async def create_manager(
    body: ManagerIn, session: SessionDep, settings: SettingsDep, who: Authorized
) -> Manager:
    region = settings.common.default_region
    manager = await service.add_manager(session, body, region, who)
    await session.commit()
    return manager


@router.get("/managers", response_model=list[ManagerOut], tags=["managers"])
async def list_managers(session: SessionDep, who: Authorized) -> list[Manager]:
    return await PeopleRepository(session).list_managers()


@router.patch("/managers/{manager_id}", response_model=ManagerOut, tags=["managers"])
async def update_manager(
    manager_id: str, body: ManagerPatch, session: SessionDep, settings: SettingsDep, who: Authorized
) -> Manager:
    """Rename, change addresses, extensions, numbers or role, deactivate or reactivate.
    Deactivating revokes every token of the manager and ends their page sessions at once;
    reactivating revives none of them (issue new tokens)."""
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    region = settings.common.default_region
    manager = await service.change_manager(session, manager_id, changes, who, region)
    await session.commit()
    return manager


@router.post("/managers/{manager_id}/hand-over", response_model=HandOverOut, tags=["managers"])
async def hand_over_manager(
    manager_id: str, body: HandOverIn, session: SessionDep, who: Authorized
) -> HandOver:
    """A manager leaves: deactivated (tokens revoked, page sessions ended) and their contacts,
    companies, open activities and plan targets not yet ended go to the colleague, in one
    transaction, audited; each activity is announced (`change: reassigned`). Their history
    stays: interactions keep the manager who handled them then."""
    result = await hand_over(session, manager_id, body.successor_id, who)
    await session.commit()
    return result


# -- tokens ----------------------------------------------------------------------------------


@router.post(
    "/tokens", response_model=TokenOut, status_code=status.HTTP_201_CREATED, tags=["tokens"]
)
async def create_token(body: TokenIn, session: SessionDep, who: Authorized) -> TokenOut:
    row, plaintext, role = await service.issue_token(session, body, who)
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
    await service.revoke(session, token_id, who)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
