"""Helpers both ingest services share: remembering recent event ids and keeping rejects."""

from __future__ import annotations

import base64
import hashlib
import json
from collections import OrderedDict
from datetime import UTC, datetime

from switchboard_shared.cloudevents import KafkaRecord, deterministic_id, encode
from switchboard_shared.events import IngestRejected
from switchboard_shared.topics import INGEST_REJECTED

MAX_KEPT_BYTES = 512_000  # base64 of this stays well inside Kafka's 1 MiB record limit


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
) -> KafkaRecord:
    """An `ingest.rejected.v1` record keeping authenticated input that could not be used.

    Bodies beyond what a Kafka record can carry keep their first `MAX_KEPT_BYTES`, with the
    original size and digest, so the record is always publishable and nothing loops on it.
    """
    original = body
    truncated = len(body) > MAX_KEPT_BYTES
    body = body[:MAX_KEPT_BYTES]
    try:
        text, encoding = body.decode("utf-8"), "utf-8"
        if len(json.dumps(text)) > 4 * len(body) // 3 + 4:  # JSON escapes would grow it more
            raise UnicodeDecodeError("utf-8", body, 0, 0, "escapes")
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(body).decode(), "base64"
    event = IngestRejected(
        source=source,
        reason=reason,
        detail=detail,
        content_type=content_type,
        body=text,
        body_encoding=encoding,
        body_bytes=len(original),
        body_sha256=hashlib.sha256(original).hexdigest(),
        truncated=truncated,
        received_at=datetime.now(UTC),
    )
    event_id = deterministic_id(INGEST_REJECTED.name, source, event.body_sha256 or "")
    return encode(INGEST_REJECTED, event, id=event_id, source=f"switchboard/{service}", key=source)
