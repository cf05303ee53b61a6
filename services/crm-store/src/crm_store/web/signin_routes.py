"""Signing in and out, and setting a password with an invitation or reset link.

`POST /login` takes an e-mail address and password (the normal way) or a personal token (the
form's second part; `token` in the body). A password sign-in answers the same for an unknown
address, a deactivated manager, one without a password and a wrong password ("wrong e-mail
address or password"), after the same argon2 work; repeated failures lock the account and the
client address for a while (`people.lockout`), with the time it ends. Single sign-on is
`oidc_routes`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from fastapi import Query, Request
from fastapi.responses import RedirectResponse, Response

from crm_store.config import Settings
from crm_store.core import SettingsDep, utcnow
from crm_store.people import PeopleRepository, credentials, lockout
from crm_store.web.feed import FEED
from crm_store.web.forms import FormDep, read_form
from crm_store.web.i18n import _
from crm_store.web.render import page
from crm_store.web.routes import router
from crm_store.web.session import (
    LOGIN_COOKIE,
    LOGIN_MAX_AGE_S,
    MAX_TOKEN_CHARS,
    SESSION_COOKIE,
    Refused,
    clear_cookie,
    cookie_name,
    csrf_for,
    end_presented_session,
    may_sign_in_here,
    new_login_nonce,
    open_manager_session,
    safe_next,
    same_origin,
    same_text,
    session_secret,
    set_cookie,
    sign_in,
    sign_out,
    start_session,
)
from switchboard_shared.problems import Problem

log = logging.getLogger(__name__)

MAX_EMAIL_CHARS = 320
NextParam = Query(default=None, max_length=1024)
LinkParam = Query(default=None, max_length=credentials.MAX_LINK_CHARS)


def limits(settings: Settings) -> lockout.Limits:
    return lockout.Limits(
        account_failures=settings.sign_in_max_failures,
        address_failures=settings.sign_in_address_max_failures,
        window=timedelta(minutes=settings.sign_in_window_min),
        lock=timedelta(minutes=settings.sign_in_lock_min),
    )


def login_page(
    request: Request,
    *,
    error: str | None = None,
    status: int = 200,
    email: str = "",
    next_url: str = "/",
    notice: str | None = None,
    token_error: str | None = None,
) -> Response:
    settings: Settings = request.app.state.settings
    nonce = new_login_nonce()
    response = page(
        "login.html",
        status=status,
        nonce=nonce,
        error=error,
        token_error=token_error,
        notice=notice,
        email=email,
        next_url=safe_next(next_url),
        allowed=may_sign_in_here(request),
        sso_label=settings.oidc_label if settings.oidc_enabled else None,
    )
    set_cookie(response, request, LOGIN_COOKIE, nonce, LOGIN_MAX_AGE_S)
    return response


def locked_message(until: datetime, now: datetime) -> str:
    minutes = max(1, int((until - now).total_seconds() + 59) // 60)
    return _(
        "Too many failed sign-ins. Signing in is locked for %(minutes)s more minutes, until "
        "%(time)s UTC. Your administrator can reset your password.",
        minutes=minutes,
        time=until.strftime("%H:%M"),
    )


@router.get("/login")
async def login_form(request: Request, next: str | None = NextParam) -> Response:
    notice = None
    if request.query_params.get("done") == "password":
        notice = _("Your password is set. Sign in with it now.")
    return login_page(request, next_url=next or "/", notice=notice)


@router.post("/login")
async def login(request: Request, settings: SettingsDep, form: FormDep) -> Response:
    if not same_origin(request):
        raise Refused(_("this request came from another site"))
    next_url = safe_next(form.get("next"))
    if not may_sign_in_here(request):
        return login_page(request, error=_("Sign in over HTTPS."), status=400)
    if not same_text(request.cookies.get(cookie_name(request, LOGIN_COOKIE)), form.get("csrf")):
        return login_page(
            request, error=_("The sign-in form expired. Please try again."), status=400
        )
    if "token" in form:
        return await _token_sign_in(request, settings, form.get("token", "").strip(), next_url)
    return await _password_sign_in(request, settings, form, next_url)


async def _token_sign_in(
    request: Request, settings: Settings, token: str, next_url: str
) -> Response:
    if not token or len(token) > MAX_TOKEN_CHARS:
        return login_page(request, token_error=_("Enter your personal token."), status=400)
    await end_presented_session(request)
    try:
        who, secret = await sign_in(request, settings, token)
    except Problem:
        message = _("This token is unknown, expired or revoked.")
        return login_page(request, token_error=message, status=401, next_url=next_url)
    log.info("signed in to the page", extra={"role": who.role.value, "method": "token"})
    return _signed_in(request, settings, secret, next_url)


def _signed_in(request: Request, settings: Settings, secret: str, next_url: str) -> Response:
    response = RedirectResponse(next_url, status_code=303)
    start_session(response, request, settings, secret)
    clear_cookie(response, request, LOGIN_COOKIE)
    return response


async def _password_sign_in(
    request: Request, settings: Settings, form: dict[str, str], next_url: str
) -> Response:
    email = form.get("email", "").strip()[:MAX_EMAIL_CHARS]
    password = form.get("password", "")
    if not email or not password:
        return login_page(
            request,
            error=_("Enter your e-mail address and your password."),
            status=400,
            email=email,
            next_url=next_url,
        )
    address = request.client.host if request.client else None
    keys = [lockout.account_key(email), lockout.address_key(address)]
    now = utcnow()
    async with request.app.state.sessionmaker() as session:
        until = await lockout.locked_until(session, keys, now)
        if until is not None:
            log.warning("sign-in refused: locked out", extra={"client": address})
            return login_page(request, error=locked_message(until, now), status=429, email=email)
        manager = await PeopleRepository(session).find_manager_by_email(email)
        usable = manager is not None and manager.active
        stored = manager.password_hash if manager is not None and usable else None
        if not await credentials.verify_password(stored, password) or manager is None:
            until = await lockout.record_failure(session, email, address, limits(settings), now)
            await session.commit()
            log.info("sign-in failed", extra={"client": address})
            if until is not None:
                return login_page(
                    request, error=locked_message(until, now), status=429, email=email
                )
            return login_page(
                request,
                error=_("The e-mail address or the password is wrong."),
                status=401,
                email=email,
                next_url=next_url,
            )
        await lockout.clear_account(session, email)
        await session.commit()
    await end_presented_session(request)
    secret = await open_manager_session(request, settings, manager, "password")
    log.info("signed in to the page", extra={"role": manager.role, "method": "password"})
    return _signed_in(request, settings, secret, next_url)


@router.post("/logout")
async def logout(request: Request) -> Response:
    """Needs no live session (an ended one must still be able to leave), only its CSRF token;
    without a session cookie nothing is read."""
    secret = session_secret(request)
    if secret is not None:
        form = await read_form(request)
        if not same_origin(request) or not same_text(form.get("csrf"), csrf_for(secret)):
            raise Refused(_("the form is out of date; reload the page and try again"))
        await sign_out(request, secret)
        FEED.changed()  # its live inboxes close now, not at their next check
    response = RedirectResponse("/login", status_code=303)
    clear_cookie(response, request, SESSION_COOKIE)
    return response


# -- setting a password with a link ------------------------------------------------------------


def _password_page(
    request: Request,
    key: str,
    *,
    person: str = "",
    email: str = "",
    purpose: str = "invitation",
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    nonce = new_login_nonce()
    response = page(
        "set_password.html",
        status=status,
        nonce=nonce,
        key=key,
        person=person,
        email=email,
        purpose=purpose,
        errors=errors or {},
        min_chars=credentials.MIN_PASSWORD_CHARS,
        max_chars=credentials.MAX_PASSWORD_CHARS,
        allowed=may_sign_in_here(request),
    )
    set_cookie(response, request, LOGIN_COOKIE, nonce, LOGIN_MAX_AGE_S)
    return response


def _dead_link(request: Request) -> Response:
    return page(
        "error.html",
        status=410,
        title=_("This link no longer works"),
        detail=_(
            "a link to set a password works once and for a limited time; ask your "
            "administrator for a new one"
        ),
        extra={},
    )


@router.get("/set-password")
async def set_password_form(request: Request, key: str | None = LinkParam) -> Response:
    async with request.app.state.sessionmaker() as session:
        found = await credentials.find_link(session, key or "", utcnow())
    if found is None:
        return _dead_link(request)
    link, manager = found
    return _password_page(
        request, key or "", person=manager.name, email=manager.email, purpose=link.purpose
    )


@router.post("/set-password")
async def set_password(request: Request, form: FormDep) -> Response:
    if not same_origin(request):
        raise Refused(_("this request came from another site"))
    key = form.get("key", "")[: credentials.MAX_LINK_CHARS]
    if not may_sign_in_here(request) or not same_text(
        request.cookies.get(cookie_name(request, LOGIN_COOKIE)), form.get("csrf")
    ):
        return page(
            "error.html",
            status=400,
            title=_("The form expired"),
            detail=_("open the link again (over HTTPS) and choose your password"),
            extra={},
        )
    now = utcnow()
    async with request.app.state.sessionmaker() as session:
        found = await credentials.find_link(session, key, now)
        if found is None:
            return _dead_link(request)
        link, manager = found
        password = form.get("password", "")
        problem = credentials.password_problem(
            password, form.get("password_again", ""), manager.email
        )
        if problem is not None:
            field, message = problem
            return _password_page(
                request,
                key,
                person=manager.name,
                email=manager.email,
                purpose=link.purpose,
                errors={field: message},
                status=422,
            )
        done = await credentials.set_password(session, key, password, now)
        if done is None:
            return _dead_link(request)
        await lockout.unlock(session, manager.email)
        await session.commit()
    log.info("a manager set their page password", extra={"purpose": link.purpose})
    response = RedirectResponse("/login?done=password", status_code=303)
    clear_cookie(response, request, LOGIN_COOKIE)
    return response
