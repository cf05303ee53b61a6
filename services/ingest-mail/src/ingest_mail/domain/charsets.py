"""Bytes → text for MIME parts and encoded words, tolerant of what real mail declares.

Declared charsets are mapped to the superset browsers and mail clients actually decode with
(ISO-8859-1 → windows-1252, GB2312 → GB18030, Shift_JIS → cp932, ...). Text declared as ASCII
or Latin-1 that is valid UTF-8 is decoded as UTF-8 (the most common mislabel). Unknown labels
and bytes invalid in the declared charset fall back to UTF-8, then to a replacing decode; each
fallback is reported as a short defect string, never an exception.

Raw 8-bit bytes in a header (no encoded word; RFC 6532 says UTF-8, old clients send their local
charset) are decoded by `decode_header_bytes`: UTF-8, else the charsets the message declares for
its parts, else charset-normalizer's guess when it is a multi-byte East Asian charset (its guesses
among single-byte charsets are unreliable on a short header), else windows-1252.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.charset import ALIASES
from functools import lru_cache

from charset_normalizer import from_bytes

__all__ = ["Decoded", "decode_bytes", "decode_header_bytes"]

# Labels seen in real mail that Python does not know, or knows as a narrower charset.
_SUPERSETS = {
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "ansi_x3.4-1968": "cp1252",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "iso-8859-8-i": "iso8859-8",
    "iso-8859-8-e": "iso8859-8",
    "iso-8859-6-i": "iso8859-6",
    "iso-8859-6-e": "iso8859-6",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "windows-874": "cp874",
    "gb2312": "gb18030",
    "gb_2312-80": "gb18030",
    "gbk": "gb18030",
    "euc-cn": "gb18030",
    "cp936": "gb18030",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "ms_kanji": "cp932",
    "windows-31j": "cp932",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "big5": "cp950",
    "uft-8": "utf-8",
    "utf8mb4": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
    "unknown-8bit": "",
    "x-unknown": "",
    "x-user-defined": "",
}
# Text codecs that are not charsets, or that are slow or surprising on hostile input.
_REFUSED = frozenset({"punycode", "idna", "unicode-escape", "raw-unicode-escape", "undefined"})
# Codecs whose encoded form is plain ASCII bytes that still need decoding.
_ASCII_ENCODED = ("iso2022", "utf-7", "utf_7", "hz")
# Declared charsets under which valid non-ASCII UTF-8 is almost certainly mislabelled UTF-8.
_OFTEN_MISLABELLED = frozenset({"cp1252", "ascii", "iso8859-1", "iso8859-15"})
# Multi-byte charsets charset-normalizer tells apart reliably even on a short header.
_DETECTED_MULTIBYTE = frozenset(
    {
        "gb18030",
        "gb2312",
        "gbk",
        "big5",
        "big5hkscs",
        "cp950",
        "cp932",
        "shift_jis",
        "euc_jp",
        "euc_kr",
        "cp949",
        "iso2022_jp",
        "iso2022_kr",
        "hz",
    }
)
MAX_DETECTED_BYTES = 4096
_CP_RE = re.compile(r"^(?:cp|windows|ms)[-_]?(\d{3,4})$")


@dataclass(frozen=True, slots=True)
class Decoded:
    text: str
    defect: str | None = None


def decode_bytes(data: bytes, charset: str | None) -> Decoded:
    """Decode ``data`` declared as ``charset`` (None: undeclared); never raises."""
    label = _clean(charset)
    codec = _codec(label) if label else None
    if not data:
        return Decoded("")
    if data.isascii() and (codec is None or not codec.startswith(_ASCII_ENCODED)):
        return Decoded(data.decode("ascii"))
    if codec is None:
        defect = f"UnknownCharsetDefect: {label[:40]}" if label else None
        return _utf8_or_cp1252(data, defect)
    if codec in _OFTEN_MISLABELLED or label in _OFTEN_MISLABELLED:
        text = _strict(data, "utf-8")
        if text is not None:
            return Decoded(text)
    text = _strict(data, codec)
    if text is not None:
        return Decoded(text)
    defect = f"CharsetDecodeDefect: {label[:40]}"
    if codec == "utf-8":
        return _utf8_or_cp1252(data, defect)
    text = _strict(data, "utf-8")
    if text is not None:
        return Decoded(text, defect)
    return Decoded(data.decode(codec, errors="replace"), defect)


def decode_header_bytes(data: bytes, declared: Iterable[str]) -> str:
    """Raw header bytes: UTF-8, a charset the message declares, a detected multi-byte charset,
    else windows-1252 (every byte decodes). Never raises."""
    text = _strict(data, "utf-8")
    if text is not None:
        return text
    for label in declared:
        codec = _codec(_clean(label))
        if codec is None or codec in ("utf-8", "cp1252"):
            continue
        text = _strict(data, codec)
        if text is not None:
            return text
    guess = _detected(data[:MAX_DETECTED_BYTES])
    if guess is not None:
        text = _strict(data, guess)
        if text is not None:
            return text
    return _utf8_or_cp1252(data, None).text


def _detected(data: bytes) -> str | None:
    try:
        best = from_bytes(data).best()
    except Exception:  # a detector must never fail the parse
        return None
    if best is None:
        return None
    codec = _codec(best.encoding.lower())
    return codec if codec in _DETECTED_MULTIBYTE or best.encoding in _DETECTED_MULTIBYTE else None


def _utf8_or_cp1252(data: bytes, defect: str | None) -> Decoded:
    """UTF-8 if most non-ASCII characters decode as UTF-8 (stray bytes replaced), else cp1252."""
    text = data.decode("utf-8", errors="replace")
    invalid = text.count("\ufffd")
    if not invalid:
        return Decoded(text, defect)
    valid = sum(1 for char in text if char > "\x7f") - invalid
    if valid > invalid:
        return Decoded(text, defect)
    return Decoded(data.decode("cp1252", errors="replace"), defect)


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeError, LookupError):
        return None


def _clean(charset: str | None) -> str:
    if not charset:
        return ""
    return charset.strip().strip("\"'").strip().lower()


@lru_cache(maxsize=512)
def _codec(label: str) -> str | None:
    """The Python codec name to decode ``label`` with, or None when unknown/refused."""
    if label in _SUPERSETS:
        return _SUPERSETS[label] or None
    candidates = [label, ALIASES.get(label, "")]
    if label.startswith("x-"):
        candidates.append(label[2:])
    if match := _CP_RE.match(label):
        candidates.append(f"cp{match.group(1)}")
    for candidate in candidates:
        if not candidate:
            continue
        try:
            info = codecs.lookup(candidate)
        except (LookupError, ValueError, TypeError):
            continue
        name = info.name.replace("_", "-")
        if name in _REFUSED or not getattr(info, "_is_text_encoding", True):
            return None
        return _SUPERSETS.get(name, info.name) or None
    return None
