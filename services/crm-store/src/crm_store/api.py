"""`/api/v1`: activities, presets, managers (created, renamed, deactivated) and tokens (issued
with an optional expiry, listed, revoked); the contacts and reports routers are included from
`api_directory` and `api_reports`. Writes commit here, at the edge. Who may call what is
`policy.ROUTES`, enforced by `auth.GuardedRoute` before a route's body is read."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Query, Response, status

from crm_store import api_directory, api_reports, domain, service
from crm_store.access import AccessRepository, TokenState
from crm_store.auth import Authorized, SessionDep, SettingsDep
from crm_store.domain import Principal, Role
from crm_store.metrics import ACTIVITY_CHANGES
from crm_store.models import Activity, Manager, Preset, utcnow
from crm_store.repository import MAX_PAGE, ActivityFilter, InvalidCursorError, Repository
from crm_store.router import router
from crm_store.schemas import (
    ActivityOut,
    ActivityPage,
    ManagerIn,
    ManagerOut,
    ManagerPatch,
    PresetIn,
    PresetOut,
    PresetPatch,
    StatusIn,
    TokenIn,
    TokenInfo,
    TokenOut,
)
from crm_store.validation import invalid, normalised_phones
from switchboard_shared.email_address import parse_address
from switchboard_shared.events import ActivityKind, ActivityState
from switchboard_shared.problems import Problem

# -- activities ------------------------------------------------------------------------------


def _activity_filter(
    who: Principal,
    state: ActivityState | None,
    kind: ActivityKind | None,
    assignee: str | None,
    contact_id: str | None = None,
) -> ActivityFilter:
    visible_to = None if who.role in domain.SEES_ALL_ACTIVITIES else (who.manager_id or "")
    assignee_id: str | None = None
    unassigned = assignee == "unassigned"
    if assignee == "me":
        if who.manager_id is None:
            raise invalid("assignee", "this token belongs to no manager")
        assignee_id = who.manager_id
    elif assignee and not unassigned:
        if visible_to is not None and assignee != visible_to:
            raise Problem(403, "Forbidden", "managers see their own and unassigned activities")
        assignee_id = assignee
    return ActivityFilter(
        state=state.value if state else None,
        kind=kind.value if kind else None,
        assignee_id=assignee_id,
        unassigned=unassigned,
        visible_to_manager=visible_to,
        contact_id=contact_id,
    )


@router.get("/activities", response_model=ActivityPage, tags=["activities"])
async def list_activities(
    session: SessionDep,
    who: Authorized,
    state: ActivityState | None = None,
    kind: ActivityKind | None = None,
    assignee: Annotated[
        str | None, Query(description="`me`, `unassigned` or a manager id", max_length=64)
    ] = None,
    contact_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> ActivityPage:
    where = _activity_filter(who, state, kind, assignee, contact_id)
    try:
        page = await Repository(session).list_activities(where, limit=limit, cursor=cursor)
    except InvalidCursorError as exc:
        raise invalid("cursor", str(exc)) from exc
    items = [ActivityOut.model_validate(a) for a in page.items]
    return ActivityPage(items=items, next_cursor=page.next_cursor)


@router.get("/activities/{activity_id}", response_model=ActivityOut, tags=["activities"])
async def get_activity(activity_id: str, session: SessionDep, who: Authorized) -> Activity:
    activity = await Repository(session).get_activity(activity_id)
    if activity is None or not domain.can_see_activity(who, activity.assignee_id):
        raise Problem(404, "Not found", f"no activity {activity_id}")
    return activity


@router.post("/activities/{activity_id}/status", response_model=ActivityOut, tags=["activities"])
async def set_activity_status(
    activity_id: str, body: StatusIn, session: SessionDep, who: Authorized
) -> Activity:
    activity = await service.set_status(session, activity_id, body.preset, body.note, who)
    await session.commit()
    change = "status_set" if activity.state == ActivityState.OPEN else "closed"
    ACTIVITY_CHANGES.labels(activity.kind, change, "manager").inc()
    return activity


# -- presets ---------------------------------------------------------------------------------


@router.get("/presets", response_model=list[PresetOut], tags=["presets"])
async def list_presets(
    session: SessionDep, who: Authorized, include_inactive: bool = False
) -> list[Preset]:
    return await Repository(session).list_presets(include_inactive=include_inactive)


@router.post(
    "/presets", response_model=PresetOut, status_code=status.HTTP_201_CREATED, tags=["presets"]
)
async def create_preset(body: PresetIn, session: SessionDep, who: Authorized) -> Preset:
    preset = Preset(**body.model_dump(mode="json"))
    repo = Repository(session)
    if not await repo.add_preset(preset):
        raise Problem(409, "Conflict", f"preset {body.code!r} exists")
    await repo.audit(
        [service.audit_entry(who, "created", "preset", preset.code, **body.model_dump(mode="json"))]
    )
    await session.commit()
    return preset


@router.patch("/presets/{code}", response_model=PresetOut, tags=["presets"])
async def update_preset(
    code: str, body: PresetPatch, session: SessionDep, who: Authorized
) -> Preset:
    repo = Repository(session)
    preset = await repo.get_preset(code)
    if preset is None:
        raise Problem(404, "Not found", f"no preset {code!r}")
    changes: dict[str, Any] = body.model_dump(mode="json", exclude_unset=True)
    await repo.update_preset(preset, **changes)
    await repo.audit([service.audit_entry(who, "updated", "preset", code, **changes)])
    await session.commit()
    return preset


# -- managers and tokens ---------------------------------------------------------------------


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
    repo = Repository(session)
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
        [
            service.audit_entry(
                who, "created", "manager", manager.id, role=manager.role, email=manager.email
            )
        ]
    )
    await session.commit()
    return manager


@router.get("/managers", response_model=list[ManagerOut], tags=["managers"])
async def list_managers(session: SessionDep, who: Authorized) -> list[Manager]:
    return await Repository(session).list_managers()


@router.patch("/managers/{manager_id}", response_model=ManagerOut, tags=["managers"])
async def update_manager(
    manager_id: str, body: ManagerPatch, session: SessionDep, who: Authorized
) -> Manager:
    """Rename, deactivate or reactivate. Deactivating revokes every token of the manager and
    ends their page sessions at once; reactivating revives none of them (issue new tokens)."""
    repo = Repository(session)
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
        [service.audit_entry(who, "updated", "manager", manager_id, **changes, revoked=revoked)]
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
        manager = await Repository(session).get_manager(body.manager_id)
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
    await Repository(session).audit([service.audit_entry(who, "created", "token", row.id, **audit)])
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
        await Repository(session).audit([service.audit_entry(who, "revoked", "token", token_id)])
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# The contacts and reports routes register on the same router when their modules load.
__all__ = ["api_directory", "api_reports", "router"]
