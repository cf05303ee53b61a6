"""The page's forms: URL-encoded, small, read once per request (FastAPI caches the dependency).

Parsed here with the standard library, so the page needs no multipart parser.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Annotated
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Depends, Request

from crm_store.web.i18n import _

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 32 * 1024
MAX_FIELDS = 32


class FormError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_form(request: Request) -> dict[str, str]:
    """The posted fields (the first value of each); nothing for other methods."""
    if request.method != "POST":
        return {}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        raise FormError(415, _("send the form as %(type)s", type=FORM_TYPE))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormError(
                413, _("the form is larger than %(kib)s KiB", kib=MAX_FORM_BYTES // 1024)
            )
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormError(400, _("the form could not be read")) from exc
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


FormDep = Annotated[dict[str, str], Depends(read_form)]


def text_field(form: dict[str, str], name: str, *, max_chars: int, label: str) -> str:
    """A trimmed field; too long is an error that names the field."""
    value = form.get(name, "").strip()
    if len(value) > max_chars:
        raise FormError(422, _("%(field)s: at most %(max)s characters", field=label, max=max_chars))
    return value


def checked(form: dict[str, str], name: str) -> bool:
    return form.get(name, "") in ("1", "on", "true")


def local_time(form: dict[str, str], name: str, zone_field: str) -> datetime | None:
    """A `<input type="datetime-local">` (no zone) read in the browser's time zone, which the
    page's script puts in `zone_field` (an IANA name); UTC without it. None when left empty."""
    value = text_field(form, name, max_chars=32, label=_("The time"))
    if not value:
        return None
    try:
        naive = datetime.fromisoformat(value)
    except ValueError as exc:
        raise FormError(422, _("enter the date and time as the picker shows it")) from exc
    if naive.tzinfo is not None:
        return naive.astimezone(UTC)
    zone_name = text_field(form, zone_field, max_chars=64, label=_("The time zone"))
    try:
        zone: tzinfo = ZoneInfo(zone_name) if zone_name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    return naive.replace(tzinfo=zone).astimezone(UTC)
