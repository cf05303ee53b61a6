"""Request-edge dependencies: the session, the settings, and who is calling (bearer tokens)."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_store import policy
from crm_store.config import Settings
from crm_store.domain import Principal, Role
from crm_store.repository import Repository
from switchboard_shared.problems import Problem

__all__ = [
    "Authorized",
    "CurrentPrincipal",
    "Principal",
    "SessionDep",
    "SettingsDep",
    "authenticate",
    "authorize",
    "get_session",
    "get_settings",
]

_bearer = HTTPBearer(auto_error=False, description="A crm-store API token")


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request; endpoints that write commit it themselves."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        yield session


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[AsyncSession, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


async def authenticate(
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials.strip():
        raise _unauthorized("a bearer token is required")
    token = credentials.credentials.strip()
    bootstrap = settings.bootstrap_admin_token
    if bootstrap and hmac.compare_digest(token.encode(), bootstrap.encode()):
        return Principal(Role.ADMIN)
    found = await Repository(session).find_token(token)
    if found is None:
        raise _unauthorized("unknown or revoked token")
    row, manager = found
    if manager is not None and not manager.active:
        raise _unauthorized("the token's manager is deactivated")
    return Principal(Role(row.role), row.manager_id, row.id)


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


async def authorize(request: Request, who: CurrentPrincipal) -> Principal:
    """Admit the caller when the role matrix (`policy.ROUTES`) lets its role use this route."""
    route = request.scope.get("route")
    template = getattr(route, "path", "")
    if not policy.allowed(request.method, template, who.role):
        raise Problem(403, "Forbidden", f"role {who.role.value} may not do this")
    return who


Authorized = Annotated[Principal, Depends(authorize)]
