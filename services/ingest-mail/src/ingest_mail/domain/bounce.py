"""Delivery status notifications: which addresses failed, for good or for now, and why.

Sources, the first that names a recipient wins:

1. RFC 3464 ``message/delivery-status`` (and RFC 6533 ``message/global-delivery-status``)
   blocks: ``Original-Recipient`` when given as rfc822, else ``Final-Recipient``; ``Action``
   failed or delayed; ``Status``; ``Diagnostic-Code``. A failure is permanent unless it is a
   delay or its status is 4.x.x (the server gave up on a transient problem).
2. ``X-Failed-Recipients`` (Exim, Gmail, Postfix with the header).
3. flufl.bounce (Mailman's detectors, Apache-2.0): qmail, Postfix, Exim, Exchange, Yahoo,
   GroupWise, SMTP32 and the "simple" text formats.
4. Our own reading of the human-readable part for what those miss: the recipient lines of
   the common formats ("<addr>:" under qmail's and Postfix's preambles, Gmail's "wasn't
   delivered to", Exchange's "Delivery has failed to these recipients", "RCPT TO:<addr>"...).

Amazon SES's bounce notifications by e-mail (JSON, bare or inside an SNS envelope, from an
amazonaws.com / amazonses.com sender) are read apart (`read_ses_bounce`): `bouncedRecipients`,
`bounceType` Permanent or not, each recipient's `status` and `diagnosticCode`. Its complaint
and delivery notifications are not bounces.

Only a message that looks like a bounce is read (a report, a mail system's sender, a null
Return-Path, X-Failed-Recipients or a bounce subject): flufl.bounce's text detectors find
"failures" in quoted human mail. Everything is bounded: parts walked, blocks read, characters
scanned and recipients kept.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from typing import Any

from flufl.bounce import all_failures

from ingest_mail.domain.headers import HeaderMap, message_ids, normalise_message_id, unfold
from ingest_mail.domain.mime import serialised_body
from switchboard_shared.email_address import parse_address
from switchboard_shared.events.mail import Bounce

__all__ = ["MAX_RECIPIENTS", "looks_like_bounce", "read_bounce", "read_ses_bounce"]

MAX_RECIPIENTS = 50
MAX_DIAGNOSTIC_CHARS = 500
MAX_PARTS = 200  # parts of the bounce walked for status blocks and returned headers
MAX_BLOCKS = 200  # recipient blocks read per delivery-status part
MAX_SCAN_CHARS = 64_000  # of the human-readable text searched by our own patterns
MAX_LIBRARY_BYTES = 1_000_000  # larger bounces are not handed to flufl.bounce's detectors

_DSN_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
_RETURNED_TYPES = frozenset({"message/rfc822", "message/global", "text/rfc822-headers"})
_RETURNED_HEADERS_TYPES = frozenset({"text/rfc822-headers", "message/global-headers"})
_DAEMON_RE = re.compile(
    r"^(?:mailer[-_.]?daemon|post[-_.]?master|mail[-_. ]?delivery[-_. ]?(?:sub)?system"
    r"|mail[-_. ]?administrator|mdaemon|mailadmin|mail[-_.]?master|(?:internet )?mail delivery"
    r"|mail[-_.]?(?:system|router)|bounces?|double-bounce|system administrator)$",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT_RE = re.compile(
    r"undeliver|returned mail|returned to sender|delivery (?:status|failure|failed|has failed"
    r"|notification|problem)|failure notice|non[- ]?delivery|mail delivery (?:failed|failure)"
    r"|could ?n[o']t be delivered|cannot be delivered|not delivered|unzustellbar"
    r"|nicht zustellbar|message (?:was )?(?:returned|rejected|bounced)|mail system error"
    r"|メールエラー|notification d.[ée]tat de la distribution|delivery (?:status )?warning"
    r"|mail delivery warning|delayed mail|warning: could not send",
    re.IGNORECASE,
)
_REPLY_SUBJECT_RE = re.compile(r"^\s*(?:re|aw|sv|vs|antw|odp|fwd?|wg)\s*:", re.IGNORECASE)
_STATUS_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_SMTP_REPLY_RE = re.compile(r"(?<![\d.])([45]\d\d)(?:[ -]|$)")
_SPACE_RE = re.compile(r"\s+")
# Where the human-readable text ends and the returned original (or its headers) begins.
_RETURNED_START_RE = re.compile(
    r"^\s*(?:-{2,}.{0,40}(?:below this line is a copy|original message|returned message"
    r"|message (?:headers|text) follow|original message headers|undelivered message|copy of)"
    r"|-{3,} (?:this is a copy of|the (?:original|header) of)|--- ?below this line"
    r"|_{10,}|(?:original|returned) message:|------ ?This is a copy)",
    re.IGNORECASE | re.MULTILINE,
)
# Lines that name a recipient in the free-text formats flufl.bounce does not know.
_ADDR = r"([^<>\s,;:\"()\[\]]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)"
_RECIPIENT_LINE_RES = tuple(
    re.compile(pattern.replace("ADDR", _ADDR), re.IGNORECASE | re.MULTILINE)
    for pattern in (
        r"^\s*<ADDR>:?\s*$",  # qmail, OpenSMTPD, Courier: the address alone on its line
        r"^[ \t]*ADDR[ \t]*(?:\[[^\]\n]{0,200}\]|\([^)\n]{0,200}\))?[ \t]*$",
        r"^\s*<?ADDR>?:\s+(?:host|delivery|mail for|user|connect|unknown|said|mailbox"
        r"|recipient|\d{3}\b)",  # Postfix-like "addr: host ... said"
        r"(?:(?:wasn't|was not|couldn't be|could not be|cannot be|not) delivered to"
        r"|(?:error|failure) (?:in )?delivering (?:your )?(?:mail|message) to)\s+<?ADDR",
        r"(?:delivery has failed to these recipients or groups|following (?:recipients?"
        r"|addresses?)(?: had (?:permanent )?fatal errors| failed|\(es\) failed| could not"
        r" be reached| was undeliverable)?|could not deliver (?:the )?(?:message|mail) to"
        r"|delivery to the following recipients? (?:failed|has been delayed)"
        r"|unable to deliver (?:the )?(?:message|mail) to|undeliverable to"
        r"|recipient address rejected|delivery failed for)\s*:?\s*\n?\s*"
        r"\"?[^\n<@]{0,80}?<?ADDR",
        r"RCPT TO:\s*<ADDR>",
        r"^\s*(?:final-|original-)?recipient:\s*(?:rfc822;\s*)?<?ADDR",
    )
)
# A bounce's own words say that something failed (or quote the server's error code).
_FAILURE_WORDS_RE = re.compile(
    r"deliver|fail|bounce|reject|refused|unknown|not found|no such|does not exist|quota"
    r"|mailbox|permanent|giving up|given up|unreachable|undeliver|zustell|remis|entreg|consegn"
    r"|доставл|配信|送信|(?<![\d.])[45]\d\d(?![\d.])|(?<![\d.])[45]\.\d{1,3}\.\d{1,3}",
    re.IGNORECASE,
)
_INLINE_HEADER_RE = re.compile(
    r"^[ \t]*(message-id|in-reply-to)[ \t]*:[ \t]*(.{0,998})$", re.IGNORECASE | re.MULTILINE
)
_ACTION_FAILED = ("fail", "error")
_ACTION_DELAYED = ("delay",)


@dataclass(frozen=True, slots=True)
class _Failure:
    address: str
    permanent: bool
    status: str | None = None
    diagnostic: str | None = None


def looks_like_bounce(
    headers: HeaderMap, *, report_type: str | None, part_types: set[str], subject: str
) -> bool:
    """The signals under which a message is read as a bounce."""
    if report_type in ("delivery-status", "global-delivery-status") or part_types & _DSN_TYPES:
        return True
    if headers.first("X-Failed-Recipients"):
        return True
    null_path = any(value.strip().replace(" ", "") == "<>" for value in headers.all("Return-Path"))
    raw_sender = unfold(headers.first("From") or "")[:500]
    sender = parse_address(raw_sender)
    words = {word.strip("<>\"' ") for word in re.split(r"[<>()\"]", raw_sender)}
    if sender is not None:
        words |= {sender.name or "", (sender.address or "").rpartition("@")[0]}
    words |= {word.split("@")[0].rstrip("\\") for word in list(words) if "@" in word}
    daemon = any(_DAEMON_RE.match(word.strip()) for word in words if word)
    bounce_subject = bool(_BOUNCE_SUBJECT_RE.search(subject[:500]))
    returned = bool(part_types & _RETURNED_TYPES)
    # A bounce subject alone could be a person's words; not on a reply in a thread.
    unthreaded = not headers.first("In-Reply-To") and not _REPLY_SUBJECT_RE.match(subject)
    return daemon or (bounce_subject and (null_path or returned or sender is None or unthreaded))


def read_bounce(message: Message, headers: HeaderMap, *, text: str, size: int) -> Bounce | None:
    """The bounce's failed recipients and why; None when nothing names a failed recipient."""
    parts = list(_parts(message))
    failures = _dsn_failures(parts)
    if not failures:
        failures = _header_failures(headers)
    human = _human_text(text)
    if not failures:
        # The free-text readers can pick up a returned Message-ID, never a recipient, and the
        # bounce's own parties (the original sender: us), a recipient only when nothing else
        # is named (a test message sent to oneself).
        ids, parties = _not_recipients(headers, text)
        if size <= MAX_LIBRARY_BYTES:
            failures = _preferred(_library_failures(message), ids, parties)
        if not failures:
            failures = _preferred(_text_failures(human), ids, parties)
    if not failures:
        return None
    permanent = [failure for failure in failures if failure.permanent]
    chosen = permanent or failures
    first = chosen[0]
    status = first.status or _status_in(human, permanent=bool(permanent))
    diagnostic = first.diagnostic or _diagnostic_in(human)
    original_id, original_reply_to = _returned_ids(parts, text)
    return Bounce(
        recipients=list(dict.fromkeys(failure.address for failure in chosen))[:MAX_RECIPIENTS],
        permanent=bool(permanent),
        status=status,
        diagnostic=diagnostic,
        original_message_id=original_id,
        original_in_reply_to=original_reply_to,
    )


