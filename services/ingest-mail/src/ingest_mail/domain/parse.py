"""Raw RFC 822 bytes → `MailReceived`.

The stdlib parser runs with ``compat32``: it is lenient and lazy, where ``policy.default`` raises
on unknown charsets and some malformed headers when values are read. Everything after parsing
(headers, charsets, parts) is decoded by our own tolerant code, so a message never fails the
parse: what is wrong with it is listed in ``defects``. Only input that is not a message at all
raises `UnparseableMessage`.
"""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime
from email import policy
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from functools import lru_cache

from ingest_mail.domain.bounce import looks_like_bounce, read_bounce, read_ses_bounce
from ingest_mail.domain.direction import (
    MailboxIdentity,
    direction_of,
    is_sent_folder_name,
    sender_of,
)
from ingest_mail.domain.headers import (
    SYNTHETIC_ID_DOMAIN,
    HeaderMap,
    decode_words,
    message_ids,
    message_key,
    normalise_message_id,
    unfold,
)
from ingest_mail.domain.mime import MimeSummary, summarise
from ingest_mail.domain.reply import split_reply
from ingest_mail.domain.signals import auto_headers
from switchboard_shared.email_address import EmailAddress, parse_address_list
from switchboard_shared.events.mail import MailReceived

__all__ = ["MailboxIdentity", "UnparseableMessage", "message_key", "parse_message"]

SNIPPET_CHARS = 200
MAX_TEXT_CHARS = 32_000
MAX_SUBJECT_CHARS = 998
MAX_ADDRESSES = 200  # per field in the event; direction still sees all of them
MAX_ADDRESS_HEADER_CHARS = 64_000
MAX_REFERENCES = 50
MAX_DEFECTS = 50
MAX_BOUNDARIES = 64
_CACHED_CHARS = 512
_BOUNDARY_PARAM_RE = re.compile(rb"\bboundary\s*=", re.IGNORECASE)
# A message has at least one of these; input without any is not a message.
_MESSAGE_HEADERS = (
    "from",
    "sender",
    "to",
    "cc",
    "date",
    "subject",
    "message-id",
    "received",
    "return-path",
    "mime-version",
    "content-type",
    "reply-to",
    "in-reply-to",
    "references",
    "delivered-to",
)
_SINGLETON_HEADERS = ("From", "Subject", "Date", "Message-ID", "To", "Cc", "In-Reply-To")
_SPACE_RE = re.compile(r"\s+")
_INVISIBLE_RE = re.compile("[\u200b-\u200d\u2060\ufeff\u034f\u00ad]")


