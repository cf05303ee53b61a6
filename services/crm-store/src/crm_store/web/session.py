"""Signing in (an e-mail address and password, single sign-on, or a personal token), and who is
using the page.

Signing in opens a server-side session (`access`): the cookie holds only the session's random
secret, never a password or token, and every sign-in gets a new one (an old session cookie the
browser brings is ended first, so a planted session id is never promoted). The cookie is
HTTP-only and SameSite=Strict; over HTTPS it is also Secure and `__Host-` prefixed. Plain HTTP
is accepted only on a loopback address (development); anywhere else the page refuses to sign
in. The session is checked on every request: with its token (revoked, expired or its manager
deactivated ends it) or with its manager (deactivated, or a password reset, ends it); signing
out deletes it.

Every POST must come from this origin (`Origin`, `Sec-Fetch-Site`) and carry the session's
CSRF token (a form field `csrf` or the `X-CSRF-Token` header): an HMAC of a fixed label keyed
with the session secret, so it needs no more state and changes with each session. A POST
without a live session is answered before its form is read.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.config import Settings
from crm_store.core import (
    AccessRepository,
    Denied,
    Manager,
    Principal,
    Role,
    SessionDep,
    SettingsDep,
    check_token,
    identify,
    record_use,
    sha256,
    utcnow,
)
from crm_store.people import PeopleRepository
from crm_store.web.forms import FormDep
from crm_store.web.i18n import N_, _

SESSION_COOKIE = "sb_session"
LOGIN_COOKIE = "sb_login"
SECURE_PREFIX = "__Host-"
LOGIN_MAX_AGE_S = 3600
MAX_TOKEN_CHARS = 512
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
_CSRF_LABEL = b"switchboard-page-csrf-v1"

ROLE_NAMES = {
    Role.ADMIN: N_("Administrator"),
    Role.SUPERVISOR: N_("Supervisor"),
    Role.MANAGER: N_("Manager"),
    Role.OPERATOR: N_("Operator"),
    Role.VIEWER: N_("Viewer"),
}


class SignInRequired(Exception):
    """No session, or it expired, or its token is revoked, expired or its manager deactivated."""


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
        return _(ROLE_NAMES[self.role])


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


def csrf_for(session_secret: str) -> str:
    return hmac.new(session_secret.encode(), _CSRF_LABEL, hashlib.sha256).hexdigest()


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


MAX_NEXT_CHARS = 512


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path on this site, never another site (`//evil`,
    `/\\evil`, `https://evil`, control characters); anything else is the inbox."""
    if not value or len(value) > MAX_NEXT_CHARS or not value.startswith("/"):
        return "/"
    if value.startswith(("//", "/\\")) or any(
        ord(c) < 0x21 or ord(c) == 0x7F or c == "\\" for c in value
    ):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith(("/login", "/logout")):
        return "/"
    return value


def session_secret(request: Request) -> str | None:
    secret = request.cookies.get(cookie_name(request, SESSION_COOKIE), "").strip()
    return secret if 0 < len(secret) <= MAX_TOKEN_CHARS else None


async def sign_in(request: Request, settings: Settings, token: str) -> tuple[Principal, str]:
    """Check the token as the API does (raises its 401 `Problem`) and open a session; returns
    who signed in and the session secret for the cookie."""
    sessions = request.app.state.sessionmaker
    who = await identify(sessions, settings, token)
    now = utcnow()
    bootstrap = sha256(token) if who.token_id is None else None
    async with sessions() as session:
        secret = await AccessRepository(session).open_session(
            token_id=who.token_id,
            bootstrap_sha256=bootstrap,
            now=now,
            expires_at=now + timedelta(hours=settings.page_session_h),
        )
        await session.commit()
    return who, secret


async def open_manager_session(
    request: Request, settings: Settings, manager: Manager, method: str
) -> str:
    """A new session for a manager who proved who they are (a password, single sign-on);
    returns its secret for the cookie."""
    now = utcnow()
    async with request.app.state.sessionmaker() as session:
        secret = await AccessRepository(session).open_session(
            token_id=None,
            bootstrap_sha256=None,
            now=now,
            expires_at=now + timedelta(hours=settings.page_session_h),
            manager_id=manager.id,
            method=method,
        )
        await session.commit()
    return secret


def start_session(response: Response, request: Request, settings: Settings, secret: str) -> None:
    set_cookie(response, request, SESSION_COOKIE, secret, int(settings.page_session_h * 3600))


async def end_presented_session(request: Request) -> None:
    """Signing in again ends the session the browser came with (session fixation)."""
    secret = session_secret(request)
    if secret is not None:
        await sign_out(request, secret)


async def sign_out(request: Request, secret: str) -> None:
    async with request.app.state.sessionmaker() as session:
        await AccessRepository(session).end_session(secret)
        await session.commit()


async def session_principal(request: Request, settings: Settings, secret: str) -> Principal:
    """Who the session belongs to, checked with its token now; `SignInRequired` otherwise."""
    now = utcnow()
    async with request.app.state.sessionmaker() as session:
        repo = AccessRepository(session)
        found = await repo.find_session(secret, now)
        if found is None:
            raise SignInRequired()
        page_session, token, manager = found
        if page_session.manager_id is not None:
            if manager is None or not manager.active:
                raise SignInRequired()
            return Principal(Role(manager.role), manager.id)
        if token is None:
            bootstrap = sha256(settings.bootstrap_admin_token or "")
            if not settings.bootstrap_admin_token or not same_text(
                page_session.bootstrap_sha256, bootstrap
            ):
                raise SignInRequired()
            return Principal(Role.ADMIN)
        try:
            who = check_token(token, now)
        except Denied as exc:
            raise SignInRequired() from exc
        await record_use(session, token, now)
    return who


async def display_name(session: AsyncSession, who: Principal) -> str:
    if who.manager_id is not None:
        manager = await PeopleRepository(session).get_manager(who.manager_id)
        if manager is not None:
            return manager.name
    return ROLE_NAMES[who.role]


async def current_user(request: Request, session: SessionDep, settings: SettingsDep) -> User:
    secret = session_secret(request)
    if secret is None:
        raise SignInRequired()
    who = await session_principal(request, settings, secret)
    return User(who, await display_name(session, who), csrf_for(secret))


CurrentUser = Annotated[User, Depends(current_user)]


def check_post(request: Request, form: dict[str, str], expected_csrf: str) -> None:
    if not same_origin(request):
        raise Refused(_("this request came from another site"))
    sent = request.headers.get("x-csrf-token") or form.get("csrf")
    if not same_text(sent, expected_csrf):
        raise Refused(_("the form is out of date; reload the page and try again"))


async def posting_user(request: Request, user: CurrentUser, form: FormDep) -> User:
    """The signed-in user of a POST that passed the origin and CSRF checks."""
    check_post(request, form, user.csrf)
    return user


PostingUser = Annotated[User, Depends(posting_user)]
