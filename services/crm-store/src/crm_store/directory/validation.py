"""Input normalisation at the HTTP edge: numbers in any format, addresses, company domains.
Bad input is a 422 that names the field (`phones.1`), like request validation does."""

from __future__ import annotations

from collections.abc import Sequence

from crm_store.core import invalid
from crm_store.directory import linking
from crm_store.directory.points import PointInput


def normalised_phones(raw: Sequence[str], region: str, field: str = "phones") -> list[PointInput]:
    out: dict[str, PointInput] = {}
    for n, text in enumerate(raw):
        value = linking.phone_point(text, region)
        if value is None:
            raise invalid(f"{field}.{n}", "not a valid external phone number")
        out.setdefault(value, PointInput(value, text))
    return list(out.values())


def normalised_emails(raw: Sequence[str], field: str = "emails") -> list[PointInput]:
    out: dict[str, PointInput] = {}
    for n, text in enumerate(raw):
        value = linking.email_point(text)
        if value is None:
            raise invalid(f"{field}.{n}", "not a valid e-mail address")
        out.setdefault(value, PointInput(value, text))
    return list(out.values())


def normalised_domains(raw: Sequence[str], field: str = "domains") -> list[str]:
    """Registrable domains a company may own: never a free-mail or disposable provider."""
    out: list[str] = []
    for n, text in enumerate(raw):
        registrable = linking.registrable_domain(text)
        if registrable is None:
            raise invalid(f"{field}.{n}", "not a registrable domain name")
        if linking.is_public_mail_domain(text):
            raise invalid(f"{field}.{n}", "a free-mail or disposable provider is no company's")
        if registrable not in out:
            out.append(registrable)
    return out
