"""Dropping the repeats of at-least-once delivery, for any Python consumer of our topics.

Every Switchboard topic is delivered at least once: a producer that was not sure its record was
written (the broker stalled) sends it again, and a consumer group re-reads what it had not
committed. A repeat always carries the same `ce_id` header, so a consumer drops what it has
seen:

    dedupe = Dedupe(100_000)
    ...
    if not dedupe.first_time(message):  # a faststream KafkaMessage, an aiokafka record,
        return                          # or just their headers

`first_time` remembers the id at once. When the work can fail after that and the message is
delivered again (the offset is committed only after the work), remember it only once the work
is done: `if dedupe.seen(record): skip`, work, `dedupe.remember(record)`.

This is memory, bounded (the oldest ids are forgotten first) and lost on restart: it catches
the repeats that come close together, which are nearly all of them. Where a repeat must never
take effect, make the effect itself idempotent (store the ce_id under a unique key in the same
transaction, as crm-store does), or keep `snapshot()` somewhere durable and pass it back as
`Dedupe(size, remembered=...)` on start: how durable is the consumer's choice.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

CE_ID = "ce_id"


def ce_id_of(source: Any) -> str | None:
    """The ce_id of a message, a record, or headers (a mapping or (name, value) pairs)."""
    headers = getattr(source, "headers", source)
    if isinstance(headers, Mapping):
        value = headers.get(CE_ID)
    else:
        value = next((v for k, v in headers or () if k == CE_ID), None)
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", "replace")
    return value or None


class Dedupe:
    """The ce_ids seen lately (at most `size`, least recently seen forgotten first)."""

    def __init__(self, size: int = 100_000, *, remembered: Iterable[str] = ()) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()
        for event_id in remembered:
            self._add(event_id)

    def __len__(self) -> int:
        return len(self._ids)

    def seen(self, source: Any) -> bool:
        """Was this event (by ce_id) remembered already? An event without one never was."""
        event_id = ce_id_of(source)
        if event_id is None or event_id not in self._ids:
            return False
        self._ids.move_to_end(event_id)
        return True

    def remember(self, source: Any) -> None:
        """Remember this event as handled."""
        event_id = ce_id_of(source)
        if event_id is not None:
            self._add(event_id)

    def first_time(self, source: Any) -> bool:
        """True the first time an event is offered (and remember it); False for its repeats."""
        if self.seen(source):
            return False
        self.remember(source)
        return True

    def forget(self, source: Any) -> None:
        """Forget an event, so its redelivery is handled (after `first_time`, when the work
        failed)."""
        event_id = ce_id_of(source)
        if event_id is not None:
            self._ids.pop(event_id, None)

    def snapshot(self) -> list[str]:
        """The remembered ids, oldest first: what to keep for `Dedupe(remembered=...)`."""
        return list(self._ids)

    def _add(self, event_id: str) -> None:
        self._ids[event_id] = None
        self._ids.move_to_end(event_id)
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)
