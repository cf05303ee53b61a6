"""Phone-number normalisation for caller ids and dialled numbers.

`normalise_phone` turns whatever a PBX or telephony provider sent into a `PhoneNumber` of one of
four kinds:

* ``withheld`` -- no caller id: empty, an "anonymous"-style word, an anonymous SIP URI, an
  all-zero string or one of the keypad-spelled numeric sentinels carriers send (Twilio).
* ``internal`` -- an extension of the company's own PBX (see `PhonePolicy`).
* ``external`` -- a number phonenumbers can place in the world; ``e164`` is set.
* ``invalid`` -- anything else; ``raw`` is always kept so nothing is lost.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberFormat
from phonenumbers.phonenumberutil import ValidationResult
from pydantic import BaseModel, ConfigDict

__all__ = [
    "NumberKind",
    "PhoneNumber",
    "PhonePolicy",
    "equivalent_e164",
    "is_own_number",
    "normalise_phone",
]


class NumberKind(StrEnum):
    """What a phone-number string turned out to be."""

    EXTERNAL = "external"
    INTERNAL = "internal"
    WITHHELD = "withheld"
    INVALID = "invalid"


class PhoneNumber(BaseModel):
    """A normalised phone number; ``raw`` is exactly what the provider sent."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    raw: str
    e164: str | None
    kind: NumberKind
    extension: str | None = None


_E164_RE = re.compile(r"\+[1-9][0-9]{1,14}")


@dataclass(frozen=True)
class PhonePolicy:
    """Per-company settings for classifying numbers.

    ``default_region`` is the ISO 3166 alpha-2 region for national numbers; ``internal_ranges``
    are inclusive extension ranges; ``internal_max_digits`` is the extension length limit used
    when no ranges are configured; ``own_numbers`` are the company's DIDs in E.164.
    """

    default_region: str = "US"
    internal_ranges: tuple[tuple[int, int], ...] = ()
    internal_max_digits: int = 5
    own_numbers: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "default_region", _checked_region(self.default_region))
        for low, high in self.internal_ranges:
            if low < 0 or low > high:
                raise ValueError(f"invalid internal extension range {low}-{high}")
        if self.internal_max_digits < 0:
            raise ValueError("internal_max_digits must be >= 0")
        for number in self.own_numbers:
            if not _E164_RE.fullmatch(number):
                raise ValueError(f"own number {number!r} is not in E.164 form (+<digits>)")

    @classmethod
    def from_strings(
        cls,
        default_region: str,
        internal_ranges: str = "",
        internal_max_digits: int = 5,
        own_numbers: str = "",
    ) -> PhonePolicy:
        """Build a policy from configuration strings.

        ``internal_ranges`` looks like ``"100-199,2000-2999"`` (a single number is a one-number
        range); ``own_numbers`` is a comma- or semicolon-separated list of numbers in any format
        `normalise_phone` accepts, national ones read in ``default_region``.
        """
        region = _checked_region(default_region)
        ranges = _parse_ranges(internal_ranges)
        # Own numbers are DIDs, never extensions: read them with the internal rule switched off.
        probe = cls(default_region=region, internal_max_digits=0)
        own: set[str] = set()
        for item in re.split(r"[,;]", own_numbers):
            if not item.strip():
                continue
            number = normalise_phone(item, probe)
            if number.kind is not NumberKind.EXTERNAL or number.e164 is None:
                raise ValueError(f"own number {item.strip()!r} is not a valid external number")
            own.add(number.e164)
        return cls(
            default_region=region,
            internal_ranges=ranges,
            internal_max_digits=internal_max_digits,
            own_numbers=frozenset(own),
        )


def _checked_region(region: str) -> str:
    code = region.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown region {region!r}; expected an ISO 3166 alpha-2 code like 'DE'")
    return code


_RANGE_RE = re.compile(r"\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?")


def _parse_ranges(text: str) -> tuple[tuple[int, int], ...]:
    ranges: list[tuple[int, int]] = []
    for item in text.split(","):
        if not item.strip():
            continue
        match = _RANGE_RE.fullmatch(item)
        if match is None:
            raise ValueError(f"invalid internal range {item.strip()!r}; expected e.g. '100-199'")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        if low > high:
            raise ValueError(f"invalid internal range {item.strip()!r}: start is above end")
        ranges.append((low, high))
    return tuple(ranges)


_DEFAULT_POLICY = PhonePolicy()

