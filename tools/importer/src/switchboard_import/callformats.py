"""Call-record files, read by the live intake's own provider adapters.

Each format hands a chunk of CSV rows to the same `parse` a webhook of that provider goes
through (`ingest_calls.domain.<provider>`), so an imported row becomes exactly the event the
live path would have made of it -- same fields, same `call_id`, same `ce_id`:

* `asterisk`: `Master.csv` (cdr_csv, 16 to 21 columns, or a header line), as
  `POST /webhooks/asterisk` with `text/csv`;
* `freepbx`: the CDR report's CSV export (a header line of `asteriskcdrdb.cdr` columns:
  `calldate`, `src`, `dst`, `did`, `recordingfile`, `cnum`, `cnam`, ...), read by the same
  Asterisk adapter;
* `threecx`: 3CX CDR output files (v16 field order, or a header line naming the fields), as
  `POST /webhooks/threecx` with `text/csv`;
* `twilio`: Twilio's call log CSV export (console or API field names), each row turned into the
  status callback Twilio would have posted when that call ended;
* `generic`: any CSV, with a column mapping onto the generic webhook's fields.

* `asterisk-cel`: Asterisk Channel Event Logging as `cel_custom` writes it (`Master.csv` of the
  CEL backend, in the column order of Asterisk's `cel_custom.conf` sample, or a header line of
  `cel` table columns), each row read as the AMI `CEL` event it records.

Asterisk and FreePBX write a row per leg, CEL a row per channel event, Twilio a row per leg of
a `<Dial>` (`ParentCallSid`); the rows of one call are gathered (`grouping`, over the keys
`keys` names) and built into one call as the live CEL path builds it: CDR legs through
`cdr_calls.build_from_legs`, CEL events through the CEL assembler's `calls_from`, Twilio legs
through `twilio_calls.merge`. 3CX and generic files are a call per row.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from ingest_calls.domain import asterisk, cdr_calls, cel, generic, threecx, twilio, twilio_calls
from ingest_calls.domain.calls import CallEvent
from ingest_calls.domain.cel_assembly import calls_from, joining_keys
from ingest_calls.domain.errors import InvalidPayload
from ingest_calls.domain.request import Context, WebhookRequest
from switchboard_import.csvfile import Row
from switchboard_shared.events import CallRecorded, CelEvent
from switchboard_shared.phone import PhonePolicy

CSV = "text/csv"
IMPORT_URL = "import:"


@dataclass(frozen=True)
class Job:
    """What a parser needs besides the rows; plain data, so it travels to a worker process."""

    format: str
    region: str
    policy: PhonePolicy
    options: Mapping[str, str] = field(default_factory=dict)
    mapping: Mapping[str, str] = field(default_factory=dict)  # generic: our field -> column

    def context(self) -> Context:
        return Context(secret="", region=self.region, options=dict(self.options))


def _request(body: bytes, content_type: str = CSV) -> WebhookRequest:
    return WebhookRequest("POST", IMPORT_URL, {}, body=body, content_type=content_type)


def _fields(text: bytes) -> list[str]:
    return next(csv.reader(io.StringIO(text.decode("utf-8"), newline="")), [])


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


# --- asterisk / freepbx / threecx: the CSV body of their webhook ------------------------------


def _asterisk_header(fields: Sequence[str]) -> bool:
    return asterisk._is_header(fields)


def _threecx_header(fields: Sequence[str]) -> bool:
    return threecx._is_layout([threecx._canonical(f) for f in fields])


def _parse_asterisk(job: Job, header: bytes, rows: Sequence[bytes]) -> list[CallEvent]:
    return asterisk.parse(_request(header + b"".join(rows)), job.context(), job.policy)


@dataclass(frozen=True)
class Keys:
    """What ties a row to the other rows of its call (see `grouping.Grouper.add`)."""

    keys: list[str]
    linked: list[str] = field(default_factory=list)
    ends: str = ""


NO_KEYS = Keys([])
# (calls built, (line, reason) of each row left out)
Built = tuple[list[CallRecorded], list[tuple[int, str]]]


@functools.lru_cache(maxsize=16)
def _header_layout(header: bytes) -> tuple[str, ...] | None:
    if not header:
        return None
    return tuple(asterisk._canonical(f) for f in _fields(header))


@functools.lru_cache(maxsize=16)
def _rules_of(options: tuple[tuple[str, str], ...]) -> asterisk.Rules:
    """The adapter's rules, read once per set of options (a job reaches a worker per chunk)."""
    return asterisk.rules_from(dict(options))


