"""Asterisk / FreePBX call detail records (CDRs), authenticated with a bearer token.

The sender presents `Authorization: Bearer <INGEST_CALLS_ASTERISK_TOKEN>`. Two bodies:

* `application/json`: one CDR object or a list. Keys are the AMI `Cdr` event's (`cdr_manager`:
  `Source`, `Destination`, `StartTime`, `BillableSeconds`, `UniqueID`, ... plus `LinkedID`,
  `Sequence` when mapped in `cdr_manager.conf`) or the FreePBX `asteriskcdrdb.cdr` columns
  (`calldate`, `src`, `dst`, `did`, `recordingfile`, `cnum`, `cnam`, ...), in any letter case.
* `text/csv`: `Master.csv` lines in `cdr_csv`'s column order -- 16 base columns, then
  `uniqueid` (`loguniqueid`), `userfield` (`loguserfield`), then `peeraccount`, `linkedid`,
  `sequence` (`newcdrcolumns`): 16 to 21 columns. A first line made only of column names is
  read as a header giving the order. The `csv_columns` option fixes the order instead.

A CSV batch is all or nothing: one bad line rejects the request (422, kept on
`ingest.rejected.v1` for replay) with the line and column named. The sender (a cron job) keeps
its offset and re-posts the same chunk once fixed; the good lines of that chunk dedupe.

Direction (rules from `Context.options`, first match wins): the calling channel is a trunk ->
inbound; the called channel is a trunk -> outbound; `dcontext` is an inbound context ->
inbound; an outbound context -> outbound (internal when `dst` is an extension); then the
kinds of `src` and `dst`: an extension or endpoint name calling an extension -> internal,
calling an external number -> outbound; an external or withheld caller -> inbound. Times are
read in the `timezone` option (cdr_csv writes local time unless `usegmtime=yes`).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from ingest_calls.domain.calls import CallEvent, build_recorded
from ingest_calls.domain.errors import AuthenticationFailed, InvalidPayload
from ingest_calls.domain.request import Context, WebhookRequest
from switchboard_shared.events import CallDirection, CallRecorded, CallStatus
from switchboard_shared.phone import NumberKind, PhonePolicy, normalise_phone

PROVIDER = "asterisk"
JSON = "application/json"
CSV = "text/csv"
CONTENT_TYPES = frozenset({JSON, CSV})
MAX_CALLS_PER_REQUEST = 1000
MAX_SECONDS = 7 * 86_400

DEFAULT_OPTIONS = {
    "timezone": "UTC",
    "inbound_contexts": "from-trunk,from-pstn,from-external,from-did-direct,ext-did",
    "outbound_contexts": "from-internal,outbound-allroutes,macro-dialout-trunk",
    "trunk_channel_prefixes": "PJSIP/trunk,SIP/trunk,DAHDI/,IAX2/trunk",
    "recording_base_url": "",
    "csv_columns": "",
}

BASE_COLUMNS = (
    "accountcode",
    "src",
    "dst",
    "dcontext",
    "clid",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
)
NEW_COLUMNS = ("peeraccount", "linkedid", "sequence")  # cdr_csv newcdrcolumns=yes
FREEPBX_COLUMNS = (
    "did",
    "recordingfile",
    "cnum",
    "cnam",
    "outbound_cnum",
    "outbound_cnam",
    "dst_cnam",
)
FIELDS = frozenset((*BASE_COLUMNS, "uniqueid", "userfield", *NEW_COLUMNS, *FREEPBX_COLUMNS))
# AMI `Cdr` event keys (lower-cased) that differ from the cdr_csv / database column names.
AMI_NAMES = {
    "source": "src",
    "destination": "dst",
    "destinationcontext": "dcontext",
    "callerid": "clid",
    "destinationchannel": "dstchannel",
    "lastapplication": "lastapp",
    "starttime": "start",
    "answertime": "answer",
    "endtime": "end",
    "billableseconds": "billsec",
    "calldate": "start",  # FreePBX cdr table: the start time
}

DISPOSITIONS = {
    "ANSWERED": CallStatus.ANSWERED,
    "NO ANSWER": CallStatus.NO_ANSWER,
    "BUSY": CallStatus.BUSY,
    "FAILED": CallStatus.FAILED,
    "CONGESTION": CallStatus.FAILED,
    "CANCEL": CallStatus.CANCELED,
    "UNKNOWN": CallStatus.FAILED,  # ast_cdr_disp2str's catch-all
    # CDR(disposition,u) / cdr_custom disposition(int64)
    "0": CallStatus.NO_ANSWER,
    "1": CallStatus.NO_ANSWER,
    "2": CallStatus.FAILED,
    "4": CallStatus.BUSY,
    "8": CallStatus.ANSWERED,
    "16": CallStatus.FAILED,
    "32": CallStatus.CANCELED,
}

_UNIQUEID_RE = re.compile(r"(?:\S+-)?[0-9]{9,}\.[0-9]+")
_EPOCH_RE = re.compile(r"[0-9]{9,11}(?:\.[0-9]+)?")
_SECONDS_RE = re.compile(r"[0-9]{1,9}(?:\.[0-9]+)?")
_HEX_RE = re.compile(r"[0-9a-fA-F]+")


# --- authentication --------------------------------------------------------------------------


def check_bearer(request: WebhookRequest, secret: str) -> None:
    """`Authorization: Bearer <secret>`, compared in constant time."""
    value = request.header("authorization").strip()
    scheme, _, token = value.partition(" ")
    if not value:
        raise AuthenticationFailed("missing Authorization: Bearer header")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed("Authorization header is not a Bearer token")
    offered = token.strip().encode("utf-8", "replace")
    if not secret or not hmac.compare_digest(offered, secret.encode("utf-8", "replace")):
        raise AuthenticationFailed("token does not match")


def verify(request: WebhookRequest, ctx: Context) -> None:
    check_bearer(request, ctx.secret)


# --- options ---------------------------------------------------------------------------------


def zone_of(options: Mapping[str, str]) -> ZoneInfo:
    """The IANA zone in `options["timezone"]` (default UTC); ValueError when unknown."""
    name = (options.get("timezone") or "UTC").strip() or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}; expected an IANA name") from exc


def _list(options: Mapping[str, str], name: str) -> tuple[str, ...]:
    text = options.get(name)
    if text is None:
        text = DEFAULT_OPTIONS[name]
    return tuple(item.strip() for item in text.split(",") if item.strip())


@dataclass(frozen=True)
class Rules:
    zone: ZoneInfo
    inbound_contexts: frozenset[str]
    outbound_contexts: frozenset[str]
    trunk_prefixes: tuple[str, ...]
    recording_base_url: str
    csv_columns: tuple[str, ...]


def rules_from(options: Mapping[str, str]) -> Rules:
    """The adapter's settings; ValueError names a bad one (call it at startup to fail fast)."""
    columns = tuple(_canonical(c) for c in _list(options, "csv_columns"))
    if columns and not {"start", "disposition"} <= set(columns):
        raise ValueError("csv_columns must include start (or calldate) and disposition")
    return Rules(
        zone=zone_of(options),
        inbound_contexts=frozenset(c.casefold() for c in _list(options, "inbound_contexts")),
        outbound_contexts=frozenset(c.casefold() for c in _list(options, "outbound_contexts")),
        trunk_prefixes=tuple(p.casefold() for p in _list(options, "trunk_channel_prefixes")),
        recording_base_url=(options.get("recording_base_url") or "").strip().rstrip("/"),
        csv_columns=columns,
    )


