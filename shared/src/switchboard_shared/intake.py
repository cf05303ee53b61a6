"""Helpers both ingest services share: remembering recent event ids and keeping rejects."""

from __future__ import annotations

import base64
from collections import OrderedDict
from datetime import UTC, datetime

from switchboard_shared.cloudevents import KafkaRecord, deterministic_id, encode
from switchboard_shared.events import IngestRejected
from switchboard_shared.topics import INGEST_REJECTED


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
    """An `ingest.rejected.v1` record keeping authenticated input that could not be used."""
    try:
        text, encoding = body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(body).decode(), "base64"
    event = IngestRejected(
        source=source,
        reason=reason,
        detail=detail,
        content_type=content_type,
        body=text,
        body_encoding=encoding,
        received_at=datetime.now(UTC),
    )
    event_id = deterministic_id(INGEST_REJECTED.name, source, text)
    return encode(INGEST_REJECTED, event, id=event_id, source=f"switchboard/{service}", key=source)
