"""Rendering: Jinja2 templates, the answers to the page's script, errors as pages, and the
security headers every page carries."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Coroutine
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from babel.messages.extract import extract_javascript
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.exceptions import HTTPException

from crm_store.web import i18n, present
from crm_store.web.forms import FormError
from crm_store.web.i18n import N_, _
from crm_store.web.session import Refused, SignInRequired, cookie_name
from switchboard_shared.problems import HTTP_TITLES, Problem, problem_response

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
STATIC_TYPES = {
    "app.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


# The titles of HTTP errors (from the shared problem helpers), for the catalogues.
HTTP_TITLE_MESSAGES = (
    N_("Unauthorized"),
    N_("Forbidden"),
    N_("Not found"),
    N_("Request timeout"),
    N_("Content too large"),
    N_("Request header fields too large"),
    N_("Busy"),
)


def bind_language(request: Request) -> i18n.Language:
    """This request's language (the picker's cookie, else `Accept-Language`) and phone region."""
    code = i18n.negotiate(
        request.cookies.get(cookie_name(request, i18n.LANGUAGE_COOKIE)),
        request.headers.get("accept-language"),
    )
    settings = getattr(request.app.state, "settings", None)
    region = settings.common.default_region if settings is not None else "US"
    return i18n.bind(code, region)


@cache
def _script_messages() -> tuple[str, ...]:
    """The messages the page's script shows (`t("...")` in app.js)."""
    with (STATIC_DIR / "app.js").open("rb") as fh:
        found = extract_javascript(fh, {"t": None}, [], {})
        return tuple(dict.fromkeys(str(m[2]) for m in found))


def script_strings() -> dict[str, str]:
    """The script's messages in the request's language (`data-strings` on `<html>`)."""
    return {message: _(message) for message in _script_messages()}


@cache
def static_url(name: str) -> str:
    """The file's URL with a content hash, so browsers may cache it for long."""
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]
    return f"/static/{name}?v={digest}"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    # Page text goes through gettext (`{{ _("...") }}`) in the request's language (`i18n.bind`).
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda message: i18n.current().translations.gettext(message),
        ngettext=lambda one, many, n: i18n.current().translations.ngettext(one, many, n),
        newstyle=True,
    )
    env.globals.update(
        static=static_url,
        ago=present.ago,
        stamp=present.stamp,
        kind_label=present.kind_label,
        duration=present.duration,
        number=present.number,
        language=i18n.current,
        languages=i18n.language_names,
        script_strings=script_strings,
    )
    return env


ENV = _environment()


def fragment(name: str, **context: Any) -> str:
    return ENV.get_template(name).render(**context)


def page(name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(fragment(name, **context), status_code=status)


def wants_json(request: Request) -> bool:
    """The page's script asks with `X-Requested-With: fetch` and reads JSON back."""
    return request.headers.get("x-requested-with") == "fetch"


def failure(request: Request, status: int, title: str, detail: str = "", **extra: Any) -> Response:
    title, detail = i18n.translate(title), i18n.translate(detail)
    if wants_json(request):
        return JSONResponse({"error": title, "detail": detail, **extra}, status_code=status)
    return page("error.html", status=status, title=title, detail=detail, extra=extra)


def signed_out(request: Request) -> Response:
    """To the sign-in form; a page asked for comes back after signing in (`next`)."""
    if wants_json(request):
        return JSONResponse(
            {"error": _("Your session has ended"), "detail": _("sign in again")}, status_code=401
        )
    path = request.url.path
    if request.method != "GET" or path == "/":
        return RedirectResponse("/login", status_code=303)
    back = path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?{urlencode({'next': back})}", status_code=303)


def secure(request: Request, response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if not request.url.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    return response


def asks_for_a_page(request: Request) -> bool:
    """A person's browser navigating (it accepts HTML), outside the API."""
    path = request.url.path
    return (
        "text/html" in request.headers.get("accept", "")
        and not wants_json(request)
        and path != "/api"
        and not path.startswith("/api/")
    )


async def http_error(request: Request, exc: Exception) -> Response:
    """An address nothing serves (or a method it does not take): a page for a browser,
    problem+json for programs, as before."""
    if not isinstance(exc, HTTPException):  # registered for this class only
        raise exc
    headers = dict(exc.headers or {})
    bind_language(request)
    if not asks_for_a_page(request):
        title = HTTP_TITLES.get(exc.status_code, "Error")
        return problem_response(exc.status_code, title, str(exc.detail or ""), headers=headers)
    if exc.status_code == 404:
        title, detail = _("Page not found"), _("there is nothing at this address")
    else:
        title, detail = i18n.translate(HTTP_TITLES.get(exc.status_code, N_("Error"))), ""
    response = page("error.html", status=exc.status_code, title=title, detail=detail, extra={})
    response.headers.update(headers)
    return secure(request, response)


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class PageRoute(APIRoute):
    """A page route: errors become pages (or JSON for the page's script), not problem+json,
    and every answer gets the security headers."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            bind_language(request)
            try:
                response = await handler(request)
            except SignInRequired:
                response = signed_out(request)
            except Refused as exc:
                response = failure(request, 403, _("Refused"), str(exc))
            except FormError as exc:
                response = failure(request, exc.status, _("Invalid form"), exc.message)
            except Problem as exc:
                response = failure(
                    request, exc.status, exc.title, _page_detail(exc), **_safe(exc.extra)
                )
            except RequestValidationError as exc:
                fields = ", ".join(
                    str(e.get("loc", ("", ""))[-1]) for e in exc.errors() if e.get("loc")
                )
                response = failure(
                    request, 422, _("Invalid request"), _("check: %(fields)s", fields=fields)
                )
            return secure(request, response)

        return page_handler


def _page_detail(exc: Problem) -> str:
    """The problem in the page's words: the API's hints name its fields (`force=true`), the
    page names its controls."""
    if "candidates" in exc.extra:
        return _(
            "a contact that looks the same exists; tick “Save even if it looks like a "
            "duplicate” to save anyway"
        )
    return exc.detail


def _safe(extra: dict[str, Any]) -> dict[str, Any]:
    """What of a problem's extra members the page shows: duplicate candidates, field errors."""
    return {k: v for k, v in extra.items() if k in ("candidates", "errors", "field")}
