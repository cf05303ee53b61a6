"""Request-edge dependencies: the session, the settings, and who is calling (bearer tokens)."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_store.config import Settings
from crm_store.domain import Principal, Role
from crm_store.repository import Repository
from switchboard_shared.problems import Problem

__all__ = [
    "CurrentPrincipal",
    "Principal",
    "SessionDep",
    "SettingsDep",
    "authenticate",
    "get_session",
    "get_settings",
    "require",
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


def require(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting only the given roles (403 for the others)."""
    allowed = frozenset(roles)

    async def dependency(who: CurrentPrincipal) -> Principal:
        if who.role not in allowed:
            raise Problem(403, "Forbidden", f"role {who.role.value} may not do this")
        return who

    return dependency