_SES_DOMAINS = ("amazonses.com", "amazonaws.com")
_SNS_WRAP_RE = re.compile(r"!\r?\n ")  # SNS e-mail notifications break long lines with "!"


def _is_ses_sender(headers: HeaderMap) -> bool:
    sender = parse_address(headers.first("From"))
    domain = (sender.address or "").rpartition("@")[2] if sender is not None else ""
    return any(domain == name or domain.endswith("." + name) for name in _SES_DOMAINS)


def read_ses_bounce(headers: HeaderMap, text: str) -> Bounce | None:
    """An Amazon SES bounce notification (JSON, bare or in an SNS envelope) from an SES
    sender; None for anything else, SES's delivery and complaint notifications included."""
    if not _is_ses_sender(headers) or "notificationType" not in text[:MAX_SCAN_CHARS]:
        return None
    notification = _json_object(_SNS_WRAP_RE.sub("", text[:MAX_SCAN_CHARS]))
    envelope = notification.get("Message")
    if isinstance(envelope, str):  # the SNS envelope
        notification = _json_object(envelope[:MAX_SCAN_CHARS])
    bounce = notification.get("bounce")
    if notification.get("notificationType") != "Bounce" or not isinstance(bounce, dict):
        return None
    permanent = str(bounce.get("bounceType", "")).lower() == "permanent"
    failures: list[_Failure] = []
    listed = bounce.get("bouncedRecipients")
    for item in listed[:MAX_BLOCKS] if isinstance(listed, list) else []:
        if not isinstance(item, dict):
            continue
        address = _normalised(str(item.get("emailAddress", "")))
        if address is not None:
            status = _status_in(str(item.get("status", "")), permanent=None)
            diagnostic = _diagnostic(str(item.get("diagnosticCode", "")) or None)
            failures.append(_Failure(address, permanent, status, diagnostic))
    if not failures:
        return None
    mail = notification.get("mail")
    common = mail.get("commonHeaders") if isinstance(mail, dict) else None
    original = common.get("messageId") if isinstance(common, dict) else None
    return Bounce(
        recipients=list(dict.fromkeys(f.address for f in failures))[:MAX_RECIPIENTS],
        permanent=permanent,
        status=failures[0].status,
        diagnostic=failures[0].diagnostic,
        original_message_id=normalise_message_id(original) if isinstance(original, str) else None,
    )


