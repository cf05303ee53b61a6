"""The language picker: the choice is kept in a cookie for a year (it holds a locale code, not a
secret), and wins over the browser's `Accept-Language`. Registered on `routes.router`."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from crm_store.web import i18n
from crm_store.web.forms import FormDep, FormError
from crm_store.web.i18n import _
from crm_store.web.routes import router
from crm_store.web.session import Refused, same_origin, set_cookie

LANGUAGE_MAX_AGE_S = 365 * 86400
MAX_NEXT_CHARS = 256


def _back_to(target: str) -> str:
    """Only a path on this site (never `//elsewhere` or a full URL)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target[:MAX_NEXT_CHARS]


@router.post("/language")
async def pick_language(request: Request, form: FormDep) -> Response:
    if not same_origin(request):
        raise Refused(_("this request came from another site"))
    code = form.get("language", "")
    if code not in i18n.LOCALES:
        raise FormError(422, _("pick one of the languages offered"))
    response = RedirectResponse(_back_to(form.get("back", "/")), status_code=303)
    set_cookie(response, request, i18n.LANGUAGE_COOKIE, code, LANGUAGE_MAX_AGE_S)
    return response
