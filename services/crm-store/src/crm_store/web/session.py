"""Signing in with a personal token, and who is using the page.

The token (a crm-store API token, or the bootstrap admin token) is kept in an HTTP-only,
SameSite=Strict cookie; over HTTPS it is also Secure and `__Host-` prefixed. Plain HTTP is
accepted only on a loopback address (development); anywhere else the page refuses to sign in.
The token is checked on every request, so revoking it ends the session at once.

Every POST must come from this origin (`Origin`, `Sec-Fetch-Site`) and carry the session's
CSRF token (a form field `csrf` or the `X-CSRF-Token` header): an HMAC of a fixed label keyed
with the session token, so it needs no server state and changes with each token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store import auth
from crm_store.auth import SessionDep, SettingsDep
from crm_store.config import Settings
from crm_store.domain import Principal, Role
from crm_store.repository import Repository
from crm_store.web.forms import FormDep
from switchboard_shared.problems import Problem

SESSION_COOKIE = "sb_session"
LOGIN_COOKIE = "sb_login"
SECURE_PREFIX = "__Host-"
SESSION_MAX_AGE_S = 12 * 3600
LOGIN_MAX_AGE_S = 3600
MAX_TOKEN_CHARS = 512
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
_CSRF_LABEL = b"switchboard-page-csrf-v1"

ROLE_NAMES = {
    Role.ADMIN: "Administrator",
    Role.SUPERVISOR: "Supervisor",
    Role.MANAGER: "Manager",
    Role.OPERATOR: "Operator",
    Role.VIEWER: "Viewer",
}


class SignInRequired(Exception):
    """No session, or its token is unknown, revoked or its manager deactivated."""


class Refused(Exception):
    """A POST from another site, or without the session's CSRF token."""


@dataclass(frozen=True)
class User:
    principal: Principal
    name: str
    csrf: str

    @property
    def role(self) -> Role:
        return self.principal.role

    @property
    def role_name(self) -> str:
        return ROLE_NAMES[self.role]


def over_https(request: Request) -> bool:
    return request.url.scheme == "https"


def may_sign_in_here(request: Request) -> bool:
    """HTTPS, or plain HTTP on a loopback address (development)."""
    host = (request.url.hostname or "").strip("[]").lower()
    return over_https(request) or host in LOOPBACK_HOSTS


def cookie_name(request: Request, base: str) -> str:
    return SECURE_PREFIX + base if over_https(request) else base


def set_cookie(response: Response, request: Request, base: str, value: str, max_age: int) -> None:
    response.set_cookie(
        cookie_name(request, base),
        value,
        max_age=max_age,
        path="/",
        secure=over_https(request),
        httponly=True,
        samesite="strict",
    )


def clear_cookie(response: Response, request: Request, base: str) -> None:
    response.delete_cookie(
        cookie_name(request, base),
        path="/",
        secure=over_https(request),
        httponly=True,
        samesite="strict",
    )


def csrf_for(token: str) -> str:
    return hmac.new(token.encode(), _CSRF_LABEL, hashlib.sha256).hexdigest()


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


def same_text(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest((a or "").encode(), (b or "").encode())


def same_origin(request: Request) -> bool:
    """False for a request a browser says came from another site or origin."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser, or an old one; the CSRF token still has to match
    return origin == f"{request.url.scheme}://{request.url.netloc}"


def session_token(request: Request) -> str | None:
    token = request.cookies.get(cookie_name(request, SESSION_COOKIE), "").strip()
    return token if 0 < len(token) <= MAX_TOKEN_CHARS else None


async def principal_for(token: str, session: AsyncSession, settings: Settings) -> Principal:
    """The API's own check of a token (raises its 401 `Problem`)."""
    credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)
    return await auth.authenticate(session, settings, credentials)


async def display_name(session: AsyncSession, who: Principal) -> str:
    if who.manager_id is not None:
        manager = await Repository(session).get_manager(who.manager_id)
        if manager is not None:
            return manager.name
    return ROLE_NAMES[who.role]


async def current_user(request: Request, session: SessionDep, settings: SettingsDep) -> User:
    token = session_token(request)
    if token is None:
        raise SignInRequired()
    try:
        who = await principal_for(token, session, settings)
    except Problem as exc:
        raise SignInRequired() from exc
    return User(who, await display_name(session, who), csrf_for(token))


CurrentUser = Annotated[User, Depends(current_user)]


def check_post(request: Request, form: dict[str, str], expected_csrf: str) -> None:
    if not same_origin(request):
        raise Refused("this request came from another site")
    sent = request.headers.get("x-csrf-token") or form.get("csrf")
    if not same_text(sent, expected_csrf):
        raise Refused("the form is out of date; reload the page and try again")


async def posting_user(request: Request, user: CurrentUser, form: FormDep) -> User:
    """The signed-in user of a POST that passed the origin and CSRF checks."""
    check_post(request, form, user.csrf)
    return user


PostingUser = Annotated[User, Depends(posting_user)]