_LAST_RULES: list[tuple[Job, asterisk.Rules]] = []  # the job of the last call: read per row


def _rules(job: Job) -> asterisk.Rules:
    if _LAST_RULES and _LAST_RULES[0][0] is job:
        return _LAST_RULES[0][1]
    try:
        rules = _rules_of(tuple(sorted(job.options.items())))
        _LAST_RULES[:] = [(job, rules)]
        return rules
    except ValueError as exc:
        raise InvalidPayload(f"asterisk adapter misconfigured: {exc}") from exc


def _asterisk_keys(job: Job, header: bytes, row: bytes) -> Keys:
    try:
        fields = _fields(row)
        names = _header_layout(header) or _rules(job).csv_columns
        names = names or asterisk._layout_for(fields, 0)
    except (csv.Error, InvalidPayload, UnicodeDecodeError):
        return NO_KEYS  # a call of its own: the adapter names what is wrong with it
    if len(names) != len(fields):
        return NO_KEYS
    return Keys(cdr_calls.leg_keys(dict(zip(names, fields, strict=True))))


def _build_asterisk(job: Job, header: bytes, rows: Sequence[Row]) -> Built:
    """The legs of one call (its CDR rows) -> the one call, as the CEL path builds it."""
    rejected: list[tuple[int, str]] = []
    rules = _rules(job)
    legs = []
    for row in rows:
        try:
            records = list(asterisk.csv_records(header + row.text, rules.csv_columns))
            if len(records) != 1:
                raise InvalidPayload("not a call record (a line of column names?)")
            legs.append(cdr_calls.leg_of(records[0], rules, row.line))
        except InvalidPayload as exc:
            rejected.append((row.line, exc.detail))
    if not legs:
        return [], rejected
    try:
        call = cdr_calls.build_from_legs(legs, rules, job.policy, job.region)
    except (InvalidPayload, ValidationError, ValueError) as exc:
        reason = exc.detail if isinstance(exc, InvalidPayload) else str(exc).splitlines()[0]
        return [], rejected + [(leg.order, f"the call's legs: {reason}") for leg in legs]
    if call is None:
        reason = "no phone or trunk among the call's channels (only Local channels)"
        return [], rejected + [(leg.order, reason) for leg in legs]
    return [call], rejected


# --- asterisk-cel: cel_custom's Master.csv, through the CEL assembler ---------------------------

# Asterisk's cel_custom.conf sample mapping: eventtype, eventtime, CALLERID(name), CALLERID(num),
# CALLERID(ANI), CALLERID(RDNIS), CALLERID(DNID), CHANNEL(exten), CHANNEL(context),
# CHANNEL(channame), CHANNEL(appname), CHANNEL(appdata), CHANNEL(amaflags),
# CHANNEL(accountcode), CHANNEL(uniqueid), CHANNEL(linkedid), BRIDGEPEER, CHANNEL(userfield),
# userdeftype, eventextra. Without userfield (an older sample): 19 columns.
CEL_COLUMNS = (
    "eventtype",
    "eventtime",
    "cid_name",
    "cid_num",
    "cid_ani",
    "cid_rdnis",
    "cid_dnid",
    "exten",
    "context",
    "channame",
    "appname",
    "appdata",
    "amaflags",
    "accountcode",
    "uniqueid",
    "linkedid",
    "peer",
    "userfield",
    "userdeftype",
    "extra",
)
CEL_LAYOUTS = {20: CEL_COLUMNS, 19: tuple(c for c in CEL_COLUMNS if c != "userfield")}
CEL_NAMES = {"eventextra": "extra", "bridgepeer": "peer", "id": "", "userdeftype": ""}


