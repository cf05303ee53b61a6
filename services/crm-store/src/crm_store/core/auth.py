"""Request-edge dependencies (the session, the settings) and the API's guard.

Every `/api/v1` route is a `GuardedRoute`: before FastAPI reads or parses the body, it reads the
bearer token, checks it (`identify`: the bootstrap admin token, or a live token of an active
manager) and checks the role matrix (`policy.ROUTES`). A stranger gets 401 and a role that may
not use the route 403 without a byte of the body being read. The endpoint then finds who called
in `Authorized`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_store.config import Settings
from crm_store.core import access, policy
from crm_store.core.models import utcnow
from crm_store.core.roles import Principal, Role
from switchboard_shared.problems import Problem

__all__ = [
    "Authorized",
    "CurrentPrincipal",
    "GuardedRoute",
    "Principal",
    "SessionDep",
    "SettingsDep",
    "get_session",
    "get_settings",
    "identify",
]

log = logging.getLogger(__name__)

MAX_TOKEN_CHARS = 512
_bearer = HTTPBearer(auto_error=False, description="A crm-store API token")
Sessions = async_sessionmaker[AsyncSession]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request; endpoints that write commit it themselves."""
    sessionmaker: Sessions = request.app.state.sessionmaker
    async with sessionmaker() as session:
        yield session


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[AsyncSession, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


async def identify(sessions: Sessions, settings: Settings, token: str) -> Principal:
    """Who holds `token` (raises the 401 `Problem`); records the token's use (once a minute)."""
    if access.is_bootstrap(token, settings.bootstrap_admin_token):
        return Principal(Role.ADMIN)
    now = utcnow()
    async with sessions() as session:
        repo = access.AccessRepository(session)
        found = await repo.find_token(token)
        try:
            who = access.check(found, now)
        except access.Denied as exc:
            raise unauthorized(str(exc)) from exc
        if found is not None:
            await record_use(session, found, now)
    return who


async def record_use(session: AsyncSession, found: access.TokenView, now: datetime) -> None:
    """Best effort: a busy database delays the next record, it never refuses the caller."""
    try:
        if await access.AccessRepository(session).touch(found.token, now):
            await session.commit()
    except SQLAlchemyError:
        await session.rollback()
        log.warning("could not record a token's use", exc_info=True)


def bearer_token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthorized("a bearer token is required")
    if len(token) > MAX_TOKEN_CHARS:
        raise unauthorized("unknown or revoked token")
    return token


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class GuardedRoute(APIRoute):
    """An API route that authenticates and authorises before its body is read."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        template = self.path

        async def guarded(request: Request) -> Response:
            token = bearer_token(request)
            who = await identify(request.app.state.sessionmaker, request.app.state.settings, token)
            if not policy.allowed(request.method, template, who.role):
                raise Problem(403, "Forbidden", f"role {who.role.value} may not do this")
            request.state.principal = who
            return await handler(request)

        return guarded


async def current_principal(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller `GuardedRoute` admitted (the bearer scheme is declared for the docs)."""
    who: Principal | None = getattr(request.state, "principal", None)
    if who is None:
        raise unauthorized("a bearer token is required")
    return who


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
Authorized = CurrentPrincipal
