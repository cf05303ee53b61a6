"""E-mail address parsing and normalisation for CRM matching.

Header values are split into mailboxes by a small RFC 5322-aware scanner (quotes, comments,
angle brackets, groups, encoded words), then each mailbox is parsed with the stdlib header
registry and validated with email-validator (no DNS). Bad input never raises: it comes back
with ``valid=False`` and ``address=None`` and the raw text kept.

An address that is well-formed but cannot take mail on the public Internet (a quoted local part
such as ``"System Administrator"@example.com``, a special-use or single-label host such as
``.local``, ``localhost`` or ``.invalid``, a domain literal) is kept: ``valid=True`` so that it
matches the same sender next time, and ``deliverable=False`` so that nobody writes to it.
"""

from __future__ import annotations

import contextlib
import re
from email.errors import InvalidHeaderDefect, NonASCIILocalPartDefect
from email.header import decode_header, make_header
from email.headerregistry import AddressHeader, HeaderRegistry

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EmailAddress", "domain_of", "parse_address", "parse_address_list"]


class EmailAddress(BaseModel):
    """One mailbox as received, with its normalised address and decoded display name."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    raw: str
    address: str | None
    name: str | None
    valid: bool
    deliverable: bool = Field(
        default=True,
        description="False for a well-formed address that cannot take mail on the Internet "
        "(quoted local part, special-use or single-label host, domain literal): kept for "
        "matching, never to write to",
    )


_REGISTRY = HeaderRegistry()
_FOLD_RE = re.compile(r"\r?\n(?=[ \t])")
_LINE_BREAK_RE = re.compile(r"[\r\n]+")
_ENCODED_WORD_RE = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_TRAILING_COMMENT_RE = re.compile(r"\(([^()]*)\)\s*$")
_HOST_RE = re.compile(
    r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
)
_LITERAL_RE = re.compile(r"\[(?:\d{1,3}(?:\.\d{1,3}){3}|ipv6:[0-9a-f:.]{2,45})\]")


def parse_address(raw: str | None) -> EmailAddress | None:
    """Parse one mailbox (``Name <addr>``, ``addr``, ``addr (Name)``); None for empty input."""
    if raw is None or not raw.strip():
        return None
    text = _unfolded(raw).strip()
    name, addr_spec = _split_mailbox(text)
    address, deliverable = _normalised(addr_spec) if addr_spec is not None else (None, False)
    return EmailAddress(
        raw=raw,
        address=address,
        name=name,
        valid=address is not None,
        deliverable=address is not None and deliverable,
    )


def parse_address_list(header_value: str | None) -> list[EmailAddress]:
    """Parse a To/Cc-style header value into its mailboxes, flattening groups."""
    if header_value is None:
        return []
    text = _unfolded(header_value)
    parsed = (parse_address(segment) for segment in _split_mailboxes(text))
    return [address for address in parsed if address is not None]


def domain_of(address: str) -> str:
    """The lower-cased domain of a (normalised) address; ValueError without an ``@``."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"not an e-mail address: {address!r}")
    return domain.rstrip(".").lower()


def _unfolded(value: str) -> str:
    return _LINE_BREAK_RE.sub(" ", _FOLD_RE.sub("", value))


def _split_mailbox(text: str) -> tuple[str | None, str | None]:
    """Return (display name, addr-spec) of a single mailbox; addr-spec None when unusable."""
    try:
        header = _REGISTRY("to", text)
    except Exception:  # the stdlib parser raises assorted errors on malformed input
        return None, None
    if not isinstance(header, AddressHeader) or len(header.addresses) != 1:
        return None, None
    mailbox = header.addresses[0]
    name = _decoded_name(mailbox.display_name) or _comment_name(text)
    if any(_is_fatal(defect) for defect in header.defects):
        # e.g. 'alice@example.org)<bob@example.org>' (CVE-2023-27043): never trust a guess.
        return name, None
    return name, mailbox.addr_spec


def _is_fatal(defect: Exception) -> bool:
    if isinstance(defect, NonASCIILocalPartDefect):
        return False  # SMTPUTF8 addresses are allowed
    # Encoded words inside a quoted display name are only a cosmetic problem.
    return isinstance(defect, InvalidHeaderDefect) and "encoded" not in str(defect)


def _decoded_name(name: str) -> str | None:
    name = name.strip()
    if "=?" in name:
        with contextlib.suppress(ValueError, LookupError, UnicodeError):
            name = str(make_header(decode_header(name))).strip()
    return name or None


def _comment_name(text: str) -> str | None:
    comment = _TRAILING_COMMENT_RE.search(text)
    return _decoded_name(comment.group(1)) if comment is not None else None


def _normalised(addr_spec: str) -> tuple[str | None, bool]:
    """The normalised address and whether it can take mail; (None, False) when malformed."""
    # The whole address is lower-cased: RFC 5321 allows case-sensitive local parts, but real
    # providers ignore case and CRM matching must not split "Jane.Doe@" from "jane.doe@".
    try:
        result = validate_email(addr_spec, check_deliverability=False, allow_smtputf8=True)
        return result.normalized.lower(), True
    except EmailNotValidError:
        pass
    local, at, domain = addr_spec.rpartition("@")
    domain = domain.rstrip(".").lower()
    if not at or not local or not (_HOST_RE.fullmatch(domain) or _LITERAL_RE.fullmatch(domain)):
        return None, False
    try:  # the local part on its own, quoted forms allowed, against a stand-in domain
        result = validate_email(
            f"{local}@example.com",
            check_deliverability=False,
            allow_smtputf8=True,
            allow_quoted_local=True,
        )
    except EmailNotValidError:
        return None, False
    return f"{result.local_part}@{domain}".lower(), False


def _split_mailboxes(text: str) -> list[str]:
    """Split an address list at top-level commas, dropping group names and ``;`` terminators.

    Commas inside quoted strings, comments, angle brackets or encoded words do not split.
    """
    segments: list[str] = []
    current: list[str] = []
    quoted = False
    comment_depth = 0
    in_angle = False
    i = 0
    while i < len(text):
        ch = text[i]
        if quoted or comment_depth:
            current.append(ch)
            if ch == "\\" and i + 1 < len(text):
                current.append(text[i + 1])
                i += 1
            elif quoted and ch == '"':
                quoted = False
            elif comment_depth and ch in "()":
                comment_depth += 1 if ch == "(" else -1
        elif ch == "=" and (word := _ENCODED_WORD_RE.match(text, i)) is not None:
            current.append(word.group())
            i = word.end()
            continue
        elif ch == '"':
            quoted = True
            current.append(ch)
        elif ch == "(":
            comment_depth = 1
            current.append(ch)
        elif ch in "<>":
            in_angle = ch == "<"
            current.append(ch)
        elif not in_angle and ch in ",;":
            segments.append("".join(current))
            current = []
        elif not in_angle and ch == ":":
            current = []  # what came before was a group's display name
        else:
            current.append(ch)
        i += 1
    segments.append("".join(current))
    return [segment.strip() for segment in segments if segment.strip()]
