"""Walking a parsed message: body text, attachment metadata, report type, calendar method.

Every part is decoded at most once: the chosen body parts to text, every other leaf to bytes for
its size and SHA-256 (content itself is never kept). Encapsulated messages (``message/*``) are
leaves: the original inside a bounce is one attachment, not our body. A failing part becomes a
defect and the walk goes on.
"""

from __future__ import annotations

import email
import hashlib
import re
from dataclasses import dataclass, field
from email import policy
from email.generator import BytesGenerator
from email.message import Message
from io import BytesIO

from ingest_mail.domain.charsets import decode_bytes
from ingest_mail.domain.headers import decode_words
from ingest_mail.domain.htmltext import html_to_text
from ingest_mail.domain.limits import LimitExceeded, check_limits, current_limits
from switchboard_shared.events.mail import Attachment

__all__ = ["MAX_ATTACHMENTS", "MimeSummary", "serialised_body", "summarise"]

MAX_DEPTH = 40
MAX_ATTACHMENTS = 200
MAX_BODY_CHARS = 200_000  # more than reply extraction and the snippet ever look at
MAX_HTML_CHARS = 1_000_000
_MAX_RECOVERIES = 3
_CALENDAR_TYPES = frozenset({"text/calendar", "application/ics", "text/x-vcalendar"})
_METHOD_RE = re.compile(rb"^METHOD[ \t]*:[ \t]*([A-Za-z-]{1,20})", re.MULTILINE | re.IGNORECASE)
_META_CHARSET_RE = re.compile(rb"<meta[^>]{0,200}charset=[\"']?([A-Za-z0-9_.:-]{1,40})", re.I)
_BOUNDARY_LINE_RE = re.compile(rb"^--([^\s-][^\r\n]{0,69}?)[ \t]*\r?\n(?=[A-Za-z-]+:)", re.M)


@dataclass
class MimeSummary:
    text: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    report_type: str | None = None
    calendar_method: str | None = None
    defects: list[str] = field(default_factory=list)


def summarise(message: Message) -> MimeSummary:
    walker = _Walker()
    body_parts = walker.visit(message, 0)
    walker.summary.text = walker.render(body_parts)
    return walker.summary


