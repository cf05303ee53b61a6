"""Asterisk Channel Event Logging (CEL) records in: the AMI field names, bounded, to `CelEvent`.

Three doors bring the same records: the AMI `CEL` event (`ami.py`), `POST
/webhooks/asterisk-cel` (a JSON array of objects with the AMI field names) and, later, the
`cel_custom` CSV through the history import. Keys are read in any letter case, and the SQL/CSV
column names (`eventtype`, `eventtime`, `cid_num`, `channame`, `appname`, ...) are accepted for
the same fields, so a row copied from the `cel` table reads as an AMI event does.

Times: `EventTime` is Unix seconds (`1629745601.605534`, cel_manager's default) or a date
(`2021-08-23 15:06:41.605534-04`); a date without an offset is read in the `timezone` option,
as cel.conf's `dateformat` writes local time.

Everything is bounded: the number of records per request, each value's length (an overlong
`AppData` or `Extra` is cut, never refused, since nothing is decided on its tail), and the
events per call are bounded by the assembler.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from ingest_calls.domain.errors import InvalidPayload
from switchboard_shared.cloudevents import deterministic_id
from switchboard_shared.events import CelEvent

MAX_EVENTS_PER_REQUEST = 5000
MAX_KEYS_PER_EVENT = 64
MAX_VALUE_CHARS = 4096
MAX_LONG_VALUE_CHARS = {"app_data": 1024, "peer": 1024, "user_field": 1024, "extra": 4096}
MAX_ID_CHARS = 150

# Model field <- every key it may come as (lower-cased): AMI names, then cel table columns.
FIELD_KEYS: dict[str, tuple[str, ...]] = {
    "event_name": ("eventname", "eventtype"),
    "event_time": ("eventtime",),
    "unique_id": ("uniqueid",),
    "linked_id": ("linkedid",),
    "channel": ("channel", "channame"),
    "caller_id_num": ("calleridnum", "cid_num"),
    "caller_id_name": ("calleridname", "cid_name"),
    "caller_id_ani": ("calleridani", "cid_ani"),
    "caller_id_rdnis": ("calleridrdnis", "cid_rdnis"),
    "caller_id_dnid": ("calleriddnid", "cid_dnid"),
    "exten": ("exten",),
    "context": ("context",),
    "application": ("application", "appname"),
    "app_data": ("appdata",),
    "peer": ("peer",),
    "account_code": ("accountcode",),
    "peer_account": ("peeraccount",),
    "user_field": ("userfield",),
    "extra": ("extra",),
}
KEY_TO_FIELD = {key: name for name, keys in FIELD_KEYS.items() for key in keys}
REQUIRED = {
    "event_name": "EventName",
    "event_time": "EventTime",
    "unique_id": "UniqueID",
    "linked_id": "LinkedID",
}
SHORT_MAX = {
    "event_name": 64,
    "application": 64,
    "unique_id": MAX_ID_CHARS,
    "linked_id": MAX_ID_CHARS,
    "channel": 256,
}


def parse_time(text: str, zone: ZoneInfo) -> datetime:
    """`EventTime` as Unix seconds or a date (local time in `zone` without an offset); UTC."""
    value = text.strip()
    try:
        if value.replace(".", "", 1).isdigit():
            return datetime.fromtimestamp(float(value), UTC)
        if value[-3:-2] in ("+", "-") and value[-2:].isdigit():
            value += ":00"  # PostgreSQL writes "-04"
        when = datetime.fromisoformat(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=zone)
        return when.astimezone(UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise ValueError(f"{text[:40]!r} is not a time") from exc


def to_event(item: Mapping[str, Any], zone: ZoneInfo, pbx: str, where: str = "") -> CelEvent:
    """One record (AMI or cel-table names) -> `CelEvent`; InvalidPayload names the field."""
    if len(item) > MAX_KEYS_PER_EVENT:
        raise InvalidPayload(f"{where}more than {MAX_KEYS_PER_EVENT} fields", field=where or None)
    values: dict[str, str] = {}
    for key, value in item.items():
        name = KEY_TO_FIELD.get(str(key).strip().lower())
        if name is None:
            continue  # Event, Privilege, SystemName, AMAFlags, ... are not needed
        if value is None:
            text = ""
        elif isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InvalidPayload(f"{where}{key}: expected a string", field=f"{where}{key}")
        else:
            text = str(value)
        limit = SHORT_MAX.get(name)
        if limit is not None and len(text) > limit:
            raise InvalidPayload(f"{where}{key}: longer than {limit}", field=f"{where}{key}")
        values[name] = text[: MAX_LONG_VALUE_CHARS.get(name, 128 if limit is None else limit)]
    for name, label in REQUIRED.items():
        if not values.get(name, "").strip():
            raise InvalidPayload(f"{where}{label} is missing", field=f"{where}{label}")
    try:
        when = parse_time(values.pop("event_time"), zone)
    except ValueError as exc:
        raise InvalidPayload(f"{where}EventTime: {exc}", field=f"{where}EventTime") from exc
    values["event_name"] = values["event_name"].strip().upper()
    try:
        return CelEvent.model_validate({**values, "event_time": when, "pbx": pbx[:128]})
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise InvalidPayload(f"{where}{problem['msg']}", field=where or None) from exc


def parse_batch(document: Any, zone: ZoneInfo, pbx: str) -> list[CelEvent]:
    """A JSON array of CEL objects (or one object) -> events, all or nothing."""
    items = document if isinstance(document, list) else [document]
    if not items:
        raise InvalidPayload("no CEL events in the body", field="body")
    if len(items) > MAX_EVENTS_PER_REQUEST:
        raise InvalidPayload(f"more than {MAX_EVENTS_PER_REQUEST} CEL events in one request")
    events = []
    for index, item in enumerate(items):
        where = f"[{index}]." if isinstance(document, list) else ""
        if not isinstance(item, dict):
            raise InvalidPayload("a CEL event must be a JSON object", field=where.rstrip("."))
        events.append(to_event(item, zone, pbx, where))
    return events


def event_id(event: CelEvent) -> str:
    """The same CEL record always gets the same ce_id, whichever door brought it."""
    fields = event.model_dump(mode="json", by_alias=True, exclude={"pbx"})
    digest = hashlib.sha256(repr(sorted(fields.items())).encode()).hexdigest()[:32]
    return deterministic_id("calls.cel.v1", event.linked_id, digest)
