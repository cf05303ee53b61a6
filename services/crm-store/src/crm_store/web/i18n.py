"""Page text in Python code goes through `_` (as templates use `{{ _("...") }}`), so catalogues
can translate it; until they exist the message is returned as written, formatted with its
named values. `locale_of` is the locale the page speaks to a request in (its first supported
`Accept-Language` language, else English)."""

from __future__ import annotations

from contextvars import ContextVar

from fastapi import Request

LOCALES = ("en", "pl", "lv", "lt", "ms", "ta")
_LOCALE: ContextVar[str] = ContextVar("page_locale", default="en")


def _(message: str, **values: object) -> str:
    return message % values if values else message


def locale_of(request: Request) -> str:
    for part in request.headers.get("accept-language", "")[:200].split(","):
        language = part.split(";")[0].strip().split("-")[0].lower()
        if language in LOCALES:
            return language
    return "en"


def use_locale(locale: str) -> None:
    """The locale of the request being answered (set once per page request)."""
    _LOCALE.set(locale)


def current_locale() -> str:
    return _LOCALE.get()


gettext = _
