"""Helpers both ingest services share: remembering recent event ids and keeping rejects."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import zlib
from collections import OrderedDict
from datetime import UTC, datetime

from switchboard_shared.cloudevents import KafkaRecord, deterministic_id, encode
from switchboard_shared.events import IngestRejected
from switchboard_shared.topics import INGEST_REJECTED

MAX_KEPT_BYTES = 512_000  # base64 of this stays well inside Kafka's 1 MiB record limit
GZIP_BASE64 = "gzip+base64"


class RecentIds:
    """Event ids published lately, so a sender's retry is not published twice.

    Consumers dedupe on ce_id anyway; this keeps the topics clean of the common case.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        if self.size <= 0:
            return
        self._ids[event_id] = None
        self._ids.move_to_end(event_id)
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)


def rejected_record(
    *,
    service: str,
    source: str,
    reason: str,
    detail: str,
    content_type: str | None,
    body: bytes,
    compress: bool = False,
    total_bytes: int | None = None,
) -> KafkaRecord:
    """An `ingest.rejected.v1` record keeping authenticated input that could not be used.

    A body that fits in `MAX_KEPT_BYTES` is kept as it is (UTF-8 text, or base64). With
    `compress`, a larger body is kept whole as base64 of its gzip (`body_encoding`
    `gzip+base64`) when that fits; hostile MIME (a million empty parts) compresses a thousand
    fold. Otherwise only its first `MAX_KEPT_BYTES` are kept (`truncated`), with the original
    size and digest, so the record is always publishable and nothing loops on it.

    `total_bytes` says `body` is already only the first bytes of a larger input of that size
    (read partially because it was too large); it is kept truncated, and its digest is the
    kept part's.
    """
    prefix_only = total_bytes is not None and total_bytes > len(body)
    original = body
    encoded: tuple[str, str] | None = None
    if compress and len(body) > MAX_KEPT_BYTES and not prefix_only:
        packed = gzip.compress(body, compresslevel=6, mtime=0)
        if len(packed) <= MAX_KEPT_BYTES:
            encoded = base64.b64encode(packed).decode(), GZIP_BASE64
    truncated = prefix_only or (encoded is None and len(body) > MAX_KEPT_BYTES)
    if encoded is None:
        encoded = _plain(body[:MAX_KEPT_BYTES])
    text, encoding = encoded
    event = IngestRejected(
        source=source,
        reason=reason,
        detail=detail,
        content_type=content_type,
        body=text,
        body_encoding=encoding,
        body_bytes=total_bytes if prefix_only else len(original),
        body_sha256=hashlib.sha256(original).hexdigest(),
        truncated=truncated,
        received_at=datetime.now(UTC),
    )
    identity = event.body_sha256 or ""
    if prefix_only:
        identity = f"{identity}/{total_bytes}"
    event_id = deterministic_id(INGEST_REJECTED.name, source, identity)
    return encode(INGEST_REJECTED, event, id=event_id, source=f"switchboard/{service}", key=source)


def _plain(body: bytes) -> tuple[str, str]:
    try:
        text = body.decode("utf-8")
        if len(json.dumps(text)) > 4 * len(body) // 3 + 4:  # JSON escapes would grow it more
            raise UnicodeDecodeError("utf-8", body, 0, 0, "escapes")
    except UnicodeDecodeError:
        return base64.b64encode(body).decode(), "base64"
    return text, "utf-8"


# A kept body never expands past this: it was at most a message the intake accepted (25 MB by
# default), and a record is hostile input like any other.
KEPT_BODY_MAX_BYTES = 256 * 1024 * 1024


class KeptBodyTooLarge(ValueError):
    """A gzip body that would expand past the bound (or past the size the record states)."""


def kept_body(rejected: IngestRejected, max_bytes: int = KEPT_BODY_MAX_BYTES) -> bytes:
    """The bytes a rejected record kept, whichever `body_encoding` it used (for replay).

    Check `truncated` first: a truncated body is only the input's first bytes. A gzip body is
    expanded to at most `max_bytes` (and to no more than its stated `body_bytes`), so a forged
    record cannot become a decompression bomb.
    """
    if rejected.body_encoding == GZIP_BASE64:
        limit = min(
            max_bytes, rejected.body_bytes if rejected.body_bytes is not None else max_bytes
        )
        inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
        data = inflater.decompress(base64.b64decode(rejected.body), limit + 1)
        if len(data) > limit or inflater.unconsumed_tail:
            raise KeptBodyTooLarge(f"the kept body expands past {limit} bytes")
        return data
    if rejected.body_encoding == "base64":
        return base64.b64decode(rejected.body)
    return rejected.body.encode("utf-8")