def _json_object(text: str) -> dict[str, object]:
    start = text.find("{")
    if start < 0:
        return {}
    try:
        found, _ = json.JSONDecoder().raw_decode(text, start)
    except (ValueError, RecursionError):
        return {}
    return found if isinstance(found, dict) else {}


def _payload(part: Message) -> Any:
    """`get_payload()`, or None for a part the library cannot even hand over: a text payload
    with undecodable bytes under a declared charset such as `punycode` raises."""
    try:
        return part.get_payload()
    except (UnicodeError, LookupError, ValueError):
        return None


def _parts(message: Message) -> Iterator[Message]:
    """The bounce's parts in order, not descending into returned messages, at most MAX_PARTS."""
    stack = [message]
    seen = 0
    while stack and seen < MAX_PARTS:
        part = stack.pop()
        seen += 1
        yield part
        if part.get_content_maintype() == "multipart":
            payload = _payload(part)
            if isinstance(payload, list):
                stack.extend(reversed([p for p in payload if isinstance(p, Message)]))


def _dsn_failures(parts: list[Message]) -> list[_Failure]:
    failures: list[_Failure] = []
    for part in parts:
        if part.get_content_type() not in _DSN_TYPES:
            continue
        for block in _status_blocks(part)[1 : MAX_BLOCKS + 1]:
            failure = _block_failure(block)
            if failure is not None:
                failures.append(failure)
    return failures


