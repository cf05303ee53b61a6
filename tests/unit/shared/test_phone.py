from __future__ import annotations

import pydantic
import pytest

from switchboard_shared.phone import (
    NumberKind,
    PhoneNumber,
    PhonePolicy,
    equivalent_e164,
    is_own_number,
    normalise_phone,
)

US = PhonePolicy(default_region="US")
DE = PhonePolicy(default_region="DE")


def _fullwidth(text: str) -> str:
    """The same text in FULLWIDTH digits and plus sign, as East Asian input methods type it."""
    return "".join(chr(ord(ch) + 0xFEE0) if ch in "+0123456789" else ch for ch in text)


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        # plain E.164 and international formatting
        ("+4930123456", None, "+4930123456"),
        ("+44 330 818 6690", None, "+443308186690"),
        ("  +44 330 818 6690  ", None, "+443308186690"),
        ("+1 (415) 555-2671", None, "+14155552671"),
        ("+49-30-1234567", None, "+49301234567"),
        ("+49.30.1234567", None, "+49301234567"),
        # national formats with a region
        ("030 1234567", "DE", "+49301234567"),
        ("030/1234567", "DE", "+49301234567"),
        ("030-123 45 67", "DE", "+49301234567"),
        ("030\t1234567\n", "DE", "+49301234567"),
        ("(030) 1234567", "DE", "+49301234567"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("415.555.2671", "US", "+14155552671"),
        ("1-415-555-2671", "US", "+14155552671"),
        ("0117 496 0123", "GB", "+441174960123"),
        ("(11) 98765-4321", "BR", "+5511987654321"),
        ("011 15 1234 5678", "AR", "+5491112345678"),
        # international prefixes: 00 and 011 in any region
        ("0049 30 1234567", "DE", "+49301234567"),
        ("0049 30 1234567", "US", "+49301234567"),
        ("011 49 30 1234567", "US", "+49301234567"),
        ("011 49 30 1234567", "DE", "+49301234567"),
        # country code without "+" (Vonage, Plivo, RingCentral, Bitrix24 style)
        ("4930123456", "US", "+4930123456"),
        ("19792014278", "US", "+19792014278"),
        ("79062195047", "RU", "+79062195047"),
        ("491701234567", "DE", "+491701234567"),
        ("33612345678", "DE", "+33612345678"),
        ("447911123456", "DE", "+447911123456"),
        # URIs and caller-id strings
        ("tel:+1-201-555-0123", None, "+12015550123"),
        ("tel:+1-201-555-0123;ext=1234", None, "+12015550123"),
        ("TEL:+4930123456", None, "+4930123456"),
        ("sip:+4930123456@host;user=phone", None, "+4930123456"),
        ("sips:+14155552671@sip.example.com:5061;transport=tls", None, "+14155552671"),
        ("sip:%2B4930123456@trunk.example.com", None, "+4930123456"),
        ("sip:4930123456@trunk.example.com", "DE", "+4930123456"),
        ('"John Doe" <+14155552671>', None, "+14155552671"),
        ("John Doe <030 1234567>", "DE", "+49301234567"),
        ('"Doe, John" <sip:+4930123456@pbx.example.com>', None, "+4930123456"),
        ("<+4930123456>", None, "+4930123456"),
        # Unicode digits, dashes, spaces and invisible marks
        (_fullwidth("+49 30 1234567"), None, "+49301234567"),
        ("+49\u201330\u20131234567", None, "+49301234567"),
        ("+49\u221230\u00a01234567", None, "+49301234567"),
        ("\u200e+49 30 1234567\u200f", None, "+49301234567"),
        ("٠٣٠١٢٣٤٥٦٧", "DE", "+49301234567"),
        # possible but not in a known range: kept (old Brazilian mobile, UK drama range)
        ("+55 11 8765-4321", None, "+551187654321"),
        ("(11) 8765-4321", "BR", "+551187654321"),
        ("+44 7700 900123", None, "+447700900123"),
    ],
)
def test_external(raw: str, region: str | None, e164: str) -> None:
    number = normalise_phone(raw, US, region=region)
    assert number == PhoneNumber(raw=raw, e164=e164, kind=NumberKind.EXTERNAL)


@pytest.mark.parametrize(
    "raw",
    [
        "+5215512345678",
        "+521 55 1234 5678",
        "+52 1 55 1234 5678",
        "+52 55 1234 5678",
        "+525512345678",
        "00 52 1 55 1234 5678",
        "5215512345678",
    ],
)
def test_mexico_old_mobile_form_is_the_same_number(raw: str) -> None:
    assert normalise_phone(raw, US).e164 == "+525512345678"