# Compared after lower-casing and dropping spaces, dashes and underscores.
_WITHHELD_WORDS = frozenset(
    {
        "anonymous",
        "anonym",
        "restricted",
        "private",
        "privatenumber",
        "unknown",
        "unavailable",
        "withheld",
        "blocked",
        "nocallerid",
        "unbekannt",
    }
)

# Keypad-spelled caller ids Twilio sends for withheld callers (ANONYMOUS, RESTRICTED,
# UNAVAILABLE, UNKNOWN, BLOCKED); some of them are "possible" numbers, so they must be caught
# before phonenumbers sees them.
_WITHHELD_SENTINELS = frozenset({"266696687", "7378742833", "86282452253", "8656696", "2562533"})

_CLID_RE = re.compile(r'(?:"(?:[^"\\]|\\.)*"|[^"<>]*)\s*<([^<>]*)>')
_QUOTED_RE = re.compile(r'"(.*)"')
_SCHEME_RE = re.compile(r"(tel|sips?|client):", re.IGNORECASE)
_EXT_RE = re.compile(r"ext\.?\s*([0-9]+)", re.IGNORECASE)  # 3CX CDR style "Ext.610"
_NUMBER_RE = re.compile(r"\+?[0-9 ().\-/]*[0-9][0-9 ().\-/]*")
_NON_DIGITS_RE = re.compile(r"[^0-9]")
_WORD_SEPARATORS_RE = re.compile(r"[\s_\-]")
_MEXICO_OLD_NATIONAL_RE = re.compile(r"(?:044|045|01)([0-9]{10})")


@dataclass(frozen=True)
class _Unwrapped:
    value: str
    anonymous_host: bool = False
    explicit_extension: bool = False


# Call records repeat numbers (a client's number, our extensions, our DIDs): a history import
# of 200,000 rows normalises a few thousand distinct ones. Short inputs only, so hostile long
# strings cannot fill the cache; the result is immutable, so sharing it is safe.
CACHE_SIZE = 65_536
CACHE_MAX_CHARS = 80


def normalise_phone(
    raw: str | None, policy: PhonePolicy | None = None, *, region: str | None = None
) -> PhoneNumber:
    """Classify and normalise one phone-number string (see `_normalise_phone`)."""
    if raw is None or len(raw) > CACHE_MAX_CHARS:
        return _normalise_phone(raw, policy, region=region)
    return _cached_normalise(raw, policy, region)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _cached_normalise(raw: str, policy: PhonePolicy | None, region: str | None) -> PhoneNumber:
    return _normalise_phone(raw, policy, region=region)


def _normalise_phone(
    raw: str | None, policy: PhonePolicy | None = None, *, region: str | None = None
) -> PhoneNumber:
    """Classify and normalise one phone-number string.

    Rules, in order:

    1. Wrappers are removed: ``"Name" <num>`` caller ids, ``tel:``/``sip:``/``sips:``/``client:``
       URIs (user part only, parameters dropped) and 3CX ``Ext.NNN``.
    2. Withheld: empty input, a withheld word, an ``anonymous.invalid`` SIP host, an all-zero
       number, or a carrier sentinel given in international form (``+``, ``00`` or ``011``).
    3. Internal (never with a leading ``+``): with ``internal_ranges`` configured, exactly the
       digit strings (without leading zeros) inside a range; without ranges, digit strings of at
       most ``internal_max_digits`` digits. The user part of ``sip:NNN@host`` follows the same
       rule; 3CX ``Ext.NNN`` is always internal.
    4. External: see `_best_match`. Letters (other than the words above) make a number invalid.
    """
    text = "" if raw is None else raw
    pol = policy if policy is not None else _DEFAULT_POLICY
    region_code = _checked_region(region) if region is not None else pol.default_region

    unwrapped = _unwrap(_canonical_chars(text).strip())
    value = unwrapped.value
    if unwrapped.anonymous_host or not value or _is_withheld_word(value):
        return PhoneNumber(raw=text, e164=None, kind=NumberKind.WITHHELD)
    if _NUMBER_RE.fullmatch(value) is None:
        return _invalid(text)
    digits = _NON_DIGITS_RE.sub("", value)
    has_plus = value.startswith("+")
    if unwrapped.explicit_extension:
        return PhoneNumber(raw=text, e164=None, kind=NumberKind.INTERNAL, extension=digits)
    if _is_withheld_number(digits, has_plus):
        return PhoneNumber(raw=text, e164=None, kind=NumberKind.WITHHELD)
    if not has_plus and _is_internal(digits, pol):
        return PhoneNumber(raw=text, e164=None, kind=NumberKind.INTERNAL, extension=digits)
    number = _best_match(digits, has_plus, region_code)
    if number is None:
        return _invalid(text)
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return PhoneNumber(raw=text, e164=e164, kind=NumberKind.EXTERNAL)


