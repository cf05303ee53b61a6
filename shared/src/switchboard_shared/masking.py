"""Masking helpers that keep personal data (numbers, addresses, names) out of logs."""

from __future__ import annotations

import re

__all__ = ["mask_email", "mask_name", "mask_phone", "mask_text"]

_STARS = "***"
_MIN_MASKED_DIGITS = 6
_MAX_PREFIX_DIGITS = 4
_MIN_TEXT_DIGITS = 6
# E.164 allows 15 digits; an IDD or trunk prefix adds up to 3. Longer runs are ids, not numbers.
_MAX_TEXT_DIGITS = 18

_NON_DIGITS_RE = re.compile(r"[^0-9]")
_EMAIL_RE = re.compile(
    r"(?<![\w.+-])[\w.!#$%&'*+^`{|}~-]+@(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_]{2,}(?![\w-])"
)
# A run of digit groups joined by single separators, taken whole (atomic group): it must not
# start or end inside a longer token, so "2026-11-25T16:22:58Z" or a UUID never yields a match.
_PHONE_RE = re.compile(
    r"(?:(?<=%2[Bb])|(?<![\w+\-.]))"
    r"(?>\+?\(?[0-9]+\)?(?:[ .\-/]?\(?[0-9]+\)?)*)"
    r"(?!\w|[\-.:/]\w)"
)
_DATE_OR_ADDRESS_RE = re.compile(
    r"[0-9]{4}([\-/.])[0-9]{1,2}\1[0-9]{1,2}"  # 2026-11-25, 2026/11/25
    r"|[0-9]{1,2}([\-/.])[0-9]{1,2}\2[0-9]{2,4}"  # 25.11.2026, 11/25/2026
    r"|[0-9]{1,3}(?:\.[0-9]{1,3}){3}"  # IPv4
    r"|[0-9]+\.[0-9]+"  # decimals and Asterisk uniqueids "1732551778.42"
)


def mask_phone(s: str) -> str:
    """Keep ``+``, up to 4 leading digits and the last 2; at least 6 digits are always hidden.

    ``"+493012345656"`` -> ``"+4930******56"``; formatting characters are dropped.
    """
    digits = _NON_DIGITS_RE.sub("", s)
    if not digits:
        return _STARS if s.strip() else ""
    plus = "+" if s.lstrip().startswith("+") else ""
    tail = 2 if len(digits) > 2 else 0
    prefix = max(0, min(_MAX_PREFIX_DIGITS, len(digits) - tail - _MIN_MASKED_DIGITS))
    hidden = len(digits) - prefix - tail
    return plus + digits[:prefix] + "*" * hidden + digits[len(digits) - tail :]


def mask_email(s: str) -> str:
    """``"jane.doe@example.com"`` -> ``"j***@example.com"``."""
    local, at, domain = s.strip().rpartition("@")
    if not at:
        return mask_name(s)
    return f"{local[:1]}{_STARS}@{domain}"


def mask_name(s: str) -> str:
    """``"Jane Doe"`` -> ``"J***"``; empty stays empty."""
    name = s.strip()
    return f"{name[:1]}{_STARS}" if name else ""


def mask_text(s: str) -> str:
    """Mask e-mail addresses and phone-like digit runs (6+ digits) inside free text.

    Dates, times, UUIDs, IPv4 addresses, decimals and short numbers (status codes, ports) are
    left alone. Space-separated runs are masked whole only when they look like one number
    (leading ``+``, ``(`` or ``0``, or three or more groups, and no dots); otherwise each group
    is judged on its own, so ``"200 1534"`` in an access log survives.
    """
    return _PHONE_RE.sub(_mask_phone_match, _EMAIL_RE.sub(_mask_email_match, s))


def _mask_email_match(match: re.Match[str]) -> str:
    return mask_email(match.group())


def _mask_phone_match(match: re.Match[str]) -> str:
    token = match.group()
    if " " not in token or _looks_like_one_number(token):
        return _mask_token(token)
    return " ".join(_mask_token(part) for part in token.split(" "))


def _looks_like_one_number(token: str) -> bool:
    if "." in token:
        return False  # "HTTP/1.1 200 1534": dots and spaces are not mixed within one number
    return token[0] in "+(0" or token.count(" ") >= 2


def _mask_token(token: str) -> str:
    digit_count = sum(ch.isdigit() for ch in token)
    if not _MIN_TEXT_DIGITS <= digit_count <= _MAX_TEXT_DIGITS:
        return token
    if _DATE_OR_ADDRESS_RE.fullmatch(token):
        return token
    return mask_phone(token)