def _cel_header(fields: Sequence[str]) -> bool:
    names = {_key(f) for f in fields}
    return {"eventtype", "eventtime"} <= names or {"eventname", "eventtime"} <= names


@functools.lru_cache(maxsize=16)
def _cel_layout(header: bytes) -> tuple[str, ...] | None:
    if not header:
        return None
    return tuple(CEL_NAMES.get(_key(f), f.strip().lower()) for f in _fields(header))


def _cel_event(job: Job, header: bytes, row: bytes) -> CelEvent:
    try:
        fields = _fields(row)
    except csv.Error as exc:
        raise InvalidPayload(f"malformed CSV ({exc})") from exc
    names = _cel_layout(header) or CEL_LAYOUTS.get(len(fields))
    if names is None:
        raise InvalidPayload(
            f"{len(fields)} columns; cel_custom's sample mapping writes 20 "
            "(or start the file with a line of column names)"
        )
    if len(names) != len(fields):
        raise InvalidPayload(f"{len(fields)} columns, the header has {len(names)}")
    item = {name: value for name, value in zip(names, fields, strict=True) if name}
    return cel.to_event(item, asterisk.zone_of(job.options), "import")


def _cel_keys(job: Job, header: bytes, row: bytes) -> Keys:
    try:
        event = _cel_event(job, header, row)
    except (InvalidPayload, ValueError):
        return NO_KEYS
    linked = f"id:{event.linked_id}"
    keys = [linked, *(f"{kind}:{value}" for kind, value in joining_keys(event))]
    ends = linked if event.event_name == "LINKEDID_END" else ""
    return Keys(keys, [linked], ends)


def _build_cel(job: Job, header: bytes, rows: Sequence[Row]) -> Built:
    rejected: list[tuple[int, str]] = []
    events = []
    for row in rows:
        try:
            events.append(_cel_event(job, header, row.text))
        except (InvalidPayload, ValueError) as exc:
            rejected.append((row.line, getattr(exc, "detail", str(exc))))
    if not events:
        return [], rejected
    rules = _rules(job)
    try:
        calls = calls_from(events, rules, job.policy, job.region)
    except (ValidationError, ValueError) as exc:
        reason = f"the call's events: {str(exc).splitlines()[0]}"
        return [], rejected + [(row.line, reason) for row in rows]
    if not calls:
        reason = "no phone or trunk among the call's channels (only Local channels)"
        return [], rejected + [(row.line, reason) for row in rows]
    return calls, rejected


def _parse_threecx(job: Job, header: bytes, rows: Sequence[bytes]) -> list[CallEvent]:
    return threecx.parse(_request(header + b"".join(rows)), job.context(), job.policy)


# --- twilio: each row as the status callback of that call -------------------------------------

# Export column (letters and digits only, lower-cased) -> status callback parameter.
TWILIO_COLUMNS = {
    "sid": "CallSid",
    "callsid": "CallSid",
    "parentcallsid": "ParentCallSid",
    "status": "CallStatus",
    "direction": "Direction",
    "type": "Direction",
    "from": "From",
    "to": "To",
    "duration": "CallDuration",
    "durationseconds": "CallDuration",
    "answeredby": "AnsweredBy",
    "forwardedfrom": "ForwardedFrom",
    "callername": "CallerName",
    "accountsid": "AccountSid",
    "endtime": "Timestamp",
    "enddate": "Timestamp",
}
TWILIO_DIRECTIONS = {
    "incoming": "inbound",
    "inbound": "inbound",
    "outgoingapi": "outbound-api",
    "outboundapi": "outbound-api",
    "outgoingdial": "outbound-dial",
    "outbounddial": "outbound-dial",
    "outgoing": "outbound-api",
}
TWILIO_STATUSES = {"noanswer": "no-answer"}