def _canonical(name: str) -> str:
    key = name.strip().lower()
    return AMI_NAMES.get(key, key)


# --- records ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One CDR: canonical column name -> text, how to name a column in an error, the raw dict."""

    values: Mapping[str, str]
    where: Callable[[str], str]
    raw: dict[str, Any]
    label: str  # the record itself in errors: "line 3", "[2]", "body"
    _stripped: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Every column is read several times while a call is built: strip each once.
        object.__setattr__(self, "_stripped", {k: v.strip() for k, v in self.values.items()})

    def get(self, name: str) -> str:
        return self._stripped.get(name, "")


def parse(request: WebhookRequest, ctx: Context, policy: PhonePolicy) -> list[CallEvent]:
    try:
        rules = rules_from(ctx.options)
    except ValueError as exc:
        raise InvalidPayload(f"asterisk adapter misconfigured: {exc}", field="options") from exc
    if request.content_type == CSV:
        records = list(csv_records(request.body, rules.csv_columns))
    else:
        records = json_records(request.json())
    if not records:
        raise InvalidPayload("no call records in the body", field="body")
    if len(records) > MAX_CALLS_PER_REQUEST:
        raise InvalidPayload(f"more than {MAX_CALLS_PER_REQUEST} call records in one request")
    return [to_event(record, rules, policy, ctx.region) for record in records]


