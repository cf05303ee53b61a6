"""Header access: raw values, unfolding, RFC 2047 decoding, Message-IDs and the message key."""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Iterable
from email.message import Message
from email.quoprimime import header_decode

from ingest_mail.domain.charsets import decode_bytes, decode_header_bytes

__all__ = [
    "SYNTHETIC_ID_DOMAIN",
    "HeaderMap",
    "decode_words",
    "message_ids",
    "message_key",
    "normalise_message_id",
    "unfold",
]

SYNTHETIC_ID_DOMAIN = "switchboard.invalid"
_SURROGATES_RE = re.compile("[\udc80-\udcff]")
_FOLD_RE = re.compile(r"\r?\n(?=[ \t])")
_LINE_BREAK_RE = re.compile(r"[\r\n]+")
_SPACE_RE = re.compile(r"\s+")
_ENCODED_WORD_RE = re.compile(r"=\?([^?\s]{1,80})\?([bBqQ])\?([^?\s]*)\?=")
_ID_RE = re.compile(r"<([^<>]{1,998})>")
_MAX_IDS = 500
# A header line, a continuation line, or the mbox "From " line (the feedparser's own rule).
_HEADER_LINE_RE = re.compile(rb"^(?:From |[\x21-\x39\x3b-\x7e]+:|[ \t])")
_HEADER_NAME_RE = re.compile(rb"^([\x21-\x39\x3b-\x7e]+):")
# Headers added on the way in (trace, delivery, filtering): left out of the content hash so
# that copies of one message taken at LMTP and later over IMAP get the same key.
_TRACE_HEADERS = frozenset(
    {
        b"received",
        b"return-path",
        b"delivered-to",
        b"x-original-to",
        b"envelope-to",
        b"x-envelope-to",
        b"x-envelope-from",
        b"status",
        b"x-status",
        b"x-keywords",
        b"x-uid",
        b"content-length",
        b"lines",
        b"x-mozilla-status",
        b"x-mozilla-status2",
        b"authentication-results",
        b"arc-seal",
        b"arc-message-signature",
        b"arc-authentication-results",
        b"received-spf",
    }
)
_TRACE_PREFIXES = (b"x-spam-", b"x-virus-", b"x-ms-exchange-organization-")


class HeaderMap:
    """Header values by lower-cased name, in order, 8-bit bytes decoded (`decode_header_bytes`:
    UTF-8, else the charsets in `declared`, else a detected multi-byte charset, else cp1252)."""

    def __init__(self, items: Iterable[tuple[str, object]], declared: tuple[str, ...] = ()) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in items:
            self._values.setdefault(name.strip().lower(), []).append(_as_text(value, declared))

    @classmethod
    def of(cls, message: Message) -> HeaderMap:
        items = message.raw_items()
        if not any(_has_raw_bytes(value) for _, value in message.raw_items()):
            return cls(items)
        return cls(items, _declared_charsets(message))

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._values

    def __len__(self) -> int:
        return len(self._values)

    def first(self, name: str) -> str | None:
        values = self._values.get(name.lower())
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return self._values.get(name.lower(), [])


def unfold(value: str) -> str:
    """RFC 5322 unfolding; stray line breaks become spaces."""
    return _LINE_BREAK_RE.sub(" ", _FOLD_RE.sub("", value))


def decode_words(value: str) -> tuple[str, list[str]]:
    """Decode RFC 2047 encoded words; returns the text and defects. Never raises.

    Adjacent encoded words in one charset are joined before decoding, because senders split
    multi-byte characters across words.
    """
    if "=?" not in value:
        return value, []
    out: list[str] = []
    defects: list[str] = []
    pending = bytearray()
    pending_charset: str | None = None
    position = 0

    def flush() -> None:
        nonlocal pending_charset
        if pending_charset is not None:
            decoded = decode_bytes(bytes(pending), pending_charset)
            out.append(decoded.text)
            if decoded.defect:
                defects.append(decoded.defect)
        pending.clear()
        pending_charset = None

    for match in _ENCODED_WORD_RE.finditer(value):
        gap = value[position : match.start()]
        position = match.end()
        charset = match.group(1).split("*", 1)[0]
        data = _word_bytes(match.group(2), match.group(3))
        if data is None:
            flush()
            out.append(gap + match.group(0))
            defects.append("InvalidEncodedWordDefect")
            continue
        # Whitespace between two encoded words is not part of the text (RFC 2047 §6.2).
        joins_previous = pending_charset is not None and not gap.strip()
        if not joins_previous or charset.lower() != (pending_charset or "").lower():
            flush()
            if not joins_previous:
                out.append(gap)
        pending_charset = charset
        pending.extend(data)
    flush()
    out.append(value[position:])
    return "".join(out), defects


