"""3CX: CRM call journaling (JSON) and CDR lines (CSV), authenticated with a bearer token.

The sender presents `Authorization: Bearer <INGEST_CALLS_THREECX_TOKEN>`. Two bodies:

* `application/json`: what the `ReportCall` scenario of our CRM template
  (docs/providers/threecx-crm-template.xml) posts when a call ends -- one object or a list:
  `call_type` ([CallType]: Inbound, Missed, Outbound, Notanswered), `number`, `name`, `agent`
  (the extension), `agent_first_name`, `agent_last_name`, `agent_email`, `queue`, `duration`
  (hh:mm:ss), `started_at`/`answered_at`/`ended_at` (UTC ISO 8601), `recording_url`.
  Keys are matched ignoring case and separators, so 3CX's own variable names (`CallType`,
  `CallStartTimeUTC`, ...) work too. 3CX gives journaling no call id: unless the body has a
  `call_id`, the id is a hash of start second, agent, number and direction, so a re-sent
  journal entry maps to the same call. A variable 3CX left unfilled arrives as its literal
  `[Name]` and counts as missing.
* `text/csv`: 3CX CDR output lines (v16 standard field order, or a header line naming the
  fields, or the `csv_columns` option). Times are read in the `timezone` option (default UTC).

`lookup(request, ctx)` answers the template's contact-lookup scenario (GET with `?number=`):
a contact whose id is the number, so 3CX treats every caller as known and journals the call.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from ingest_calls.domain.asterisk import check_bearer, zone_of
from ingest_calls.domain.calls import CallEvent, build_recorded
from ingest_calls.domain.errors import InvalidPayload
from ingest_calls.domain.request import Context, WebhookRequest
from switchboard_shared.events import CallDirection, CallRecorded, CallStatus
from switchboard_shared.phone import NumberKind, PhonePolicy, normalise_phone

PROVIDER = "threecx"
JSON = "application/json"
CSV = "text/csv"
CONTENT_TYPES = frozenset({JSON, CSV})
MAX_CALLS_PER_REQUEST = 1000
MAX_SECONDS = 7 * 86_400

CALL_TYPES = {
    "inbound": (CallDirection.INBOUND, CallStatus.ANSWERED),
    "missed": (CallDirection.INBOUND, CallStatus.NO_ANSWER),
    "outbound": (CallDirection.OUTBOUND, CallStatus.ANSWERED),
    "notanswered": (CallDirection.OUTBOUND, CallStatus.NO_ANSWER),
    "notansweredoutbound": (CallDirection.OUTBOUND, CallStatus.NO_ANSWER),
}
DIRECTIONS = {
    "inbound": CallDirection.INBOUND,
    "incoming": CallDirection.INBOUND,
    "outbound": CallDirection.OUTBOUND,
    "outgoing": CallDirection.OUTBOUND,
    "internal": CallDirection.INTERNAL,
}
# Journal keys, compared lower-cased without separators -> our field.
JOURNAL_KEYS = {
    "calltype": "call_type",
    "type": "call_type",
    "direction": "direction",
    "calldirection": "direction",
    "number": "number",
    "name": "name",
    "agent": "agent",
    "agentfirstname": "agent_first_name",
    "agentlastname": "agent_last_name",
    "agentemail": "agent_email",
    "queue": "queue",
    "queueextension": "queue",
    "duration": "duration",
    "startedat": "started_at",
    "callstarttimeutc": "started_at",
    "answeredat": "answered_at",
    "callestablishedtimeutc": "answered_at",
    "endedat": "ended_at",
    "callendtimeutc": "ended_at",
    "recordingurl": "recording_url",
    "callid": "call_id",
}
# 3CX CDR output, standard field order (v16 "CDR" settings).
CDR_COLUMNS = (
    "historyid",
    "callid",
    "duration",
    "time-start",
    "time-answered",
    "time-end",
    "reason-terminated",
    "from-no",
    "to-no",
    "from-dn",
    "to-dn",
    "dial-no",
    "reason-changed",
    "final-number",
    "final-dn",
    "bill-code",
    "bill-rate",
    "bill-cost",
    "bill-name",
    "chain",
    "from-type",
    "to-type",
    "final-type",
    "from-dispname",
    "to-dispname",
    "final-dispname",
    "missed-queue-calls",
)

_PLACEHOLDER_RE = re.compile(r"\[[^\[\]]*\]")
_SEPARATORS_RE = re.compile(r"[^a-z0-9]")
_DURATION_RE = re.compile(
    r"(?:(?P<days>[0-9]{1,3})\.)?(?:(?:(?P<h>[0-9]{1,3}):)?(?P<m>[0-9]{1,2}):)?"
    r"(?P<s>[0-9]{1,7}(?:\.[0-9]+)?)"
)
_EXTENSION_RE = re.compile(r"ext\.?\s*", re.IGNORECASE)
_DIGITS_RE = re.compile(r"[^0-9]")


def verify(request: WebhookRequest, ctx: Context) -> None:
    check_bearer(request, ctx.secret)


def parse(request: WebhookRequest, ctx: Context, policy: PhonePolicy) -> list[CallEvent]:
    if request.content_type == CSV:
        try:
            zone = zone_of(ctx.options)
        except ValueError as exc:
            raise InvalidPayload(f"threecx adapter misconfigured: {exc}", field="options") from exc
        events: list[CallEvent] = [
            cdr_event(values, line, zone, policy, ctx.region)
            for values, line in cdr_rows(request.body, _columns(ctx.options))
        ]
    else:
        events = [
            journal_event(item, label, policy, ctx.region)
            for item, label in _journal_items(request.json())
        ]
    if not events:
        raise InvalidPayload("no call records in the body", field="body")
    if len(events) > MAX_CALLS_PER_REQUEST:
        raise InvalidPayload(f"more than {MAX_CALLS_PER_REQUEST} call records in one request")
    return events


def lookup(request: WebhookRequest, ctx: Context) -> dict[str, Any]:
    """The contact-lookup answer: a stand-in contact for any number, so 3CX journals the call."""
    value = next((v for k, v in request.query if k == "number"), "")
    number = value.strip()[:64]
    if value.startswith(" ") and number[:1].isdigit():
        number = "+" + number  # 3CX put "+49..." in the URL unencoded; "+" decoded as a space
    if not number:
        return {"contact": None}
    return {"contact": {"id": f"tel:{number}", "phone": number}}


# --- shared helpers --------------------------------------------------------------------------


def _clean(value: Any) -> str:
    """A value as text; an unfilled 3CX variable (literal `[Number]`) is empty."""
    if value is None or isinstance(value, bool | dict | list):
        return ""
    text = str(value).strip()
    return "" if _PLACEHOLDER_RE.fullmatch(text) else text


def _seconds(text: str) -> float | None:
    """`00:05:15`, `5:15`, `315`, .NET TimeSpan `1.02:03:04.5` -> seconds; None when unreadable."""
    match = _DURATION_RE.fullmatch(text.strip())
    if match is None:
        return None
    seconds = (
        int(match["days"] or 0) * 86_400
        + int(match["h"] or 0) * 3600
        + int(match["m"] or 0) * 60
        + float(match["s"])
    )
    return seconds if seconds <= MAX_SECONDS else None


def _time(text: str, zone: tzinfo) -> datetime | None:
    """ISO 8601 or 3CX's `2020/05/04 10:53:43`; naive times are in `zone`. None when unreadable."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("/", "-"))
        if value.tzinfo is None:
            value = value.replace(tzinfo=zone)
        value = value.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return value if value.year > 1970 else None  # .NET DateTime.MinValue = not set