def json_records(document: Any) -> list[Record]:
    items = document if isinstance(document, list) else [document]
    records: list[Record] = []
    for index, item in enumerate(items):
        prefix = f"[{index}]." if isinstance(document, list) else ""
        if not isinstance(item, dict):
            raise InvalidPayload("a CDR must be a JSON object", field=prefix.rstrip(".") or "body")
        records.append(_json_record(item, prefix))
    return records


def _json_record(item: dict[str, Any], prefix: str) -> Record:
    values: dict[str, str] = {}
    keys: dict[str, str] = {}
    for key, value in item.items():
        name = _canonical(str(key))
        if name == "event" and str(value).strip().lower() != "cdr":
            raise InvalidPayload(f"AMI event {value!r} is not a Cdr", field=f"{prefix}{key}")
        if name not in FIELDS:
            continue  # AMI headers and custom [mappings] labels stay in raw only
        if value is None:
            text = ""
        elif isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InvalidPayload(f"{prefix}{key}: expected a string", field=f"{prefix}{key}")
        else:
            text = str(value)
        values[name] = text
        keys[name] = str(key)

    def where(name: str) -> str:
        return f"{prefix}{keys.get(name, name)}"

    return Record(values, where, item, prefix.rstrip(".") or "body")


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return body.decode("latin-1")  # caller names written by Asterisk as raw bytes


def csv_records(body: bytes, columns: Sequence[str] = ()) -> Iterator[Record]:
    """`Master.csv` lines -> records; InvalidPayload names the first bad line and column."""
    reader = csv.reader(io.StringIO(_decode(body), newline=""), strict=True)
    layout: Sequence[str] | None = tuple(columns) or None
    first = True
    line = 1
    while True:
        line = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InvalidPayload(
                f"line {line}: malformed CSV ({exc})", field=f"line {line}"
            ) from exc
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        if first and not columns and _is_header(fields):
            layout = tuple(_canonical(f) for f in fields)
            first = False
            continue
        first = False
        names = layout or _layout_for(fields, line)
        if len(fields) != len(names):
            raise InvalidPayload(
                f"line {line}: {len(fields)} columns, expected {len(names)}",
                field=f"line {line}",
            )
        yield _csv_record(dict(zip(names, fields, strict=True)), names, line)


def _names_of(canonical: str) -> frozenset[str]:
    """The column names (stripped, lower-cased) that `_canonical` reads as `canonical`."""
    aliases = {key for key, value in AMI_NAMES.items() if value == canonical}
    return frozenset(aliases | ({canonical} - AMI_NAMES.keys()))


_START_NAMES = _names_of("start")
_DISPOSITION_NAMES = _names_of("disposition")


def _is_header(fields: Sequence[str]) -> bool:
    # {"start", "disposition"} <= {_canonical(f) for f in fields}, without mapping every field
    # of every row (a call row is checked for being a header line too).
    names = {f.strip().lower() for f in fields}
    return not (names.isdisjoint(_START_NAMES) or names.isdisjoint(_DISPOSITION_NAMES))


