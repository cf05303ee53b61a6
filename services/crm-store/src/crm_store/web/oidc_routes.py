"""Single sign-on on the page: `/login/sso` sends the browser to the provider, `/login/sso/callback`
takes it back (both 404 when `CRM_STORE_OIDC_*` is not set).

The attempt's state, nonce and PKCE verifier travel in an HTTP-only cookie of ten minutes
(SameSite=Lax: the provider's redirect back is a cross-site navigation), never in a URL but the
state; the callback compares the state before anything else and drops the cookie. Who signed
in must have a verified e-mail address of an active manager (no one signs themselves up). The
session cookie is SameSite=Strict, which a browser withholds on the rest of a redirect chain
that began at another site, so the callback answers with a small page that moves on from here.
"""

from __future__ import annotations

import base64
import json
import logging

from fastapi import Query, Request
from fastapi.responses import RedirectResponse, Response

from crm_store.config import Settings
from crm_store.core import SettingsDep
from crm_store.people import PeopleRepository
from crm_store.web.i18n import _
from crm_store.web.oidc import Attempt, OidcClient, SignOnFailed
from crm_store.web.render import page
from crm_store.web.routes import router
from crm_store.web.session import (
    cookie_name,
    end_presented_session,
    may_sign_in_here,
    open_manager_session,
    over_https,
    safe_next,
    same_text,
    start_session,
)
from crm_store.web.signin_routes import login_page
from switchboard_shared.problems import Problem

log = logging.getLogger(__name__)

ATTEMPT_COOKIE = "sb_oidc"
ATTEMPT_MAX_AGE_S = 600
MAX_PARAM = 2048
CALLBACK = "/login/sso/callback"


def client_of(request: Request, settings: Settings) -> OidcClient:
    if not settings.oidc_enabled:
        raise Problem(404, _("Not found"), _("single sign-on is not configured here"))
    client: OidcClient | None = getattr(request.app.state, "oidc", None)
    if client is None:
        client = OidcClient(settings)
        request.app.state.oidc = client
    return client


def redirect_uri(request: Request, settings: Settings) -> str:
    base = settings.public_url or str(request.base_url)
    return base.rstrip("/") + CALLBACK


def _pack(attempt: Attempt, next_url: str) -> str:
    raw = json.dumps([attempt.state, attempt.nonce, attempt.verifier, next_url]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unpack(value: str | None) -> tuple[Attempt, str] | None:
    if not value or len(value) > 4096:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        state, nonce, verifier, next_url = json.loads(raw)
    except (ValueError, TypeError):
        return None
    if not all(isinstance(v, str) for v in (state, nonce, verifier, next_url)):
        return None
    return Attempt(state, nonce, verifier), safe_next(next_url)


def _attempt_cookie(response: Response, request: Request, value: str | None) -> None:
    name = cookie_name(request, ATTEMPT_COOKIE)
    if value is None:
        response.delete_cookie(name, path="/", secure=over_https(request), httponly=True)
        return
    response.set_cookie(
        name,
        value,
        max_age=ATTEMPT_MAX_AGE_S,
        path="/",
        secure=over_https(request),
        httponly=True,
        samesite="lax",
    )


@router.get("/login/sso")
async def start_sign_on(
    request: Request,
    settings: SettingsDep,
    next: str | None = Query(default=None, max_length=1024),
) -> Response:
    client = client_of(request, settings)
    if not may_sign_in_here(request):
        return login_page(request, error=_("Sign in over HTTPS."), status=400)
    attempt = Attempt.new()
    try:
        url = await client.authorization_url(attempt, redirect_uri(request, settings))
    except (SignOnFailed, OSError) as exc:
        log.warning("single sign-on unavailable: %s", exc)
        return _failed(request, 502)
    response = RedirectResponse(url, status_code=303)
    _attempt_cookie(response, request, _pack(attempt, safe_next(next)))
    return response


def _failed(request: Request, status: int, message: str | None = None) -> Response:
    response = login_page(
        request,
        error=message or _("Single sign-on did not sign you in. Try again, or use your password."),
        status=status,
    )
    _attempt_cookie(response, request, None)
    return response


@router.get(CALLBACK)
async def finish_sign_on(
    request: Request,
    settings: SettingsDep,
    code: str | None = Query(default=None, max_length=MAX_PARAM),
    state: str | None = Query(default=None, max_length=MAX_PARAM),
    error: str | None = Query(default=None, max_length=200),
) -> Response:
    client = client_of(request, settings)
    found = _unpack(request.cookies.get(cookie_name(request, ATTEMPT_COOKIE)))
    if found is None or not same_text(state, found[0].state):
        log.warning("single sign-on callback without its attempt (state mismatch)")
        return _failed(
            request, 400, _("The sign-in took too long or came from elsewhere. Try again.")
        )
    attempt, next_url = found
    if error is not None or not code:
        return _failed(request, 401, _("Single sign-on was cancelled."))
    try:
        identity = await client.sign_on(code, attempt, redirect_uri(request, settings))
    except (SignOnFailed, OSError) as exc:
        log.warning("single sign-on refused: %s", exc)
        return _failed(request, 401)
    async with request.app.state.sessionmaker() as session:
        manager = await PeopleRepository(session).find_manager_by_email(identity.email)
    if manager is None or not manager.active:
        log.info("single sign-on for an address that is no active manager's")
        message = _(
            "%(email)s is not the address of an active user here. Ask your administrator to "
            "add you.",
            email=identity.email,
        )
        return _failed(request, 403, message)
    await end_presented_session(request)
    secret = await open_manager_session(request, settings, manager, "oidc")
    log.info("signed in to the page", extra={"role": manager.role, "method": "oidc"})
    response = page("signed_in.html", next_url=next_url)
    start_session(response, request, settings, secret)
    _attempt_cookie(response, request, None)
    return response
