"""CloudEvents 1.0, Kafka protocol binding, binary content mode.

Attributes travel as `ce_*` headers, the data as the JSON value. `ce_id` is derived from what
identifies the event at its source, so a provider's retry or a redelivery yields the same id and
every consumer can dedupe on it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from switchboard_shared.events import Event
from switchboard_shared.topics import BY_TYPE, Topic

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
# Namespace for uuid5 ids; fixed forever, changing it changes every id.
ID_NAMESPACE = uuid.UUID("6f1c2a8e-3b0d-5c6e-9a51-7d2f4b8e0c13")


class CloudEventError(ValueError):
    """A record that is not a valid CloudEvent of a known type."""


_NAMESPACE_BYTES = ID_NAMESPACE.bytes


def deterministic_id(*parts: str) -> str:
    """A stable id for the same source facts: uuid5 over the parts joined by `|`.

    Computed as RFC 4122 does (`uuid.uuid5` gives the same string), without building a
    `UUID` object: services derive several ids per event.
    """
    name = _NAMESPACE_BYTES + "|".join(parts).encode()
    digest = bytearray(hashlib.sha1(name, usedforsecurity=False).digest()[:16])  # RFC 4122
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True)
class Envelope:
    """The CloudEvents attributes of one record."""

    id: str
    source: str
    type: str
    time: datetime
    subject: str | None = None
    extensions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class KafkaRecord:
    """What goes on the wire."""

    topic: str
    key: bytes | None
    value: bytes | None  # None: a tombstone on a compacted topic
    headers: dict[str, str]


def encode(
    topic: Topic,
    data: Event,
    *,
    id: str,
    source: str,
    key: str | None,
    time: datetime | None = None,
    subject: str | None = None,
) -> KafkaRecord:
    if not isinstance(data, topic.model):
        raise TypeError(f"{topic.name} carries {topic.model.__name__}, not {type(data).__name__}")
    when = (time or datetime.now(UTC)).astimezone(UTC)
    headers = {
        "ce_specversion": SPEC_VERSION,
        "ce_id": id,
        "ce_source": source,
        "ce_type": topic.ce_type,
        "ce_time": when.isoformat().replace("+00:00", "Z"),
        "content-type": CONTENT_TYPE,
    }
    if subject:
        headers["ce_subject"] = subject
    value = data.model_dump_json(by_alias=True).encode()
    return KafkaRecord(topic.name, key.encode() if key else None, value, headers)


def encode_tombstone(
    topic: Topic, *, key: str, id: str, source: str, time: datetime | None = None
) -> KafkaRecord:
    """A keyed record with a null value: compaction removes the key.

    The CloudEvents attributes still travel as headers, so consumers can log and dedupe it.
    """
    if not topic.compacted:
        raise TypeError(f"{topic.name} is not compacted: a tombstone there means nothing")
    when = (time or datetime.now(UTC)).astimezone(UTC)
    headers = {
        "ce_specversion": SPEC_VERSION,
        "ce_id": id,
        "ce_source": source,
        "ce_type": topic.ce_type,
        "ce_time": when.isoformat().replace("+00:00", "Z"),
        "ce_subject": "tombstone",
    }
    return KafkaRecord(topic.name, key.encode(), None, headers)


def _header_map(headers: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> dict[str, str]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for name, raw in items:
        out[name.lower()] = raw.decode() if isinstance(raw, bytes | bytearray) else str(raw)
    return out


def decode_envelope(headers: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> Envelope:
    h = _header_map(headers)
    missing = [n for n in ("ce_specversion", "ce_id", "ce_source", "ce_type") if not h.get(n)]
    if missing:
        raise CloudEventError(f"missing CloudEvents headers: {', '.join(missing)}")
    if h["ce_specversion"] != SPEC_VERSION:
        raise CloudEventError(f"unsupported ce_specversion {h['ce_specversion']!r}")
    try:
        time = datetime.fromisoformat(h["ce_time"]) if h.get("ce_time") else datetime.now(UTC)
    except ValueError as exc:
        raise CloudEventError(f"bad ce_time {h['ce_time']!r}") from exc
    known = {"ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject"}
    ext = {k[3:]: v for k, v in h.items() if k.startswith("ce_") and k not in known}
    return Envelope(h["ce_id"], h["ce_source"], h["ce_type"], time, h.get("ce_subject"), ext)


def decode(
    headers: Mapping[str, Any] | Iterable[tuple[str, Any]], value: bytes | None
) -> tuple[Envelope, Event]:
    """Decode a record into its envelope and typed payload; raises CloudEventError."""
    envelope = decode_envelope(headers)
    topic = BY_TYPE.get(envelope.type)
    if topic is None:
        raise CloudEventError(f"unknown ce_type {envelope.type!r}")
    if value is None:
        raise CloudEventError("record has no value")
    try:
        data = topic.model.model_validate_json(value)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if errors and errors[0]["type"] == "json_invalid":
            raise CloudEventError(f"value is not JSON: {errors[0]['msg']}") from exc
        raise CloudEventError(f"invalid {topic.model.__name__}: {exc}") from exc
    return envelope, data