def _layout_for(fields: Sequence[str], line: int) -> tuple[str, ...]:
    """cdr_csv's column order for this many columns (loguniqueid/loguserfield/newcdrcolumns)."""
    count = len(fields)
    extra: tuple[str, ...]
    if count in (16, 19):
        extra = ()
    elif count in (18, 21):
        extra = ("uniqueid", "userfield")
    elif count in (17, 20):
        # One of loguniqueid / loguserfield: a uniqueid looks like "1551666699.4".
        extra = ("uniqueid",) if _UNIQUEID_RE.fullmatch(fields[16].strip()) else ("userfield",)
    else:
        raise InvalidPayload(
            f"line {line}: {count} columns; cdr_csv writes 16 to 21 "
            "(set the csv_columns option for another layout)",
            field=f"line {line}",
        )
    return (*BASE_COLUMNS, *extra, *(NEW_COLUMNS if count >= 19 else ()))


def _csv_record(values: dict[str, str], names: Sequence[str], line: int) -> Record:
    def where(name: str) -> str:
        column = names.index(name) + 1 if name in names else "?"
        return f"line {line}, column {column} ({name})"

    return Record(values, where, dict(values), f"line {line}")


# --- mapping ---------------------------------------------------------------------------------


def _fail(record: Record, name: str, problem: str) -> InvalidPayload:
    where = record.where(name)
    return InvalidPayload(f"{where}: {problem}", field=where)


def _time(record: Record, name: str, zone: ZoneInfo) -> datetime | None:
    text = record.get(name)
    if not text:
        return None
    try:
        if _EPOCH_RE.fullmatch(text):
            return datetime.fromtimestamp(float(text), UTC)
        value = datetime.fromisoformat(text)
        if value.tzinfo is None:
            value = value.replace(tzinfo=zone)
        return value.astimezone(UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise _fail(record, name, f"{text[:40]!r} is not a time like 2026-03-02 09:00:00") from exc


def _seconds(record: Record, name: str) -> float | None:
    text = record.get(name)
    if not text:
        return None
    if not _SECONDS_RE.fullmatch(text) or float(text) > MAX_SECONDS:
        raise _fail(record, name, f"{text[:40]!r} is not a number of seconds")
    return float(text)


def _status(record: Record) -> CallStatus:
    disposition = " ".join(record.get("disposition").upper().split())
    status = DISPOSITIONS.get(disposition)
    if status is None:
        raise _fail(record, "disposition", f"unknown disposition {disposition[:40]!r}")
    if status is CallStatus.ANSWERED and record.get("lastapp").lower() == "voicemail":
        return CallStatus.VOICEMAIL
    return status


def is_trunk(channel: str, rules: Rules) -> bool:
    folded = channel.casefold()
    return bool(folded) and any(folded.startswith(p) for p in rules.trunk_prefixes)


def endpoint_of(channel: str) -> str | None:
    """A channel's endpoint: `PJSIP/101-0000001a` -> `101`, `Local/101@ctx-00000001;2` -> `101`."""
    tech, slash, resource = channel.strip().partition("/")
    resource = resource.split(";", 1)[0]
    if not slash or not tech or not resource:
        return None
    if tech.lower() == "local":
        return resource.split("@", 1)[0] or None
    name, dash, suffix = resource.rpartition("-")
    if dash and name and _HEX_RE.fullmatch(suffix):
        resource = name
    return resource or None


def direction_of(
    record: Record, caller: str, rules: Rules, policy: PhonePolicy, region: str
) -> CallDirection:
    if is_trunk(record.get("channel"), rules):
        return CallDirection.INBOUND
    if is_trunk(record.get("dstchannel"), rules):
        return CallDirection.OUTBOUND
    context = record.get("dcontext").casefold()
    dst_kind = normalise_phone(record.get("dst"), policy, region=region).kind
    if context in rules.inbound_contexts:
        return CallDirection.INBOUND
    if context in rules.outbound_contexts:
        return CallDirection.INTERNAL if dst_kind is NumberKind.INTERNAL else CallDirection.OUTBOUND
    # An endpoint name ("SOFTPHONE_A") or feature code ("*97") is ours, like an extension.
    src_kind = normalise_phone(caller, policy, region=region).kind
    if src_kind in (NumberKind.INTERNAL, NumberKind.INVALID):
        return CallDirection.OUTBOUND if dst_kind is NumberKind.EXTERNAL else CallDirection.INTERNAL
    if src_kind is NumberKind.WITHHELD and dst_kind is NumberKind.EXTERNAL:
        return CallDirection.OUTBOUND
    return CallDirection.INBOUND


def _agent(
    record: Record, direction: CallDirection, status: CallStatus, rules: Rules
) -> str | None:
    """Our side of the call: who was dialled (inbound/internal) or who dialled (outbound)."""
    if direction is CallDirection.OUTBOUND:
        channel = record.get("channel")
        return None if is_trunk(channel, rules) else endpoint_of(channel)
    channel = record.get("dstchannel")
    if channel and not is_trunk(channel, rules):
        return endpoint_of(channel)
    if status is CallStatus.VOICEMAIL:  # VoiceMail(101@default,u): the mailbox
        return record.get("lastdata").split(",", 1)[0].split("@", 1)[0].strip() or None
    return None


def provider_call_id(record: Record) -> str:
    """Unique per CDR: uniqueid (or linkedid) and the CDR sequence when logged.

    Several CDRs share Party A's uniqueid (one per dialled party, transfer...); `sequence`
    tells them apart. Without any id column (16-column Master.csv) the id is a hash of the
    columns that identify the leg.
    """
    base = record.get("uniqueid") or record.get("linkedid")
    sequence = record.get("sequence")
    if base:
        return f"{base}#{sequence}" if sequence else base
    names = ("channel", "dstchannel", "start", "src", "dst", "dcontext", "lastapp", "lastdata")
    key = "\x1f".join(record.get(name) for name in names)
    return "h" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:24]


