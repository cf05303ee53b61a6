from __future__ import annotations

import pydantic
import pytest

from switchboard_shared.email_address import (
    EmailAddress,
    domain_of,
    parse_address,
    parse_address_list,
)


@pytest.mark.parametrize(
    ("raw", "address", "name"),
    [
        ('"Doe, Jane" <Jane.Doe@Example.COM>', "jane.doe@example.com", "Doe, Jane"),
        ("Jane Doe <jane@example.com>", "jane@example.com", "Jane Doe"),
        ("<jane@example.com>", "jane@example.com", None),
        ("jane@example.com", "jane@example.com", None),
        ("  JANE@EXAMPLE.COM  ", "jane@example.com", None),
        ("jane@example.com (Jane Doe)", "jane@example.com", "Jane Doe"),
        ("Postmaster@Example.COM", "postmaster@example.com", None),
        ("john.doe+tag@gmail.com", "john.doe+tag@gmail.com", None),
        ('"John \\"JJ\\" Doe" <jj@example.com>', "jj@example.com", 'John "JJ" Doe'),
        ("J. Doe <j.doe@example.com>", "j.doe@example.com", "J. Doe"),
        # RFC 2047 encoded words, also (incorrectly but commonly) inside quotes
        ("=?utf-8?q?J=C3=B6rg_M=C3=BCller?= <jm@example.de>", "jm@example.de", "Jörg Müller"),
        ("=?utf-8?b?w4RyZ2Vy?= <a@example.com>", "a@example.com", "Ärger"),
        (
            "=?iso-8859-1?q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>",
            "pirard@vm1.ulg.ac.be",
            "André Pirard",
        ),
        ('"=?utf-8?q?J=C3=B6rg?=" <j@example.com>', "j@example.com", "Jörg"),
        # internationalised addresses: IDNA domain shown in Unicode, SMTPUTF8 local parts
        ("user@xn--bcher-kva.de", "user@bücher.de", None),
        ("User@Bücher.DE", "user@bücher.de", None),
        ("Jöhn <Jöhn@Exämple.com>", "jöhn@exämple.com", "Jöhn"),
        # folded header line
        ("Jane Doe\r\n <jane@example.com>", "jane@example.com", "Jane Doe"),
        # the display name is only a name, never the address
        (
            '"attacker@evil.example" <victim@bank.example>',
            "victim@bank.example",
            "attacker@evil.example",
        ),
    ],
)
def test_parse_address_valid(raw: str, address: str, name: str | None) -> None:
    assert parse_address(raw) == EmailAddress(raw=raw, address=address, name=name, valid=True)


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("not an address", None),
        ("<>", None),
        ("john..doe@example.com", None),
        ("user@-example.com", None),
        ("user@example..com", None),
        ('"unterminated@example.com', None),
        ("Jane <not-an-address>", "Jane"),
        ("Jane <jane@example.com", "Jane"),
        # CVE-2023-27043 shape: the unpatched stdlib would return one of the two addresses
        ("alice@example.org)<bob@example.org>", None),
        ("a@example.com b@example.org", None),
        ("a@example.com, b@example.org", None),
    ],
)
def test_parse_address_invalid_keeps_raw(raw: str, name: str | None) -> None:
    assert parse_address(raw) == EmailAddress(
        raw=raw, address=None, name=name, valid=False, deliverable=False
    )


@pytest.mark.parametrize(
    ("raw", "address"),
    [
        ("user@localhost", "user@localhost"),
        ("a@b", "a@b"),
        ("user@example.invalid", "user@example.invalid"),
        ("admin@fileserver.local", "admin@fileserver.local"),
        ('"john doe"@example.com', '"john doe"@example.com'),
        ('"System Administrator"@example.com', '"system administrator"@example.com'),
        ('IT <"System Administrator"@Example.COM>', '"system administrator"@example.com'),
        ("user@[192.168.0.1]", "user@[192.168.0.1]"),
    ],
)
def test_well_formed_but_undeliverable_addresses_are_kept_and_flagged(
    raw: str, address: str
) -> None:
    parsed = parse_address(raw)
    assert parsed is not None
    assert (parsed.address, parsed.valid, parsed.deliverable) == (address, True, False)
    # The same sender written another way matches: the address is the key, not the raw text.
    again = parse_address(f"Someone <{raw.rpartition('<')[2].rstrip('>')}>")
    assert again is not None
    assert again.address == address