class UnparseableMessage(Exception):
    """The input is not a message at all (empty, not RFC 822, over the size limit)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def parse_message(
    raw: bytes,
    *,
    mailbox: MailboxIdentity,
    folder: str | None = None,
    max_bytes: int = 25_000_000,
    sent_folder: bool | None = None,
) -> MailReceived:
    """Parse one message; raises `UnparseableMessage` only for input that is not a message.

    `sent_folder`: the message was read from the mailbox's Sent folder, which is evidence that
    it is ours; None decides by the folder's name (`Sent`, any case).
    """
    if len(raw) > max_bytes:
        raise UnparseableMessage("too_large", f"{len(raw)} bytes, limit {max_bytes}")
    if not raw or raw.isspace():
        raise UnparseableMessage("empty", "no bytes besides whitespace")
    message, defects, headers_only = _parsed(raw)
    headers = HeaderMap.of(message)
    if not any(name in headers for name in _MESSAGE_HEADERS):
        raise UnparseableMessage("not_a_message", "no RFC 5322 message header found")

    mime = MimeSummary() if headers_only else summarise(message)
    defects.extend(mime.defects)
    defects.extend(
        f"DuplicateHeaderDefect: {name}"
        for name in _SINGLETON_HEADERS
        if len(headers.all(name)) > 1
    )

    sender = _addresses(headers, "From", defects)
    to = _addresses(headers, "To", defects)
    cc = _addresses(headers, "Cc", defects)
    bcc = _addresses(headers, "Bcc", defects)
    reply_to = _addresses(headers, "Reply-To", defects)
    from_ = sender[0] if sender else None
    claim = sender_of(
        mailbox,
        from_=sender,
        from_fields=len(headers.all("From")),
        sender=_addresses(headers, "Sender", []),
        return_path=headers.first("Return-Path"),
        authentication_results=headers.all("Authentication-Results"),
        sent_folder=is_sent_folder_name(folder) if sent_folder is None else sent_folder,
    )
    direction, counterpart = direction_of(mailbox, from_, [*to, *cc, *bcc], ours=claim.ours)

    key = message_key(raw)
    if key.endswith(f"@{SYNTHETIC_ID_DOMAIN}>"):
        defects.append("MissingMessageIdDefect")
    references = _references(headers)
    in_reply_to = normalise_message_id(headers.first("In-Reply-To"))
    reply = split_reply(mime.text)
    text = reply.text[:MAX_TEXT_CHARS]
    subject = _subject(headers, defects)
    bounce = read_ses_bounce(headers, mime.text)
    if (
        bounce is None
        and not headers_only
        and looks_like_bounce(
            headers,
            report_type=mime.report_type,
            part_types={attachment.type for attachment in mime.attachments},
            subject=subject,
        )
    ):
        try:
            bounce = read_bounce(message, headers, text=mime.text, size=len(raw))
        except MemoryError:
            raise
        except Exception as exc:  # an unreadable report must not lose the message
            defects.append(f"BounceUnreadable: {type(exc).__name__}")

    return MailReceived(
        message_id=key,
        mailbox=mailbox.address,
        folder=folder,
        direction=direction,
        from_=from_,
        to=to[:MAX_ADDRESSES],
        cc=cc[:MAX_ADDRESSES],
        reply_to=reply_to[:MAX_ADDRESSES],
        subject=subject,
        sent_at=_sent_at(headers, defects),
        thread_id=references[0] if references else in_reply_to or key,
        in_reply_to=in_reply_to,
        references=references,
        text=text,
        forwarded=reply.forwarded[:MAX_TEXT_CHARS],
        snippet=_snippet(text or mime.text),
        attachments=mime.attachments,
        auto_headers=auto_headers(headers, calendar_method=mime.calendar_method),
        report_type=mime.report_type,
        size_bytes=len(raw),
        defects=_unique(defects)[:MAX_DEFECTS],
        counterpart=counterpart,
        bounce=bounce,
        sender_evidence=claim.evidence,
        spoofed_sender=claim.spoofed,
    )


def _parsed(raw: bytes) -> tuple[Message, list[str], bool]:
    """The message, parser-level defects, and whether only its headers could be parsed."""
    bounded, defects = _bounded_boundaries(raw)
    try:
        return email.message_from_bytes(bounded, policy=policy.compat32), defects, False
    except RecursionError:  # message/rfc822 nested about a thousand deep
        defects.append("MimeNestingTooDeepDefect")
    except MemoryError:  # not a defect of the message: the parser worker ran out (parsing.py)
        raise
    except Exception as exc:  # the feedparser is lenient; this is a last resort
        defects.append(f"ParserDefect: {type(exc).__name__}")
    try:
        return BytesHeaderParser(policy=policy.compat32).parsebytes(raw), defects, True
    except Exception as exc:
        raise UnparseableMessage("not_a_message", f"parser failed: {type(exc).__name__}") from exc


def _bounded_boundaries(raw: bytes) -> tuple[bytes, list[str]]:
    """Disable multipart boundaries past the first `MAX_BOUNDARIES`.

    The feedparser checks every line against every open boundary, so nesting costs
    depth x lines: a hostile message nested a thousand deep takes seconds. Parts past the
    limit stay in the tree as opaque leaves.
    """
    if raw.count(b"oundary") + raw.count(b"OUNDARY") <= MAX_BOUNDARIES:
        return raw, []
    seen = 0

    def rename(match: re.Match[bytes]) -> bytes:
        nonlocal seen
        seen += 1
        return match.group(0) if seen <= MAX_BOUNDARIES else b"x-ignored-" + match.group(0)

    bounded = _BOUNDARY_PARAM_RE.sub(rename, raw)
    return bounded, ["TooManyMimeBoundariesDefect"] if seen > MAX_BOUNDARIES else []


def _addresses(headers: HeaderMap, name: str, defects: list[str]) -> list[EmailAddress]:
    values = headers.all(name)
    if not values:
        return []
    value = ", ".join(values)
    if len(value) > MAX_ADDRESS_HEADER_CHARS:
        defects.append(f"HeaderTooLongDefect: {name}")
        value = value[:MAX_ADDRESS_HEADER_CHARS]
    if len(value) <= _CACHED_CHARS:
        parsed = list(_parsed_addresses(value))
    else:
        parsed = parse_address_list(value)
    if any(not address.valid for address in parsed):
        defects.append(f"InvalidAddressDefect: {name}")
    return parsed


@lru_cache(maxsize=4096)
def _parsed_addresses(value: str) -> tuple[EmailAddress, ...]:
    # The same headers recur (our own address in every inbound To:) and address validation is
    # the most expensive step of a parse; EmailAddress is frozen, so sharing is safe.
    return tuple(parse_address_list(value))


def _references(headers: HeaderMap) -> list[str]:
    ids = message_ids(" ".join(headers.all("References")))
    if len(ids) > MAX_REFERENCES:
        # Keep the thread root and the most recent ancestors (cf. RFC 5322 §3.6.4 practice).
        ids = ids[:1] + ids[-(MAX_REFERENCES - 1) :]
    return ids


def _subject(headers: HeaderMap, defects: list[str]) -> str:
    value = headers.first("Subject")
    if value is None:
        return ""
    text, word_defects = decode_words(unfold(value[: MAX_SUBJECT_CHARS * 8]))
    defects.extend(word_defects)
    return _SPACE_RE.sub(" ", text).strip()[:MAX_SUBJECT_CHARS]


def _sent_at(headers: HeaderMap, defects: list[str]) -> datetime | None:
    value = headers.first("Date")
    if value is None:
        defects.append("MissingDateDefect")
        return None
    try:
        parsed = parsedate_to_datetime(unfold(value).strip()[:200])
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)  # "-0000": UTC, origin unknown (RFC 5322 §3.3)
        return parsed.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append("InvalidDateDefect")
        return None


def _snippet(text: str) -> str:
    collapsed = _SPACE_RE.sub(" ", _INVISIBLE_RE.sub("", text[: SNIPPET_CHARS * 20])).strip()
    return collapsed[:SNIPPET_CHARS].rstrip()


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