def _invalid(raw: str) -> PhoneNumber:
    return PhoneNumber(raw=raw, e164=None, kind=NumberKind.INVALID)


def _canonical_chars(text: str) -> str:
    """Map Unicode digits, dashes and spaces to ASCII; drop invisible format characters."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFKC", text):
        if ch.isspace():
            out.append(" ")
            continue
        if ch.isascii():
            out.append(ch)
            continue
        category = unicodedata.category(ch)
        if category == "Nd":
            out.append(str(unicodedata.decimal(ch)))
        elif category == "Pd" or ch == "\u2212":
            out.append("-")
        elif category != "Cf":
            out.append(ch)
    return "".join(out)


def _unwrap(value: str) -> _Unwrapped:
    """Strip caller-id, URI and extension wrappers down to the number (or word) itself."""
    clid = _CLID_RE.fullmatch(value)
    if clid is not None:
        value = clid.group(1).strip()
    quoted = _QUOTED_RE.fullmatch(value)
    if quoted is not None:
        value = quoted.group(1).strip()
    scheme = _SCHEME_RE.match(value)
    if scheme is not None:
        value = value[scheme.end() :]
        if scheme.group(1).lower() == "tel":
            value = value.split(";", 1)[0]
    anonymous_host = False
    if "@" in value:
        user, _, host = value.partition("@")
        host = host.split(";", 1)[0].split(":", 1)[0].strip().lower()
        anonymous_host = host == "anonymous.invalid" or host.endswith(".anonymous.invalid")
        value = user
    if scheme is not None or anonymous_host:
        value = unquote(value.split(";", 1)[0]).strip()
    extension = _EXT_RE.fullmatch(value)
    if extension is not None:
        return _Unwrapped(extension.group(1), explicit_extension=True)
    return _Unwrapped(value.strip(), anonymous_host=anonymous_host)


def _is_withheld_word(value: str) -> bool:
    return _WORD_SEPARATORS_RE.sub("", value).lower() in _WITHHELD_WORDS


def _is_withheld_number(digits: str, has_plus: bool) -> bool:
    if digits.strip("0") == "":
        return True
    if has_plus:
        return digits in _WITHHELD_SENTINELS
    # Only in international form: "7378742833" alone is a valid Texas number.
    for prefix in ("00", "011"):
        if digits.startswith(prefix) and digits[len(prefix) :] in _WITHHELD_SENTINELS:
            return True
    return False


def _is_internal(digits: str, policy: PhonePolicy) -> bool:
    if policy.internal_ranges:
        if digits != str(int(digits)):
            return False  # "0101" is not extension 101
        value = int(digits)
        return any(low <= value <= high for low, high in policy.internal_ranges)
    return len(digits) <= policy.internal_max_digits


@dataclass(frozen=True)
class _Candidate:
    text: str
    region: str | None
    accept_possible: bool  # False: only a *valid* parse of this reading is accepted


def _best_match(digits: str, has_plus: bool, region: str) -> phonenumbers.PhoneNumber | None:
    """Pick the first acceptable reading of the digits.

    A reading is first accepted when phonenumbers calls it valid (a known allocated range);
    failing that, a reading that is "plausible" -- a possible length for the country and
    matching its general number pattern -- is accepted, so old or newly allocated client
    numbers (e.g. pre-2016 Brazilian mobiles) are not discarded while garbage such as
    ``+1 123 456 7890`` or a local number without area code is.

    Without a ``+``, three readings exist: national in ``region``; international after an
    explicit ``00``/``011`` prefix (both accepted in every region); and the digits as an
    international number missing its ``+`` (``4930123456``), which must be valid. In regions
    whose trunk prefix is mandatory (``0`` in DE/GB/...), digits not starting with it are tried
    as international first: providers like Vonage send ``491701234567``, which is also a valid
    (wrong) German national number.
    """
    if has_plus:
        candidates = [_Candidate("+" + digits, None, True)]
    else:
        candidates = _national_candidates(digits, region)
    parsed: list[tuple[_Candidate, phonenumbers.PhoneNumber | None]] = []
    for candidate in candidates:  # parsed as needed: the first reading is usually valid
        number = _parse(candidate)
        if number is not None and phonenumbers.is_valid_number(number):
            return number
        parsed.append((candidate, number))
    for candidate, number in parsed:
        if candidate.accept_possible and number is not None and _is_plausible(number):
            return number
    return None


def _national_candidates(digits: str, region: str) -> list[_Candidate]:
    if region == "MX":
        old = _MEXICO_OLD_NATIONAL_RE.fullmatch(digits)
        if old is not None:
            digits = old.group(1)  # pre-2019 mobile (044/045) and long-distance (01) prefixes
    national = _Candidate(digits, region, True)
    international = [
        _Candidate("+" + digits[len(prefix) :], None, True)
        for prefix in ("00", "011")
        if digits.startswith(prefix)
    ]
    bare = _Candidate("+" + digits, None, False)
    trunk = phonenumbers.ndd_prefix_for_region(region, True)
    nanp = phonenumbers.country_code_for_region(region) == 1
    if trunk and not nanp and not digits.startswith(trunk):
        return [*international, bare, national]
    return [national, *international, bare]


def _parse(candidate: _Candidate) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(candidate.text, candidate.region)
    except NumberParseException:
        return None
    return _fix_mexico(number)


def _fix_mexico(number: phonenumbers.PhoneNumber) -> phonenumbers.PhoneNumber:
    """Drop the mobile "1" of the old Mexican form +52 1 XX XXXX XXXX (abolished 2019-2020)."""
    national = phonenumbers.national_significant_number(number)
    if number.country_code == 52 and len(national) == 11 and national.startswith("1"):
        return phonenumbers.parse("+52" + national[1:], None)
    return number


def _is_plausible(number: phonenumbers.PhoneNumber) -> bool:
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason != ValidationResult.IS_POSSIBLE:
        return False  # includes IS_POSSIBLE_LOCAL_ONLY: a number missing its area code
    national = phonenumbers.national_significant_number(number)
    return any(
        re.fullmatch(pattern, national) is not None
        for pattern in _general_patterns(number.country_code or 0)
    )


def _general_patterns(country_code: int) -> list[str]:
    patterns: list[str] = []
    for region in phonenumbers.region_codes_for_country_code(country_code):
        if region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
            metadata = PhoneMetadata.metadata_for_nongeo_region(country_code)
        else:
            metadata = PhoneMetadata.metadata_for_region(region)
        if metadata is not None and metadata.general_desc is not None:
            pattern = metadata.general_desc.national_number_pattern
            if pattern:
                patterns.append(pattern)
    return patterns


def equivalent_e164(e164: str) -> frozenset[str]:
    """Every E.164 form the same subscriber is known under, including ``e164`` itself.

    * Brazil (+55): mobiles before/after the ninth digit, ``+55 11 8765 4321`` and
      ``+55 11 98765 4321`` (subscriber part starting with 6-9).
    * Mexico (+52): ``+52 XX...`` and the old mobile form ``+52 1 XX...``.
    * Argentina (+54): geographic numbers with and without the mobile ``9`` (``+54 9 11 ...``
      and ``+54 11 ...``); the two share one number space, the ``9`` only marks a mobile.
    """
    forms = {e164}
    if not _E164_RE.fullmatch(e164):
        return frozenset(forms)
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return frozenset(forms)
    national = phonenumbers.national_significant_number(number)
    country_code = number.country_code or 0
    forms.update(f"+{country_code}{alt}" for alt in _national_variants(country_code, national))
    return frozenset(forms)


def _national_variants(country_code: int, national: str) -> list[str]:
    if country_code == 55 and national[:1] != "0":
        if len(national) == 10 and national[2] in "6789":
            return [national[:2] + "9" + national[2:]]
        if len(national) == 11 and national[2] == "9" and national[3] in "6789":
            return [national[:2] + national[3:]]
    elif country_code == 52:
        if len(national) == 10:
            return ["1" + national]
        if len(national) == 11 and national.startswith("1"):
            return [national[1:]]
    elif country_code == 54:
        if len(national) == 10 and national[0] in "123":
            return ["9" + national]
        if len(national) == 11 and national[0] == "9" and national[1] in "123":
            return [national[1:]]
    return []


def is_own_number(number: PhoneNumber, policy: PhonePolicy) -> bool:
    """True when ``number`` is one of the company's own DIDs (in any equivalent form)."""
    if number.kind is not NumberKind.EXTERNAL or number.e164 is None:
        return False
    return not equivalent_e164(number.e164).isdisjoint(policy.own_numbers)