def _status_blocks(part: Message) -> list[HeaderMap]:
    """The per-message block and the per-recipient blocks of a delivery-status part."""
    payload = _payload(part)
    if isinstance(payload, list) and all(isinstance(p, Message) for p in payload):
        blocks = [HeaderMap.of(p) for p in payload[: MAX_BLOCKS + 1] if isinstance(p, Message)]
        if len(blocks) >= 2:
            return blocks
    data = serialised_body(part)  # parsed as one message (its headers and "body") or text
    raw = data.decode("utf-8", "replace")
    raw = raw.replace("\r\n", "\n")[: MAX_SCAN_CHARS * 4]
    parser = HeaderParser()
    return [
        HeaderMap(parser.parsestr(chunk.strip() + "\n").items())
        for chunk in re.split(r"\n[ \t]*\n", raw)
        if chunk.strip()
    ][: MAX_BLOCKS + 1]


def _block_failure(block: HeaderMap) -> _Failure | None:
    action = (block.first("Action") or "").strip().lower()
    status = _status_in(block.first("Status") or "", permanent=None)
    delayed = action.startswith(_ACTION_DELAYED)
    failed = action.startswith(_ACTION_FAILED) or (not action and status is not None)
    if not (failed or delayed) or (status is not None and status.startswith("2")):
        return None
    address = _recipient(block.first("Original-Recipient"), rfc822_only=True) or _recipient(
        block.first("Final-Recipient"), rfc822_only=False
    )
    if address is None:
        return None
    # "failed" with a 4.x.x status: the MTA gave up retrying a transient problem (host down,
    # mailbox full, rate limit); the address itself was not refused, so it is not permanent.
    permanent = not delayed and (status is None or not status.startswith("4"))
    return _Failure(address, permanent, status, _diagnostic(block.first("Diagnostic-Code")))


def _recipient(value: str | None, *, rfc822_only: bool) -> str | None:
    if not value:
        return None
    kind, semicolon, rest = unfold(value).partition(";")
    if not semicolon:
        kind, rest = "rfc822", kind
    if rfc822_only and kind.strip().lower() not in ("rfc822", "utf-8"):
        return None
    return _normalised(rest)


def _normalised(value: str) -> str | None:
    value = value.strip().strip("<>\"'").strip()
    if not value or len(value) > 320:
        return None
    parsed = parse_address(value)
    return parsed.address if parsed is not None else None


def _diagnostic(value: str | None) -> str | None:
    if not value:
        return None
    kind, semicolon, rest = unfold(value).partition(";")
    text = rest if semicolon and len(kind) <= 20 else kind
    text = _SPACE_RE.sub(" ", text).strip()
    return text[:MAX_DIAGNOSTIC_CHARS] or None


def _header_failures(headers: HeaderMap) -> list[_Failure]:
    found: list[_Failure] = []
    for value in headers.all("X-Failed-Recipients"):
        for token in re.split(r"[\s,;]+", unfold(value)[:20_000]):
            address = _normalised(token)
            if address is not None:
                found.append(_Failure(address, permanent=True))
    return found


def _library_failures(message: Message) -> list[_Failure]:
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # third-party heuristics on hostile input must never fail the parse
        return []
    found: list[_Failure] = []
    for addresses, is_permanent in ((permanent, True), (temporary, False)):
        for raw in sorted(addresses):
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            address = _normalised(text)
            if address is not None:
                found.append(_Failure(address, permanent=is_permanent))
    return found