@pytest.mark.parametrize(
    "raw", ["044 55 1234 5678", "045 55 1234 5678", "01 55 1234 5678", "55 1234 5678"]
)
def test_mexico_old_national_prefixes(raw: str) -> None:
    assert normalise_phone(raw, region="MX").e164 == "+525512345678"


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "   ",
        "anonymous",
        "Anonymous",
        "ANONYMOUS",
        "restricted",
        "Restricted",
        "private",
        "Private Number",
        "unknown",
        "UNKNOWN",
        "unavailable",
        "withheld",
        "blocked",
        "anonymous@anonymous.invalid",
        "sip:anonymous@anonymous.invalid",
        "sip:+4930123456@anonymous.invalid",
        "sip:anonymous@pbx.example.com",
        "client:Anonymous",
        "client:anonymous",
        '"Anonymous" <anonymous>',
        '"Restricted" <>',
        '"Anonymous"',
        "tel:",
        "+266696687",
        "+7378742833",
        "+86282452253",
        "+8656696",
        "+2562533",
        "00266696687",
        "0117378742833",
        '"ANONYMOUS" <+266696687>',
        "0",
        "00",
        "0000000000",
        "+0",
        "000-000-0000",
    ],
)
def test_withheld(raw: str | None) -> None:
    number = normalise_phone(raw, US)
    assert number == PhoneNumber(raw=raw or "", e164=None, kind=NumberKind.WITHHELD)


def test_sentinel_digits_without_plus_are_a_real_national_number() -> None:
    # 737 is an Austin area code: only the "+" form is Twilio's RESTRICTED sentinel.
    assert normalise_phone("7378742833", US).e164 == "+17378742833"


@pytest.mark.parametrize(
    ("raw", "extension"),
    [
        ("101", "101"),
        ("1", "1"),
        ("12345", "12345"),
        ("1-01", "101"),
        ("sip:101@pbx.local", "101"),
        ("sips:2001@pbx.example.com;transport=tls", "2001"),
        ("101@pbx.local", "101"),
        ('"Reception" <101>', "101"),
        ("tel:7042;phone-context=example.com", "7042"),
        ("Ext.610", "610"),
        ("ext 12", "12"),
    ],
)
def test_internal_by_max_digits(raw: str, extension: str) -> None:
    number = normalise_phone(raw, US)
    assert number == PhoneNumber(raw=raw, e164=None, kind=NumberKind.INTERNAL, extension=extension)


@pytest.mark.parametrize(
    ("raw", "max_digits", "kind"),
    [
        ("1234", 4, NumberKind.INTERNAL),
        ("12345", 4, NumberKind.INVALID),
        ("123456", 5, NumberKind.INVALID),
        ("101", 0, NumberKind.INVALID),
        ("+101", 5, NumberKind.INVALID),
    ],
)
def test_internal_max_digits_limit(raw: str, max_digits: int, kind: NumberKind) -> None:
    policy = PhonePolicy(default_region="US", internal_max_digits=max_digits)
    assert normalise_phone(raw, policy).kind is kind


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("100", NumberKind.INTERNAL),
        ("199", NumberKind.INTERNAL),
        ("2000", NumberKind.INTERNAL),
        ("2999", NumberKind.INTERNAL),
        ("sip:150@pbx.local", NumberKind.INTERNAL),
        ("99", NumberKind.INVALID),
        ("200", NumberKind.INVALID),
        ("3000", NumberKind.INVALID),
        ("0150", NumberKind.INVALID),
        ("+150", NumberKind.INVALID),
        ("Ext.610", NumberKind.INTERNAL),
        ("030 1234567", NumberKind.EXTERNAL),
    ],
)
def test_internal_by_ranges(raw: str, kind: NumberKind) -> None:
    policy = PhonePolicy(default_region="DE", internal_ranges=((100, 199), (2000, 2999)))
    assert normalise_phone(raw, policy).kind is kind


@pytest.mark.parametrize(
    "raw",
    [
        "abc",
        "not a number",
        "client:alice",
        "1-800-FLOWERS",
        "+49 30 1234567 ext. 12",
        "+",
        "()",
        "--",
        "++4930123456",
        "49+30123456",
        "+0049 30 1234567",
        "+12",
        "+123456789012345678",
        "+1 123 456 7890",
        "+999 123456789",
        "123456",
        "555-0100",
        "12345678901234567890",
        "*67",
        "sip:alice@example.com",
        "+4930123456#",
    ],
)
def test_invalid(raw: str) -> None:
    number = normalise_phone(raw, US)
    assert number == PhoneNumber(raw=raw, e164=None, kind=NumberKind.INVALID)


def test_missing_country_code_uses_policy_region() -> None:
    assert normalise_phone("415 555 2671").e164 == "+14155552671"
    assert normalise_phone("415 555 2671", US, region=None).e164 == "+14155552671"
    assert normalise_phone("030 1234567", DE).e164 == "+49301234567"


def test_region_keyword_overrides_policy() -> None:
    assert normalise_phone("030 1234567", US, region="DE").e164 == "+49301234567"
    assert normalise_phone("030 1234567", US, region="de").e164 == "+49301234567"
    assert normalise_phone("(415) 555-2671", DE, region="US").e164 == "+14155552671"


def test_unknown_region_keyword_raises() -> None:
    with pytest.raises(ValueError, match="unknown region"):
        normalise_phone("030 1234567", region="XX")