class _Walker:
    def __init__(self) -> None:
        self.summary = MimeSummary()
        self._recoveries = 0
        self._limits = current_limits()
        self._decoded = 0

    def decoded(self, data: object) -> None:
        """Count decoded bytes against `max_decoded_bytes`, when limits apply."""
        if self._limits is None or not isinstance(data, bytes | str):
            return
        self._count(len(data))

    def decoding(self, part: Message) -> bytes | None:
        """`part.get_payload(decode=True)`, counted against `max_decoded_bytes` before it is
        decoded (base64 decodes to three quarters of its length; other encodings to at most
        their length), so an over-large part is refused without being decoded."""
        if self._limits is not None:
            payload = part.get_payload()
            if isinstance(payload, str):
                encoding = str(part.get("content-transfer-encoding", "")).strip().lower()
                size = len(payload) * 3 // 4 if encoding == "base64" else len(payload)
                self._count(size)
        data = part.get_payload(decode=True)
        return data if isinstance(data, bytes) else None

    def _count(self, size: int) -> None:
        assert self._limits is not None
        self._decoded += size
        if self._decoded > self._limits.max_decoded_bytes:
            raise LimitExceeded(
                "decoded_too_large", f"over {self._limits.max_decoded_bytes} decoded bytes"
            )

    def defect(self, text: str) -> None:
        if text not in self.summary.defects:
            self.summary.defects.append(text)

    def visit(self, part: Message, depth: int) -> list[Message]:
        """Record this subtree's attachments; return its body text parts in reading order."""
        for defect in getattr(part, "defects", ()):
            self.defect(type(defect).__name__)
        if depth > MAX_DEPTH:
            self.defect("MimeNestingTooDeepDefect")
            return []
        try:
            return self._visit(part, depth)
        except (LimitExceeded, MemoryError):
            raise
        except Exception as exc:  # one bad part must not lose the message
            self.defect(f"PartDefect: {type(exc).__name__}")
            return []

    def _visit(self, part: Message, depth: int) -> list[Message]:
        content_type = part.get_content_type()
        maintype, _, subtype = content_type.partition("/")
        payload = part.get_payload()
        if maintype == "multipart" and subtype == "report" and self.summary.report_type is None:
            self.summary.report_type = _report_type(part)
        if maintype == "multipart" and isinstance(payload, list):
            children = [child for child in payload if isinstance(child, Message)]
            if subtype == "alternative":
                return _preferred([self.visit(child, depth + 1) for child in children])
            found: list[Message] = []
            for child in children:
                found.extend(self.visit(child, depth + 1))
            return found
        if maintype == "multipart":
            recovered = self._recover(part)
            if recovered is not None:
                return self.visit(recovered, depth + 1)
            return [part]  # no usable boundary: the best we have is its text
        if maintype == "message" or isinstance(payload, list):
            body = serialised_body(part)
            self.decoded(body)
            self._attach(part, content_type, body)
            return []
        if maintype == "text" and subtype in ("plain", "html") and not _is_attachment(part):
            return [part]
        data = self.decoding(part)
        self._attach(part, content_type, data if isinstance(data, bytes) else b"")
        return []

    def _recover(self, part: Message) -> Message | None:
        """Re-parse a multipart whose declared boundary never occurs, using the one that does."""
        if self._recoveries >= _MAX_RECOVERIES:
            return None
        payload = self.decoding(part)
        if payload is None:
            return None
        match = _BOUNDARY_LINE_RE.search(payload)
        if match is None:
            return None
        self._recoveries += 1
        boundary = match.group(1).decode("ascii", "replace").replace('"', "")
        head = f'Content-Type: multipart/{part.get_content_subtype()}; boundary="{boundary}"\n\n'
        if self._limits is not None:  # a boundary the first scan did not know of
            check_limits(head.encode() + payload, self._limits)
        recovered = email.message_from_bytes(head.encode() + payload, policy=policy.compat32)
        if not recovered.is_multipart():
            return None
        self.defect("RecoveredBoundaryDefect")
        return recovered

    def _attach(self, part: Message, content_type: str, data: bytes) -> None:
        if content_type in _CALENDAR_TYPES and self.summary.calendar_method is None:
            self.summary.calendar_method = _calendar_method(part, data)
        if len(self.summary.attachments) >= MAX_ATTACHMENTS:
            self.defect("TooManyAttachmentsDefect")
            return
        self.summary.attachments.append(
            Attachment(
                name=self._filename(part),
                type=content_type,
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            )
        )

    def _filename(self, part: Message) -> str | None:
        raw = part.get_filename()
        if not raw:
            return None
        name, defects = decode_words(raw if isinstance(raw, str) else str(raw))
        for defect in defects:
            self.defect(defect)
        name = " ".join(name.split())
        return name[:255] or None

    def render(self, parts: list[Message]) -> str:
        texts: list[str] = []
        total = 0
        for part in parts:
            try:
                text = self._text_of(part)
            except (LimitExceeded, MemoryError):
                raise
            except Exception as exc:
                self.defect(f"PartDefect: {type(exc).__name__}")
                continue
            if text.strip():
                texts.append(text)
                total += len(text)
            if total >= MAX_BODY_CHARS:
                break
        return "\n\n".join(texts)[:MAX_BODY_CHARS]

    def _text_of(self, part: Message) -> str:
        data = self.decoding(part)
        if not isinstance(data, bytes):
            payload = part.get_payload()
            return payload if isinstance(payload, str) else ""
        is_html = part.get_content_subtype() == "html"
        charset = part.get_content_charset()
        if charset is None and is_html:
            meta = _META_CHARSET_RE.search(data, 0, 4096)
            charset = meta.group(1).decode("ascii") if meta else None
        decoded = decode_bytes(data, charset)
        if decoded.defect:
            self.defect(decoded.defect)
        if is_html:
            return html_to_text(decoded.text[:MAX_HTML_CHARS])
        return decoded.text


def _preferred(branches: list[list[Message]]) -> list[Message]:
    """Of multipart/alternative's branches, the first with plain text, else the last with any."""
    for branch in branches:
        if any(part.get_content_subtype() == "plain" for part in branch):
            return branch
    for branch in reversed(branches):
        if branch:
            return branch
    return []


def _is_attachment(part: Message) -> bool:
    return part.get_content_disposition() == "attachment" or bool(part.get_filename())


def _report_type(part: Message) -> str | None:
    value = part.get_param("report-type")
    if isinstance(value, str) and value.strip():
        return value.strip().strip("\"'").lower()[:64]
    return None


def _calendar_method(part: Message, data: bytes) -> str | None:
    declared = part.get_param("method")
    if isinstance(declared, str) and declared.strip():
        return declared.strip().upper()[:20]
    match = _METHOD_RE.search(data, 0, 65536)
    return match.group(1).decode("ascii").upper() if match else None


def serialised_body(part: Message) -> bytes:
    """The body of a ``message/*`` part, re-serialised (the parser keeps no raw bytes)."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        data = part.get_payload(decode=True)
        return data if isinstance(data, bytes) else b""
    buffer = BytesIO()
    generator = _RawHeaderGenerator(buffer, mangle_from_=False, policy=policy.compat32)
    for inner in payload:
        if isinstance(inner, Message):
            generator.flatten(inner)
    return buffer.getvalue()


class _RawHeaderGenerator(BytesGenerator):
    """Writes headers as received: the stock compat32 generator re-folds every header through
    `email.header.Header`, which costs more than the rest of the parse."""

    def _write_headers(self, msg: Message) -> None:
        for name, value in msg.raw_items():
            self.write(f"{name}: {value}\n")
        self.write("\n")