def _word_bytes(encoding: str, text: str) -> bytes | None:
    try:
        if encoding in "bB":
            padded = text + "=" * (-len(text) % 4)
            return binascii.a2b_base64(padded)
        return header_decode(text).encode("latin-1")
    except (binascii.Error, ValueError, UnicodeError):
        return None


def normalise_message_id(value: str | None) -> str | None:
    """The first id in a Message-ID-like value, as ``<...>`` without whitespace; None if none."""
    ids = message_ids(value, limit=1)
    return ids[0] if ids else None


def message_ids(value: str | None, *, limit: int = _MAX_IDS) -> list[str]:
    """Ids in a References/In-Reply-To/Message-ID value; commas and junk between them ignored."""
    if not value:
        return []
    ids: list[str] = []
    for match in _ID_RE.finditer(value):
        inner = _SPACE_RE.sub("", match.group(1))
        if inner:
            ids.append(f"<{inner}>")
            if len(ids) >= limit:
                return ids
    if not ids and "<" not in value:
        # Some clients omit the brackets: accept bare tokens that look like ids.
        for token in re.split(r"[\s,]+", value):
            if "@" in token and len(token) <= 998:
                ids.append(f"<{token}>")
                if len(ids) >= limit:
                    break
    return ids


def message_key(raw: bytes) -> str:
    """The message's Message-ID (normalised, with ``<>``) or a deterministic content id.

    Without a usable Message-ID the key is ``<sha256hex@switchboard.invalid>`` over the message
    minus the trace headers that delivery adds, with line endings normalised. Never raises.
    """
    header_lines, body_start = _split(raw)
    for name, field in _fields(header_lines):
        if name == b"message-id":
            text = _as_text(field.split(b":", 1)[1].decode("ascii", "surrogateescape"))
            found = normalise_message_id(unfold(text))
            if found is not None:
                return found
            break
    return f"<{_content_hash(header_lines, raw[body_start:])}@{SYNTHETIC_ID_DOMAIN}>"


def _content_hash(header_lines: list[bytes], body: bytes) -> str:
    digest = hashlib.sha256()
    for name, field in _fields(header_lines):
        if name in _TRACE_HEADERS or name.startswith(_TRACE_PREFIXES):
            continue
        digest.update(field.replace(b"\r", b""))
        digest.update(b"\n")
    digest.update(b"\n")
    digest.update(body.replace(b"\r\n", b"\n").rstrip(b"\r\n"))
    return digest.hexdigest()


def _split(raw: bytes) -> tuple[list[bytes], int]:
    """Header lines and where the body starts, ending the headers where the feedparser would."""
    lines: list[bytes] = []
    position = 0
    while position < len(raw):
        end = raw.find(b"\n", position)
        end = len(raw) if end < 0 else end + 1
        line = raw[position:end].rstrip(b"\r\n")
        if not line or not _HEADER_LINE_RE.match(line):
            if not line:
                position = end
            break
        lines.append(line)
        position = end
    return lines, position


def _fields(header_lines: list[bytes]) -> Iterable[tuple[bytes, bytes]]:
    """(lower-cased name, whole unfolded field bytes) per header; the mbox line is skipped."""
    name: bytes | None = None
    parts: list[bytes] = []
    for line in header_lines:
        if line[:1] in (b" ", b"\t"):
            if name is not None:
                parts.append(line)
            continue
        if name is not None:
            yield name, b"\n".join(parts)
        match = _HEADER_NAME_RE.match(line)
        name = match.group(1).lower() if match else None
        parts = [line]
    if name is not None:
        yield name, b"\n".join(parts)


def _as_text(value: object, declared: tuple[str, ...] = ()) -> str:
    """A header value as the compat32 parser stores it, with raw 8-bit bytes decoded."""
    text = value if isinstance(value, str) else str(value)
    if _SURROGATES_RE.search(text) is None:
        return text
    return decode_header_bytes(text.encode("utf-8", "surrogateescape"), declared)


def _has_raw_bytes(value: object) -> bool:
    return isinstance(value, str) and _SURROGATES_RE.search(value) is not None


_MAX_DECLARING_PARTS = 50


def _declared_charsets(message: Message) -> tuple[str, ...]:
    """The charsets the message declares for its parts, in order, from its first parts."""
    found: list[str] = []
    for index, part in enumerate(message.walk()):
        if index >= _MAX_DECLARING_PARTS:
            break
        charset = part.get_param("charset")
        if isinstance(charset, str) and charset.strip() and charset not in found:
            found.append(charset.strip()[:40])
    return tuple(found)