def test_deliverable_addresses_say_so() -> None:
    parsed = parse_address("Jane Doe <Jane.Doe@Example.com>")
    assert parsed is not None
    assert (parsed.address, parsed.valid, parsed.deliverable) == (
        "jane.doe@example.com",
        True,
        True,
    )


@pytest.mark.parametrize("raw", [None, "", "   ", "\r\n"])
def test_parse_address_empty(raw: str | None) -> None:
    assert parse_address(raw) is None


def test_email_address_is_frozen_and_tolerates_new_fields() -> None:
    parsed = parse_address("jane@example.com")
    assert parsed is not None
    with pytest.raises(pydantic.ValidationError):
        parsed.address = "x@example.com"  # type: ignore[misc]
    # A consumer built against v1 keeps decoding when a producer adds an optional field.
    newer = EmailAddress.model_validate(
        {"raw": "", "address": None, "name": None, "valid": False, "added_later": 1}
    )
    assert newer == EmailAddress(raw="", address=None, name=None, valid=False)


def _summary(header: str | None) -> list[tuple[str, str | None, str | None, bool]]:
    return [(a.raw, a.address, a.name, a.valid) for a in parse_address_list(header)]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            '"Doe, Jane" <Jane.Doe@Example.COM>, bob@example.org',
            [
                ('"Doe, Jane" <Jane.Doe@Example.COM>', "jane.doe@example.com", "Doe, Jane", True),
                ("bob@example.org", "bob@example.org", None, True),
            ],
        ),
        (
            'Team: a@example.com, "B, C" <b@example.org>; d@example.net',
            [
                ("a@example.com", "a@example.com", None, True),
                ('"B, C" <b@example.org>', "b@example.org", "B, C", True),
                ("d@example.net", "d@example.net", None, True),
            ],
        ),
        ("Undisclosed recipients:;", []),
        (
            "a@example.com,,b@example.org",
            [
                ("a@example.com", "a@example.com", None, True),
                ("b@example.org", "b@example.org", None, True),
            ],
        ),
        (
            "=?utf-8?q?M=C3=BCller=2C_Hans?= <h@example.de>, =?utf-8?Q?Doe,_Jane?= <j@example.com>",
            [
                (
                    "=?utf-8?q?M=C3=BCller=2C_Hans?= <h@example.de>",
                    "h@example.de",
                    "Müller, Hans",
                    True,
                ),
                ("=?utf-8?Q?Doe,_Jane?= <j@example.com>", "j@example.com", "Doe, Jane", True),
            ],
        ),
        (
            "x (comment, with comma) <x@example.com>, z@example.org",
            [
                ("x (comment, with comma) <x@example.com>", "x@example.com", "x", True),
                ("z@example.org", "z@example.org", None, True),
            ],
        ),
        (
            "<@relay.example.net:user@example.com>, q@example.org",
            [
                ("<@relay.example.net:user@example.com>", "user@example.com", None, True),
                ("q@example.org", "q@example.org", None, True),
            ],
        ),
        (
            "a@example.com,\r\n b@example.org",
            [
                ("a@example.com", "a@example.com", None, True),
                ("b@example.org", "b@example.org", None, True),
            ],
        ),
        # an unquoted comma splits, exactly as RFC 5322 says; the bad half is kept raw
        (
            "Doe, Jane <jane@example.com>",
            [
                ("Doe", None, None, False),
                ("Jane <jane@example.com>", "jane@example.com", "Jane", True),
            ],
        ),
        (
            "alice@example.org)<bob@example.org>, carol@example.com",
            [
                ("alice@example.org)<bob@example.org>", None, None, False),
                ("carol@example.com", "carol@example.com", None, True),
            ],
        ),
        ("", []),
        (" , ", []),
        (None, []),
    ],
)
def test_parse_address_list(
    header: str | None, expected: list[tuple[str, str | None, str | None, bool]]
) -> None:
    assert _summary(header) == expected


@pytest.mark.parametrize(
    ("address", "domain"),
    [
        ("jane@example.com", "example.com"),
        ("Jane@Example.COM", "example.com"),
        ("user@bücher.de", "bücher.de"),
        ('"a@b"@example.org', "example.org"),
    ],
)
def test_domain_of(address: str, domain: str) -> None:
    assert domain_of(address) == domain


@pytest.mark.parametrize("address", ["", "no-at-sign", "@example.com", "jane@"])
def test_domain_of_rejects_non_addresses(address: str) -> None:
    with pytest.raises(ValueError, match="not an e-mail address"):
        domain_of(address)