def _twilio_header(fields: Sequence[str]) -> bool:
    keys = {TWILIO_COLUMNS.get(_key(f)) for f in fields}
    return {"CallSid", "CallStatus"} <= keys


def _rfc2822(text: str, zone: ZoneInfo) -> str:
    """Twilio's export writes RFC 2822 (API) or `2026-03-02 09:00:00` (console) times."""
    value = text.strip()
    if not value:
        return ""
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        cleaned = value.removesuffix(" UTC").removesuffix("Z").replace("T", " ")
        try:
            when = datetime.fromisoformat(cleaned)
        except ValueError:
            return value  # the adapter names the field
        if value.endswith(("UTC", "Z")):
            when = when.replace(tzinfo=UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    return format_datetime(when.astimezone(UTC))


def _parse_twilio(job: Job, header: bytes, rows: Sequence[bytes]) -> list[CallEvent]:
    names = [TWILIO_COLUMNS.get(_key(f), "") for f in _fields(header)]
    zone = asterisk.zone_of(job.options)
    events: list[CallEvent] = []
    for row in rows:
        values = _fields(row)
        if len(values) != len(names):
            raise InvalidPayload(f"{len(values)} columns, the header has {len(names)}")
        params = {name: value.strip() for name, value in zip(names, values, strict=True) if name}
        params["Direction"] = TWILIO_DIRECTIONS.get(
            _key(params.get("Direction", "")), params.get("Direction", "")
        )
        status = params.get("CallStatus", "")
        params["CallStatus"] = TWILIO_STATUSES.get(_key(status), status.lower())
        if params.get("Timestamp"):
            params["Timestamp"] = _rfc2822(params["Timestamp"], zone)
        body = urlencode(params).encode()
        events += twilio.parse(_request(body, twilio.FORM), job.context(), job.policy)
    return events


def _twilio_keys(job: Job, header: bytes, row: bytes) -> Keys:
    """A leg and its parent: `CallSid`, `ParentCallSid`."""
    try:
        names = [TWILIO_COLUMNS.get(_key(f), "") for f in _fields(header)]
        values = _fields(row)
    except (csv.Error, UnicodeDecodeError):
        return NO_KEYS
    if len(names) != len(values):
        return NO_KEYS
    fields = dict(zip(names, values, strict=True))
    sids = (fields.get("CallSid", "").strip(), fields.get("ParentCallSid", "").strip())
    return Keys([f"sid:{sid}" for sid in sids if sid])


def _build_twilio(job: Job, header: bytes, rows: Sequence[Row]) -> Built:
    """A parent call and its dialled legs -> one call (`twilio_calls.merge`)."""
    rejected: list[tuple[int, str]] = []
    legs: list[CallRecorded] = []
    for row in rows:
        try:
            [event] = _parse_twilio(job, header, [row.text])
        except InvalidPayload as exc:
            rejected.append((row.line, exc.detail))
            continue
        if not isinstance(event, CallRecorded):
            rejected.append((row.line, "not a finished call (a progress state)"))
            continue
        legs.append(event)
    if not legs:
        return [], rejected
    return [twilio_calls.merge(legs)], rejected


# --- generic: a column mapping onto the generic webhook's fields ------------------------------

GENERIC_FIELDS = tuple(
    info.alias or name for name, info in generic.GenericCall.model_fields.items()
)
TIME_FIELDS = ("started_at", "answered_at", "ended_at")


def _generic_header(fields: Sequence[str]) -> bool:
    return True  # the mapping names columns: the first line is always their names


def _local_time(text: str, zone: ZoneInfo) -> str:
    """A time without an offset is read in the `timezone` option, as the CSV adapters do."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return text
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.isoformat()


def _parse_generic(job: Job, header: bytes, rows: Sequence[bytes]) -> list[CallEvent]:
    columns = {name.strip(): index for index, name in enumerate(_fields(header))}
    missing = sorted(c for c in job.mapping.values() if c not in columns)
    if missing:
        raise InvalidPayload(f"the mapping names columns the file lacks: {', '.join(missing)}")
    zone = asterisk.zone_of(job.options)
    items: list[dict[str, Any]] = []
    for row in rows:
        values = _fields(row)
        if len(values) != len(columns):
            raise InvalidPayload(f"{len(values)} columns, the header has {len(columns)}")
        item: dict[str, Any] = {}
        for ours, column in job.mapping.items():
            value = values[columns[column]].strip()
            if not value:
                continue
            item[ours] = _local_time(value, zone) if ours in TIME_FIELDS else value
        items.append(item)
    return generic.parse(
        _request(json.dumps(items).encode(), "application/json"), job.context(), job.policy
    )


def check_mapping(mapping: Mapping[str, str]) -> None:
    """ValueError naming what a generic mapping lacks or gets wrong."""
    unknown = sorted(set(mapping) - set(GENERIC_FIELDS))
    if unknown:
        raise ValueError(
            f"unknown field(s) {', '.join(unknown)}; the fields are {', '.join(GENERIC_FIELDS)}"
        )
    required = [
        info.alias or name
        for name, info in generic.GenericCall.model_fields.items()
        if info.is_required()
    ]
    absent = [name for name in required if name not in mapping]
    if absent:
        raise ValueError(f"the mapping must name a column for {', '.join(absent)}")


def _no_parse(job: Job, header: bytes, rows: Sequence[bytes]) -> list[CallEvent]:
    raise InvalidPayload("this format builds calls from groups of rows")


@dataclass(frozen=True)
class Format:
    """`parse`: rows -> a call each. Or `keys` and `build`: rows gathered into calls, within
    `window` rows (`grouping.Grouper`), each call built from its rows."""

    name: str
    provider: str
    is_header: Callable[[Sequence[str]], bool]
    parse: Callable[[Job, bytes, Sequence[bytes]], list[CallEvent]] = _no_parse
    needs_header: bool = False
    max_rows: int = 1000  # rows per call of `parse` (the adapters' per-request limit)
    keys: Callable[[Job, bytes, bytes], Keys] | None = None
    build: Callable[[Job, bytes, Sequence[Row]], Built] | None = None
    window: int = 2000


FORMATS: dict[str, Format] = {
    "asterisk": Format(
        "asterisk",
        "asterisk",
        _asterisk_header,
        _parse_asterisk,
        keys=_asterisk_keys,
        build=_build_asterisk,
    ),
    "freepbx": Format(
        "freepbx",
        "asterisk",
        _asterisk_header,
        _parse_asterisk,
        needs_header=True,
        keys=_asterisk_keys,
        build=_build_asterisk,
    ),
    # CEL rows of concurrent calls interleave: a long call's last events come many rows after
    # its first; a call is handed on at its LINKEDID_END, the window only catches lost ends.
    "asterisk-cel": Format(
        "asterisk-cel", "asterisk", _cel_header, keys=_cel_keys, build=_build_cel, window=50_000
    ),
    "threecx": Format("threecx", "threecx", _threecx_header, _parse_threecx),
    "twilio": Format(
        "twilio",
        "twilio",
        _twilio_header,
        _parse_twilio,
        needs_header=True,
        keys=_twilio_keys,
        build=_build_twilio,
    ),
    "generic": Format(
        "generic",
        "generic",
        _generic_header,
        _parse_generic,
        needs_header=True,
        max_rows=generic.MAX_CALLS_PER_REQUEST,
    ),
}


def header_of(fmt: Format, first_row: bytes) -> bool:
    try:
        return fmt.is_header(_fields(first_row))
    except csv.Error:
        return False