def _recording_url(record: Record, started: datetime, rules: Rules) -> str | None:
    name = record.get("recordingfile")
    if not name:
        return None
    if name.startswith(("http://", "https://")):
        return name
    if not rules.recording_base_url:
        return None
    day = started.astimezone(rules.zone).strftime("%Y/%m/%d")  # FreePBX monitor/YYYY/MM/DD/
    return f"{rules.recording_base_url}/{day}/{quote(name)}"


def to_event(record: Record, rules: Rules, policy: PhonePolicy, region: str) -> CallRecorded:
    status = _status(record)
    start = _time(record, "start", rules.zone)
    if start is None:
        raise _fail(record, "start", "the start time is missing")
    answer = _time(record, "answer", rules.zone)
    end = _time(record, "end", rules.zone)
    duration = _seconds(record, "duration")
    billsec = _seconds(record, "billsec")
    answered = status in (CallStatus.ANSWERED, CallStatus.VOICEMAIL)
    try:
        if end is None and duration is not None:
            end = start + timedelta(seconds=duration)
        if answered and answer is None and end is not None and billsec is not None:
            answer = end - timedelta(seconds=billsec)
    except OverflowError as exc:
        raise _fail(record, "start", "the call times are out of range") from exc
    talk_s = (billsec or 0.0) if answered else 0.0
    ring_s = None
    if duration is not None:
        ring_s = max(0.0, duration - talk_s)
    caller = record.get("src") or record.get("cnum") or record.get("clid")
    direction = direction_of(record, caller, rules, policy, region)
    callee = record.get("dst")
    if direction is CallDirection.INBOUND and record.get("did"):
        callee = record.get("did")  # FreePBX: the DID dialled, not the ring group/extension
    try:
        return build_recorded(
            provider=PROVIDER,
            provider_call_id=provider_call_id(record),
            direction=direction,
            status=status,
            started_at=start,
            answered_at=answer if answered else None,
            ended_at=end,
            caller=caller,
            callee=callee,
            policy=policy,
            region=region,
            ring_s=ring_s,
            talk_s=talk_s,
            agent=_agent(record, direction, status, rules),
            linked_id=record.get("linkedid") or record.get("uniqueid") or None,
            recording_url=_recording_url(record, start, rules),
            hangup_cause=None if answered else record.get("disposition"),
            raw=record.raw,
        )
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"]
        raise InvalidPayload(f"{record.label}: {problem}", field=record.label) from exc