def _extension(text: str) -> str | None:
    value = _EXTENSION_RE.sub("", text.strip(), count=1).strip()
    return value or None


# --- call journaling -------------------------------------------------------------------------


def _journal_items(document: Any) -> Iterator[tuple[dict[str, Any], str]]:
    items = document if isinstance(document, list) else [document]
    for index, item in enumerate(items):
        label = f"[{index}]" if isinstance(document, list) else "body"
        if not isinstance(item, dict):
            raise InvalidPayload("a journal entry must be a JSON object", field=label)
        yield item, label


def _journal_fields(item: Mapping[str, Any]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for key, value in item.items():
        name = JOURNAL_KEYS.get(_SEPARATORS_RE.sub("", str(key).lower()))
        text = _clean(value)
        if name and text and name not in fields:
            fields[name] = text
    return fields


def _journal_kind(fields: Mapping[str, str], label: str) -> tuple[CallDirection, CallStatus]:
    call_type = _SEPARATORS_RE.sub("", fields.get("call_type", "").lower())
    if call_type in CALL_TYPES:
        return CALL_TYPES[call_type]
    direction = DIRECTIONS.get(_SEPARATORS_RE.sub("", fields.get("direction", "").lower()))
    if direction is None:
        where = f"{label}.call_type" if label != "body" else "call_type"
        raise InvalidPayload(
            f"{where}: expected Inbound, Missed, Outbound or Notanswered, "
            f"got {fields.get('call_type', '')[:40]!r}",
            field=where,
        )
    talked = bool(fields.get("answered_at")) or bool(_seconds(fields.get("duration", "")))
    return direction, CallStatus.ANSWERED if talked else CallStatus.NO_ANSWER


def journal_call_id(
    started: datetime, agent: str | None, number: str, direction: CallDirection
) -> str:
    """3CX journaling carries no call id: the same call always hashes to the same one."""
    key = "|".join(
        (started.strftime("%Y-%m-%dT%H:%M:%S"), agent or "", _DIGITS_RE.sub("", number), direction)
    )
    return "j" + hashlib.sha256(key.encode()).hexdigest()[:24]


def journal_event(
    item: dict[str, Any], label: str, policy: PhonePolicy, region: str
) -> CallRecorded:
    fields = _journal_fields(item)
    direction, status = _journal_kind(fields, label)
    answered = status is CallStatus.ANSWERED
    talk_s = _seconds(fields.get("duration", "")) if answered else 0.0
    started = _time(fields.get("started_at", ""), UTC)
    answered_at = _time(fields.get("answered_at", ""), UTC) if answered else None
    ended = _time(fields.get("ended_at", ""), UTC)
    if started is None and ended is not None:
        started = ended - timedelta(seconds=talk_s or 0.0)
    if started is None:
        where = f"{label}.started_at" if label != "body" else "started_at"
        raise InvalidPayload(f"{where}: missing or not an ISO 8601 time", field=where)
    if answered_at is not None and answered_at < started:
        answered_at = None
    if ended is None and answered_at is not None and talk_s is not None:
        try:
            ended = answered_at + timedelta(seconds=talk_s)
        except OverflowError as exc:
            where = f"{label}.answered_at" if label != "body" else "answered_at"
            raise InvalidPayload(f"{where}: out of range", field=where) from exc
    number = fields.get("number", "")
    agent = _extension(fields.get("agent", "")) or _extension(fields.get("queue", ""))
    ours = agent or ""
    caller, callee = (number, ours) if direction is CallDirection.INBOUND else (ours, number)
    call_id = fields.get("call_id") or journal_call_id(started, agent, number, direction)
    try:
        return build_recorded(
            provider=PROVIDER,
            provider_call_id=call_id[:200],
            direction=direction,
            status=status,
            started_at=started,
            answered_at=answered_at,
            ended_at=ended,
            caller=caller,
            callee=callee,
            policy=policy,
            region=region,
            talk_s=talk_s,
            agent=agent,
            recording_url=fields.get("recording_url"),
            raw=item,
        )
    except ValidationError as exc:
        raise InvalidPayload(f"{label}: {exc.errors()[0]['msg']}", field=label) from exc


# --- CDR output (CSV) ------------------------------------------------------------------------


def _canonical(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _columns(options: Mapping[str, str]) -> tuple[str, ...]:
    names = tuple(_canonical(c) for c in (options.get("csv_columns") or "").split(",") if c.strip())
    if names and not _is_layout(names):
        raise InvalidPayload(
            "threecx adapter misconfigured: csv_columns must include time-start and callid "
            "or historyid",
            field="options",
        )
    return names


def _is_layout(names: Sequence[str]) -> bool:
    """Names our mapping needs; others (fields of newer 3CX versions) stay in raw."""
    return "time-start" in names and ("callid" in names or "historyid" in names)


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return body.decode("latin-1")


def cdr_rows(body: bytes, columns: Sequence[str] = ()) -> Iterator[tuple[dict[str, str], int]]:
    """3CX CDR lines -> (field -> value, line number); InvalidPayload names the bad line."""
    reader = csv.reader(io.StringIO(_decode(body), newline=""), strict=True)
    layout = tuple(columns) or CDR_COLUMNS
    first = True
    while True:
        line = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problem = f"line {line}: malformed CSV ({exc})"
            raise InvalidPayload(problem, field=f"line {line}") from exc
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        names = [_canonical(f) for f in fields]
        if first and not columns and _is_layout(names):
            layout = tuple(names)
            first = False
            continue
        first = False
        if len(fields) == len(layout) + 1 and not fields[-1].strip():
            fields = fields[:-1]  # a trailing comma
        if len(fields) != len(layout):
            raise InvalidPayload(
                f"line {line}: {len(fields)} fields, expected {len(layout)} "
                "(set the csv_columns option to your CDR field list)",
                field=f"line {line}",
            )
        yield dict(zip(layout, fields, strict=True)), line


def _cdr_direction(row: Mapping[str, str], policy: PhonePolicy, region: str) -> CallDirection:
    from_type = row.get("from-type", "").strip().lower()
    to_type = row.get("to-type", "").strip().lower()
    if from_type == "external":
        return CallDirection.INBOUND
    if from_type == "internal" and to_type == "external":
        return CallDirection.OUTBOUND
    if from_type == "internal" and to_type == "internal":
        return CallDirection.INTERNAL
    src = normalise_phone(row.get("from-no"), policy, region=region).kind
    dst = normalise_phone(row.get("to-no"), policy, region=region).kind
    if src is NumberKind.INTERNAL:
        return CallDirection.OUTBOUND if dst is NumberKind.EXTERNAL else CallDirection.INTERNAL
    return CallDirection.INBOUND


def _cdr_status(row: Mapping[str, str], answered: bool) -> CallStatus:
    if answered:
        return CallStatus.ANSWERED
    reason = _SEPARATORS_RE.sub("", row.get("reason-terminated", "").lower())
    if "cancel" in reason or reason == "terminatedbysrc":  # caller hung up while it rang
        return CallStatus.CANCELED
    if "busy" in reason:
        return CallStatus.BUSY
    if reason.startswith("failed"):
        return CallStatus.FAILED
    return CallStatus.NO_ANSWER


def _cdr_agent(row: Mapping[str, str], direction: CallDirection) -> str | None:
    if direction is CallDirection.OUTBOUND:
        return _extension(row.get("from-dn", ""))
    if row.get("final-dn", "").strip() and row.get("final-type", "").lower() != "external":
        return _extension(row.get("final-dn", ""))
    if row.get("to-type", "").lower() != "external":
        return _extension(row.get("to-dn", ""))
    return None


def cdr_event(
    row: dict[str, str], line: int, zone: ZoneInfo, policy: PhonePolicy, region: str
) -> CallRecorded:
    row_names = list(row)

    def fail(name: str, problem: str) -> InvalidPayload:
        column = row_names.index(name) + 1 if name in row_names else "?"
        where = f"line {line}, column {column} ({name})"
        return InvalidPayload(f"{where}: {problem}", field=where)

    callid = row.get("callid", "").strip()
    history = row.get("historyid", "").strip()
    if not callid and not history:
        raise fail("callid", "no callid or historyid")
    times: dict[str, datetime | None] = {}
    for name in ("time-start", "time-answered", "time-end"):
        text = row.get(name, "").strip()
        times[name] = _time(text, zone)
        if text and times[name] is None:
            raise fail(name, f"{text[:40]!r} is not a time like 2020/05/04 10:53:43")
    started = times["time-start"]
    if started is None:
        raise fail("time-start", "the start time is missing")
    duration_text = row.get("duration", "").strip()
    talk_s = _seconds(duration_text) if duration_text else None
    if duration_text and talk_s is None:
        raise fail("duration", f"{duration_text[:40]!r} is not hh:mm:ss")
    answered_at = times["time-answered"]
    status = _cdr_status(row, answered_at is not None or bool(talk_s))
    direction = _cdr_direction(row, policy, region)
    history_no = history.removeprefix("Call ").strip()
    call_id = f"{callid}:{history_no}" if callid and history_no else callid or history_no
    callee = row.get("to-no", "").strip() or row.get("dial-no", "").strip()
    try:
        return build_recorded(
            provider=PROVIDER,
            provider_call_id=call_id,
            direction=direction,
            status=status,
            started_at=started,
            answered_at=answered_at if status is CallStatus.ANSWERED else None,
            ended_at=times["time-end"],
            caller=row.get("from-no"),
            callee=callee,
            policy=policy,
            region=region,
            talk_s=talk_s if status is CallStatus.ANSWERED else 0.0,
            agent=_cdr_agent(row, direction),
            linked_id=callid or None,
            hangup_cause=row.get("reason-terminated", "").strip() or None,
            raw=dict(row),
        )
    except ValidationError as exc:
        where = f"line {line}"
        raise InvalidPayload(f"{where}: {exc.errors()[0]['msg']}", field=where) from exc
