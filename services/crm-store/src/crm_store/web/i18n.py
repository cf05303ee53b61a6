"""The page in its users' languages: gettext catalogues (`locale/<lang>/LC_MESSAGES/messages.po`,
compiled in memory when first used, so there is no build step to forget), the locale of each
request and the `_`/`ngettext` that page code and templates call.

The locale is the user's choice (the language picker's cookie), else the best match of the
browser's `Accept-Language`, else English. `bind` sets it, with the region phone numbers are
written for, for the rest of the request (a context variable).
"""

from __future__ import annotations

import gettext
import io
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
DEFAULT = "en"
LOCALES = ("en", "pl", "lv", "lt", "ms", "ta")
LANGUAGE_COOKIE = "sb_lang"
MAX_ACCEPT_LANGUAGE = 512


def N_(message: str) -> str:
    """Marks a message for extraction where it is defined; it is translated where shown."""
    return message


@cache
def translations(code: str) -> gettext.NullTranslations:
    """The catalogue of a locale, compiled from its .po file once per process."""
    path = LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"
    if code == DEFAULT or not path.is_file():
        return gettext.NullTranslations()
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=code, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@dataclass(frozen=True)
class Language:
    code: str
    region: str = "US"

    @property
    def locale(self) -> Locale:
        return _locale(self.code)

    @property
    def translations(self) -> gettext.NullTranslations:
        return translations(self.code)


@cache
def _locale(code: str) -> Locale:
    return Locale.parse(code)


ENGLISH = Language(DEFAULT)
_current: ContextVar[Language | None] = ContextVar("page_language", default=None)


def bind(code: str, region: str = "US") -> Language:
    """The language (and phone region) of the rest of this request."""
    language = Language(code if code in LOCALES else DEFAULT, region)
    _current.set(language)
    return language


def current() -> Language:
    """The request's language; English outside a request."""
    return _current.get() or ENGLISH


def _format(text: str, values: dict[str, Any]) -> str:
    return text % values if values else text


def _(message: str, **values: Any) -> str:
    """The message in the request's language, with `%(name)s` filled in."""
    return _format(current().translations.gettext(message), values)


def ngettext(singular: str, plural: str, n: int, **values: Any) -> str:
    """The message for `n` in the request's language (its plural rules); `%(num)s` is `n`."""
    text = current().translations.ngettext(singular, plural, n)
    return _format(text, {"num": n, **values})


def translate(message: str) -> str:
    """A message that may be in the catalogues (a problem's title from elsewhere), else as is."""
    return current().translations.gettext(message) if message else message


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The user's choice, else the browser's preferred language we have, else English."""
    if cookie in LOCALES:
        return cookie
    preferred = []
    for part in (accept_language or "")[:MAX_ACCEPT_LANGUAGE].split(",")[:20]:
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            preferred.append((quality, tag.strip()))
    tags = [tag for _q, tag in sorted(preferred, key=lambda p: -p[0])]
    tags += [tag.split("-")[0] for tag in tags]  # `pl-PL` also asks for `pl`
    found = Locale.negotiate(tags, LOCALES, sep="-")
    return str(found) if found else DEFAULT


@cache
def language_names() -> tuple[tuple[str, str], ...]:
    """The picker's choices, each in its own language."""
    return tuple(
        (code, (_locale(code).get_display_name(code) or code).capitalize()) for code in LOCALES
    )


def current_locale() -> str:
    """The request's locale code (`pl`), e.g. to pick a preset's label in it."""
    return current().code