def _human_text(text: str) -> str:
    """The bounce's own words: the body text up to where the returned original begins."""
    text = text[:MAX_SCAN_CHARS]
    marker = _RETURNED_START_RE.search(text)
    return text[: marker.start()] if marker is not None else text


def _not_recipients(headers: HeaderMap, text: str) -> tuple[set[str], set[str]]:
    """The Message-IDs quoted in the bounce, and its own parties, as normalised addresses."""
    ids = {
        found.strip("<>").lower()
        for match in _INLINE_HEADER_RE.finditer(text[: MAX_SCAN_CHARS * 2])
        for found in message_ids(match.group(2), limit=5)
    }
    parties = {
        parsed.address
        for name in ("From", "To", "Sender", "Reply-To")
        for value in headers.all(name)[:5]
        if (parsed := parse_address(value)) is not None and parsed.address
    }
    return ids, parties


def _preferred(failures: list[_Failure], ids: set[str], parties: set[str]) -> list[_Failure]:
    candidates = [failure for failure in failures if failure.address not in ids]
    others = [failure for failure in candidates if failure.address not in parties]
    return others or candidates


def _text_failures(human: str) -> list[_Failure]:
    if not _FAILURE_WORDS_RE.search(human):
        return []  # no word of a failure: a person's message with a bounce-like subject
    found: dict[str, int] = {}
    for regex in _RECIPIENT_LINE_RES:
        for match in regex.finditer(human):
            address = _normalised(match.group(1))
            if address is None or _is_daemon_address(address):
                continue
            found.setdefault(address, match.start())
            if len(found) >= MAX_RECIPIENTS:
                break
    if not found:
        return []
    status = _status_in(human, permanent=None)
    permanent = status is None or not status.startswith("4")
    ordered = sorted(found, key=found.__getitem__)
    return [_Failure(address, permanent) for address in ordered]


def _is_daemon_address(address: str) -> bool:
    return bool(_DAEMON_RE.match(address.rpartition("@")[0]))


def _status_in(text: str, *, permanent: bool | None) -> str | None:
    """The first enhanced status code (RFC 3463) in `text` of the wanted class."""
    for match in _STATUS_RE.finditer(text[:MAX_SCAN_CHARS]):
        klass = match.group(1)
        if klass == "2" and permanent is not None:
            continue
        if permanent is None or (klass == "5") == permanent:
            return ".".join(match.groups())
    return None


def _diagnostic_in(human: str) -> str | None:
    """The first line of the bounce's text quoting a remote server's SMTP error reply."""
    for line in human.splitlines()[:400]:
        if _SMTP_REPLY_RE.search(line) and not line.lstrip().startswith(">"):
            text = _SPACE_RE.sub(" ", line).strip()
            if len(text) >= 8:
                return text[:MAX_DIAGNOSTIC_CHARS]
    return None


def _returned_ids(parts: list[Message], text: str) -> tuple[str | None, str | None]:
    """Message-ID and In-Reply-To of the returned original: its part, else its inline copy."""
    for part in parts:
        content_type = part.get_content_type()
        if content_type not in _RETURNED_TYPES:
            continue
        returned: HeaderMap | None = None
        payload = _payload(part)
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            returned = HeaderMap.of(payload[0])
        elif content_type in _RETURNED_HEADERS_TYPES or isinstance(payload, str):
            with contextlib.suppress(Exception):
                data = part.get_payload(decode=True)
                raw = data.decode("utf-8", "replace") if isinstance(data, bytes) else ""
                returned = HeaderMap(HeaderParser().parsestr(raw[: MAX_SCAN_CHARS * 4]).items())
        if returned is not None and returned.first("Message-ID"):
            return (
                normalise_message_id(unfold(returned.first("Message-ID") or "")),
                normalise_message_id(unfold(returned.first("In-Reply-To") or "")),
            )
    return _inline_ids(text)


def _inline_ids(text: str) -> tuple[str | None, str | None]:
    found: dict[str, str | None] = {}
    for match in _INLINE_HEADER_RE.finditer(text[: MAX_SCAN_CHARS * 2]):
        name = match.group(1).lower()
        if name not in found:
            ids = message_ids(match.group(2), limit=1)
            found[name] = ids[0] if ids else None
    return found.get("message-id"), found.get("in-reply-to")
