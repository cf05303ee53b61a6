"""Linking rules without a database: points, registrable domains, free-mail, names, resolution."""

from __future__ import annotations

import pytest

from crm_store.directory.linking import (
    Link,
    LinkKind,
    PointOwner,
    company_domain,
    company_key,
    email_point,
    is_public_mail_domain,
    person_key,
    phone_point,
    point_forms,
    registrable_domain,
    resolve,
)


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("(415) 555-0123", "US", "+14155550123"),
        ("+1 415 555 0123", "DE", "+14155550123"),
        ("tel:+14155550123", "US", "+14155550123"),
        ("030 1234567", "DE", "+49301234567"),
        ("101", "US", None),  # an extension is no client's number
        ("call me", "US", None),
        ("anonymous", "US", None),
    ],
)
def test_phone_points_are_e164_of_external_numbers(
    raw: str, region: str, expected: str | None
) -> None:
    assert phone_point(raw, region) == expected


def test_email_points_are_lower_case_addresses() -> None:
    assert email_point("Ann Example <Ann.Example@Client.Example>") == "ann.example@client.example"
    assert email_point("not an address") is None


def test_mexican_mobile_forms_are_one_point() -> None:
    assert point_forms("+525512345678") == {"+525512345678", "+5215512345678"}
    assert point_forms("ann@client.example") == {"ann@client.example"}


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("mail.sales.example.co.uk", "example.co.uk"),
        ("Example.COM.", "example.com"),
        ("client.example", "client.example"),
        ("co.uk", None),
        ("not a domain", None),
    ],
)
def test_registrable_domain(host: str, expected: str | None) -> None:
    assert registrable_domain(host) == expected


@pytest.mark.parametrize(
    "domain", ["gmail.com", "yahoo.co.uk", "outlook.com", "gmx.de", "mail.ru", "mailinator.com"]
)
def test_free_mail_and_disposable_providers_are_nobodys_company(domain: str) -> None:
    assert is_public_mail_domain(domain)
    assert company_domain(f"someone@{domain}") is None


def test_a_company_domain_is_the_registrable_part_and_never_our_own() -> None:
    assert not is_public_mail_domain("acme-industries.com")
    assert company_domain("ann@eu.mail.acme-industries.com") == "acme-industries.com"
    assert company_domain("bob@sales.our.example", own_domains=["our.example"]) is None
    assert company_domain("no-at-sign") is None


def test_name_keys_ignore_order_case_accents_and_legal_forms() -> None:
    assert person_key("José", "García") == person_key("garcia", "JOSE")
    assert person_key("Ann", "Lee") != person_key("Ann", "Leigh")
    assert company_key("ACME GmbH") == company_key("Acme") == company_key("acme, Inc.")
    assert company_key("GmbH") == "gmbh"  # a name made only of a legal form stays a name


def test_one_contact_with_the_point_is_linked_with_its_company_and_owner() -> None:
    link = resolve([PointOwner("c1", "co1", "m1")])
    assert link == Link("c1", "co1", LinkKind.CONTACT, owner_id="m1")
    assert link.knows_the_person


def test_a_point_shared_by_contacts_links_the_company_and_flags_the_ambiguity() -> None:
    link = resolve([PointOwner("c2", "co1"), PointOwner("c1", "co1")])
    assert link == Link(None, "co1", LinkKind.AMBIGUOUS, candidates=("c1", "c2"))


def test_contacts_of_different_companies_sharing_a_point_link_no_company() -> None:
    link = resolve([PointOwner("c1", "co1"), PointOwner("c2", "co2")])
    assert (link.contact_id, link.company_id, link.kind) == (None, None, LinkKind.AMBIGUOUS)


def test_a_company_point_links_the_company() -> None:
    assert resolve([PointOwner(None, "co9", "m2")]) == Link(
        None, "co9", LinkKind.COMPANY, owner_id="m2"
    )


def test_the_domain_is_the_last_resort_and_nothing_is_nothing() -> None:
    assert resolve([], "co3", "m3") == Link(None, "co3", LinkKind.DOMAIN, owner_id="m3")
    assert resolve([]) == Link()
    assert not resolve([], "co3").knows_the_person
    # An exact point beats the domain.
    assert resolve([PointOwner("c1", None)], "co3").kind is LinkKind.CONTACT
    assert resolve([PointOwner("c1", None)], "co3").company_id == "co3"