def test_raw_is_kept_verbatim() -> None:
    raw = ' "Jane" <+49 30 1234567> '
    assert normalise_phone(raw).raw == raw


def test_phone_number_is_frozen_and_tolerates_new_fields() -> None:
    number = normalise_phone("+4930123456")
    with pytest.raises(pydantic.ValidationError):
        number.e164 = "+1"  # type: ignore[misc]
    newer = PhoneNumber.model_validate(
        {"raw": "", "e164": None, "kind": "invalid", "added_later": "x"}
    )
    assert newer == PhoneNumber(raw="", e164=None, kind=NumberKind.INVALID)


@pytest.mark.parametrize(
    ("e164", "expected"),
    [
        # Brazil: mobile before/after the ninth digit (subscriber part starting with 6-9)
        ("+551187654321", {"+551187654321", "+5511987654321"}),
        ("+5511987654321", {"+551187654321", "+5511987654321"}),
        ("+552176543210", {"+552176543210", "+5521976543210"}),
        ("+551167654321", {"+551167654321", "+5511967654321"}),
        # Brazilian fixed lines start with 2-5 and have no ninth digit
        ("+552125551234", {"+552125551234"}),
        ("+5511987", {"+5511987"}),
        # Mexico: +52 and the old mobile +52 1 form
        ("+525512345678", {"+525512345678", "+5215512345678"}),
        ("+5215512345678", {"+525512345678", "+5215512345678"}),
        # Argentina: with and without the mobile 9
        ("+5491112345678", {"+5491112345678", "+541112345678"}),
        ("+541112345678", {"+5491112345678", "+541112345678"}),
        ("+543514567890", {"+543514567890", "+5493514567890"}),
        ("+54800123456", {"+54800123456"}),
        # everything else: only itself
        ("+4930123456", {"+4930123456"}),
        ("+14155552671", {"+14155552671"}),
        ("not a number", {"not a number"}),
        ("", {""}),
    ],
)
def test_equivalent_e164(e164: str, expected: set[str]) -> None:
    assert equivalent_e164(e164) == frozenset(expected)


def test_old_and_new_brazilian_mobile_match_through_equivalents() -> None:
    old = normalise_phone("+55 11 8765-4321")
    new = normalise_phone("(11) 98765-4321", region="BR")
    assert old.e164 is not None
    assert new.e164 is not None
    assert old.e164 != new.e164
    assert new.e164 in equivalent_e164(old.e164)


def test_is_own_number() -> None:
    policy = PhonePolicy(default_region="DE", own_numbers=frozenset({"+49301234567"}))
    assert is_own_number(normalise_phone("030 1234567", policy), policy)
    assert is_own_number(normalise_phone("+49 30 1234567", policy), policy)
    assert not is_own_number(normalise_phone("030 7654321", policy), policy)
    assert not is_own_number(normalise_phone("101", policy), policy)
    assert not is_own_number(normalise_phone("anonymous", policy), policy)


def test_is_own_number_uses_equivalent_forms() -> None:
    policy = PhonePolicy(default_region="MX", own_numbers=frozenset({"+5215512345678"}))
    assert is_own_number(normalise_phone("55 1234 5678", policy), policy)


def test_policy_from_strings() -> None:
    policy = PhonePolicy.from_strings(
        "de", " 100-199, 2000 - 2999 ,3000,", 4, "+49 30 1234567; 030 7654321, 0049 89 123456"
    )
    assert policy == PhonePolicy(
        default_region="DE",
        internal_ranges=((100, 199), (2000, 2999), (3000, 3000)),
        internal_max_digits=4,
        own_numbers=frozenset({"+49301234567", "+49307654321", "+4989123456"}),
    )


def test_policy_from_strings_defaults() -> None:
    assert PhonePolicy.from_strings("US") == PhonePolicy()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("XX",), "unknown region"),
        (("",), "unknown region"),
        (("DE", "abc"), "invalid internal range 'abc'"),
        (("DE", "100-"), "invalid internal range '100-'"),
        (("DE", "1-2-3"), "invalid internal range '1-2-3'"),
        (("DE", "-5"), "invalid internal range '-5'"),
        (("DE", "200-100"), "start is above end"),
        (("DE", "", -1), "internal_max_digits"),
        (("DE", "", 5, "garbage"), "own number 'garbage'"),
        (("DE", "", 5, "101"), "own number '101'"),
        (("DE", "", 5, "anonymous"), "own number 'anonymous'"),
    ],
)
def test_policy_from_strings_errors(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PhonePolicy.from_strings(*args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"default_region": "XX"}, "unknown region"),
        ({"internal_ranges": ((200, 100),)}, "invalid internal extension range 200-100"),
        ({"internal_max_digits": -1}, "internal_max_digits"),
        ({"own_numbers": frozenset({"030 1234567"})}, "not in E.164 form"),
    ],
)
def test_policy_validates_direct_construction(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PhonePolicy(**kwargs)  # type: ignore[arg-type]
