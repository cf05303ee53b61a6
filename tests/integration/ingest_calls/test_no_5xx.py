"""Property: nothing a client sends gets a 5xx, and with the broker up never a 503.

Requests go to the session's app (lifespan started, broker up). Bodies are arbitrary bytes,
arbitrary JSON, and near-valid JSON / form / CSV bodies built from each provider's real field
names, with values drawn mostly from that field's real vocabulary plus tricky and random ones.
Most requests to a known provider are validly signed for it (HMAC, JWT, Ed25519, URL
signatures, tokens; every provider), so the parsers behind authentication are exercised, not
only the signature checks. Header values are what an HTTP server passes on (no CR/LF/NUL);
framing headers (Content-Length, Transfer-Encoding, Host) are left to the HTTP client.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ingest_calls.domain import plivo, twilio, zadarma
from ingest_calls.providers import PROVIDERS
from integration.ingest_calls.webhooks import (
    AIRCALL_TOKEN,
    ASTERISK_TOKEN,
    CASES,
    CUSTOMER,
    OWN_NUMBER,
    PLIVO_NONCE,
    PLIVO_TOKEN,
    PUBLIC_BASE_URL,
    THREECX_TOKEN,
    TWILIO_TOKEN,
    ZADARMA_SECRET,
    Builder,
    Hook,
    asterisk_csv,
    bearer,
    generic_final,
    sign_generic,
    sign_telnyx,
    sign_twilio,
    sign_vonage,
    twilio_json,
    twilio_pairs,
)

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")),
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
NAMES = sorted(PROVIDERS)

# --- values ----------------------------------------------------------------------------------


def utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # lone surrogates too, as raw bytes


TEXT = st.text(max_size=40)
NUMBERS = [
    CUSTOMER, OWN_NUMBER, "16466063895", "6466063895", "14155550100", "101", "2000", "99999",
    "sip:101@pbx.example", "sips:+16466063895@trunk;user=phone", "sip:@x", "client:alice",
    "client:Anonymous", "anonymous", "Restricted", "+", "00", "+0", "+999999999999999999999",
    "+1 (646) 606-3895 ext. 12", '"Customer" <6466063895>', "tel:+16466063895", "Ext.101",
    "[Number]", "*97", "SOFTPHONE_A", "0049 30 901820", "+4930901820",
]  # fmt: skip
TIMES = [
    "2026-03-02T09:00:00Z", "2026-03-02T09:00:00", "2026-03-02T09:00:00.250000Z",
    "2026-03-02 09:00:00", "2026-03-02 09:00:00.870618", "2026/03/02 09:00:00",
    "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01 00:00:00",
    "9999-12-31 23:59:59", "0001-01-01T00:00:00", "2026-13-45T25:61:61Z", "2026-03-02",
    "Mon, 02 Mar 2026 09:00:00 +0000", "Mon, 02 Mar 2026 09:00:00 -0000",
    "Fri, 31 Dec 9999 23:59:59 -0100", "Mon, 01 Jan 0001 00:00:00 +0100",
    "Mon, 02 Mar 99999 09:00:00 +0000", "1772442000", "1772442000.123", "99999999999",
    "-1", "0",
]  # fmt: skip
# The ends of the calendar, with offsets that push them past it once converted to UTC.
EDGE_TIMES = [
    "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01 00:00:00",
    "9999-12-31 23:59:59", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z", "1970-01-01 00:00:00",
]  # fmt: skip
DURATIONS = [
    "0", "49", "00:00:49", "5:15", "1.02:03:04.5", "999:59:59", "999.23:59:59", "604800",
    "604801", "99999999999", "1e400", "-3", "-0", "4.5", "nan", "inf", "٣", "²", " 49 ",
]  # fmt: skip
IDS = ["CA1", "abc", "1772442000.1", "x" * 201, "A" * 5000, "Call 12", "0", " ", "a/b", "é"]
VOCAB: dict[str, list[Any]] = {
    "direction": [
        "inbound",
        "outbound",
        "internal",
        "outbound-api",
        "outbound-dial",
        "incoming",
        "outgoing",
        "trunking-originating",
        "trunking-terminating",
        "Inbound",
        "OUTBOUND",
    ],
    "status": [
        "answered",
        "no_answer",
        "busy",
        "failed",
        "canceled",
        "voicemail",
        "completed",
        "ringing",
        "started",
        "human",
        "machine",
        "timeout",
        "unanswered",
        "rejected",
        "cancelled",
        "record",
        "transfer",
        "disconnected",
    ],
    "CallStatus": [
        "queued",
        "initiated",
        "ringing",
        "in-progress",
        "completed",
        "busy",
        "no-answer",
        "failed",
        "canceled",
        "cancel",
        "timeout",
    ],
    "Event": ["Hangup", "Ring", "StartApp", "DialAnswer", "DialHangup", "Cdr", "Bridge"],
    "event": [
        "NOTIFY_START",
        "NOTIFY_END",
        "NOTIFY_OUT_START",
        "NOTIFY_OUT_END",
        "NOTIFY_ANSWER",
        "NOTIFY_INTERNAL",
        "NOTIFY_IVR",
        "NOTIFY_RECORD",
        "call.created",
        "call.ended",
        "call.answered",
        "call.ringing_on_agent",
        "call.hungup",
        "user.created",
        "Cdr",
    ],
    "event_type": ["call.hangup", "call.initiated", "call.answered", "call.bridged"],
    "disposition": [
        "answered",
        "busy",
        "cancel",
        "no answer",
        "failed",
        "no money",
        "ANSWERED",
        "NO ANSWER",
        "BUSY",
        "CONGESTION",
        "CANCEL",
        "UNKNOWN",
        "8",
        "16",
        "32",
        "3",
    ],
    "call_type": ["Inbound", "Missed", "Outbound", "Notanswered", "Not answered", "[CallType]"],
    "cause": [
        "normal_clearing",
        "user_busy",
        "timeout",
        "originator_cancel",
        "NORMAL_CLEARING",
        "NO_ANSWER",
        "USER_BUSY",
        "agents_did_not_answer",
        "short_abandoned",
        "200",
        "486",
        "487",
        "603",
        "999",
        "16",
    ],
    "channel": [
        "PJSIP/trunk-0000001a",
        "PJSIP/101-0000001b",
        "SIP/trunk-1",
        "DAHDI/1-1",
        "Local/101@from-internal-00000001;2",
        "PJSIP/",
        "/",
        "PJSIP/101",
    ],
    "context": ["from-trunk", "from-internal", "ext-did", "macro-dialout-trunk", "default"],
    "app": ["Dial", "VoiceMail", "Queue", "Playback"],
    "type": ["external", "internal", "Extension", "Queue", "provider"],
    "region": ["US", "DE", "GB", "XX", "u", "us"],
    "resource": ["call", "user", "number"],
    "bool": ["0", "1", "true", "machine_start", "human"],
}
KIND_OF = {
    **dict.fromkeys(["direction", "Direction", "calldirection"], "direction"),
    **dict.fromkeys(["status"], "status"),
    **dict.fromkeys(["CallStatus"], "CallStatus"),
    **dict.fromkeys(["Event"], "Event"),
    **dict.fromkeys(["event"], "event"),
    **dict.fromkeys(["event_type"], "event_type"),
    **dict.fromkeys(["disposition", "Disposition"], "disposition"),
    **dict.fromkeys(["call_type", "CallType"], "call_type"),
    **dict.fromkeys(
        [
            "hangup_cause", "sip_hangup_cause", "HangupCause", "HangupCauseName",
            "missed_call_reason", "SipResponseCode", "status_code", "reason-terminated",
            "detail",
        ],
        "cause",
    ),
    **dict.fromkeys(
        ["Channel", "DestinationChannel", "channel", "dstchannel", "LastData", "lastdata"],
        "channel",
    ),
    **dict.fromkeys(["DestinationContext", "dcontext"], "context"),
    **dict.fromkeys(["LastApplication", "lastapp"], "app"),
    **dict.fromkeys(["from-type", "to-type", "final-type", "type"], "type"),
    **dict.fromkeys(["region"], "region"),
    **dict.fromkeys(["resource"], "resource"),
    **dict.fromkeys(["AnsweredBy", "is_recorded"], "bool"),
    **dict.fromkeys(
        [
            "from", "to", "From", "To", "Called", "Caller", "caller_id", "called_did",
            "destination", "internal", "raw_digits", "digits", "Source", "Destination",
            "CallerID", "src", "dst", "did", "cnum", "clid", "number", "agent", "queue",
            "QueueExtension", "DialBLegTo", "from_user", "from-no", "to-no", "from-dn",
            "to-dn", "dial-no", "final-dn", "final-number", "user", "uri",
        ],
        "number",
    ),
    **dict.fromkeys(
        [
            "started_at", "answered_at", "ended_at", "timestamp", "start_time", "end_time",
            "Timestamp", "StartTime", "AnswerTime", "EndTime", "SessionStart", "call_start",
            "calldate", "CallStartTimeUTC", "CallEstablishedTimeUTC", "occurred_at", "start",
            "answer", "end", "time-start", "time-answered", "time-end",
        ],
        "time",
    ),
    **dict.fromkeys(
        [
            "CallDuration", "duration", "Duration", "BillDuration", "BillableSeconds",
            "billsec", "ring_s", "talk_s",
        ],
        "duration",
    ),
    **dict.fromkeys(
        [
            "id", "uuid", "call_uuid", "conversation_uuid", "CallSid", "ParentCallSid",
            "CallUUID", "ALegUUID", "pbx_call_id", "call_leg_id", "call_control_id",
            "call_session_id", "UniqueID", "uniqueid", "LinkedID", "linkedid", "Sequence",
            "sequence", "call_id", "callid", "historyid", "linked_id",
        ],
        "id",
    ),
}  # fmt: skip
POOLS: dict[str, st.SearchStrategy[Any]] = {
    **{kind: st.sampled_from(values) for kind, values in VOCAB.items()},
    "number": st.sampled_from(NUMBERS),
    "time": st.one_of(
        st.sampled_from(EDGE_TIMES),
        st.sampled_from(TIMES),
        st.sampled_from([1_772_442_000, 1_772_442_000.5, 0, -1, 10**12, 10**20, 2**63]),
    ),
    "duration": st.one_of(st.sampled_from(DURATIONS), st.sampled_from([0, 49, -1, 1e300])),
    "id": st.one_of(st.sampled_from(IDS), st.integers(), TEXT),
}
WORD = st.sampled_from(sorted({str(v) for vs in VOCAB.values() for v in vs}))
NUMBER = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),  # json.loads reads NaN and Infinity
)
SCALAR = st.one_of(WORD, TEXT, NUMBER, st.booleans(), st.none())
JSON_VALUE = st.recursive(
    SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=8,
)

# JSON nested deeper than a serializer may go (json.loads reads about 1000 levels).
DEEP = st.integers(1, 600).map(lambda depth: json.loads("[" * depth + "]" * depth))


@st.composite
def chance(draw: st.DrawFn, percent: int) -> bool:
    """True `percent` % of the time (one_of's branch choice is not uniform enough)."""
    return draw(st.integers(0, 99)) < percent


@st.composite
def value_for(draw: st.DrawFn, field: str) -> Any:
    """Mostly the field's real vocabulary; sometimes anything at all."""
    pool = POOLS.get(KIND_OF.get(field, ""))
    if pool is not None and draw(chance(70)):
        return draw(pool)
    return draw(st.one_of(SCALAR, JSON_VALUE) if draw(chance(70)) else WORD)


def text_for(field: str) -> st.SearchStrategy[str]:
    """A form or CSV value for the field."""
    return value_for(field).map(lambda v: v if isinstance(v, str) else json.dumps(v))


@st.composite
def record(
    draw: st.DrawFn,
    fields: list[str],
    required: tuple[str, ...] = (),
    vocab: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """An object with the provider's keys: the required ones nearly always (mostly with a real
    value; `vocab` narrows a field to this provider's words), others at random."""
    out: dict[str, Any] = {}
    for name in required:
        if draw(chance(90)):
            words = (vocab or {}).get(name)
            if words and draw(chance(80)):
                out[name] = draw(st.sampled_from(words))
            else:
                out[name] = draw(value_for(name))
    for name in draw(st.lists(st.sampled_from(fields), max_size=len(fields), unique=True)):
        out[name] = draw(value_for(name))
    for name in draw(st.lists(TEXT, max_size=2)):
        out[name] = draw(SCALAR)
    return out


# --- near-valid bodies from each provider's real field names ---------------------------------

GENERIC = [
    "id", "direction", "status", "from", "to", "started_at", "answered_at", "ended_at",
    "ring_s", "talk_s", "agent", "linked_id", "recording_url", "hangup_cause", "region",
]  # fmt: skip
TWILIO = [
    "CallSid", "CallStatus", "Direction", "From", "To", "Timestamp", "CallDuration",
    "AnsweredBy", "ParentCallSid", "RecordingUrl", "SipResponseCode", "Called", "Caller",
]  # fmt: skip
VONAGE = [
    "from", "to", "uuid", "call_uuid", "conversation_uuid", "status", "direction",
    "timestamp", "duration", "start_time", "end_time", "from_user", "detail",
]  # fmt: skip
TELNYX = [
    "call_leg_id", "call_control_id", "call_session_id", "from", "to", "direction",
    "start_time", "end_time", "hangup_cause", "sip_hangup_cause", "state",
]  # fmt: skip
PLIVO = [
    "CallUUID", "CallStatus", "Event", "Direction", "From", "To", "StartTime", "AnswerTime",
    "EndTime", "SessionStart", "Duration", "BillDuration", "HangupCause", "HangupCauseName",
    "ALegUUID", "DialBLegTo",
]  # fmt: skip
ZADARMA = [
    "event", "call_start", "pbx_call_id", "caller_id", "called_did", "destination",
    "internal", "duration", "disposition", "status_code", "is_recorded", "call_id_with_rec",
]  # fmt: skip
AIRCALL = [
    "id", "direction", "started_at", "answered_at", "ended_at", "raw_digits", "number",
    "user", "missed_call_reason", "voicemail", "recording", "asset", "hangup_cause",
]  # fmt: skip
ASTERISK = [
    "Event", "Source", "Destination", "DestinationContext", "CallerID", "Channel",
    "DestinationChannel", "LastApplication", "LastData", "StartTime", "AnswerTime", "EndTime",
    "Duration", "BillableSeconds", "Disposition", "UniqueID", "LinkedID", "Sequence",
    "calldate", "src", "dst", "did", "recordingfile", "cnum", "clid", "uniqueid",
]  # fmt: skip
ASTERISK_COLUMNS = [
    "accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp",
    "lastdata", "start", "answer", "end", "duration", "billsec", "disposition", "amaflags",
    "uniqueid", "userfield", "peeraccount", "linkedid", "sequence",
]  # fmt: skip
THREECX = [
    "call_type", "CallType", "direction", "number", "name", "agent", "queue",
    "QueueExtension", "duration", "started_at", "CallStartTimeUTC", "answered_at",
    "CallEstablishedTimeUTC", "ended_at", "recording_url", "call_id",
]  # fmt: skip
THREECX_COLUMNS = [
    "historyid", "callid", "duration", "time-start", "time-answered", "time-end",
    "reason-terminated", "from-no", "to-no", "from-dn", "to-dn", "dial-no", "reason-changed",
    "final-number", "final-dn", "bill-code", "bill-rate", "bill-cost", "bill-name", "chain",
    "from-type", "to-type", "final-type", "from-dispname", "to-dispname", "final-dispname",
    "missed-queue-calls",
]  # fmt: skip


VOCAB_OF = {
    "generic": {
        "direction": ["inbound", "outbound", "internal"],
        "status": ["answered", "no_answer", "busy", "failed", "canceled", "voicemail"],
    },
    "asterisk": {"Disposition": ["ANSWERED", "NO ANSWER", "BUSY", "FAILED", "8"]},
    "threecx": {"call_type": ["Inbound", "Missed", "Outbound", "Notanswered"]},
    "zadarma": {"event": sorted(zadarma.SIGNED_FIELDS)},
    "aircall": {"event": ["call.created", "call.ended", "call.answered", "call.hungup"]},
    "twilio": {"CallStatus": ["ringing", "in-progress", "completed", "busy", "no-answer"]},
    "plivo": {"Event": ["Hangup", "Ring", "StartApp", "DialAnswer"]},
}


def one_or_many(item: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.booleans().flatmap(lambda many: st.lists(item, max_size=3) if many else item)


@st.composite
def telnyx_document(draw: st.DrawFn) -> Any:
    data = draw(record(["event_type", "id", "occurred_at", "record_type"], ("event_type",)))
    if draw(chance(90)):
        data["payload"] = draw(record(TELNYX, ("call_leg_id", "from", "to")))
    else:
        data["payload"] = draw(JSON_VALUE)
    return {"data": data, "meta": {"attempt": 1}} if draw(chance(90)) else data


@st.composite
def aircall_document(draw: st.DrawFn) -> Any:
    document = draw(
        record(["resource", "event", "timestamp"], ("resource", "event"), VOCAB_OF["aircall"])
    )
    document["token"] = draw(st.sampled_from([AIRCALL_TOKEN] * 6 + ["", "x", 1, None]))
    data = draw(record(AIRCALL, ("id", "direction", "started_at")))
    if "number" in data and draw(st.booleans()):
        data["number"] = {"digits": draw(value_for("digits"))}
    if "user" in data and draw(st.booleans()):
        data["user"] = draw(record(["email", "id"]))
    document["data"] = data if draw(chance(90)) else draw(JSON_VALUE)
    return document


STRUCTURED_JSON: dict[str, st.SearchStrategy[Any]] = {
    "generic": one_or_many(
        record(GENERIC, ("id", "direction", "status", "started_at"), VOCAB_OF["generic"])
    ),
    "twilio": record(TWILIO, ("CallSid", "CallStatus", "Direction"), VOCAB_OF["twilio"]),
    "vonage": record(VONAGE, ("uuid", "status", "direction")),
    "telnyx": telnyx_document(),
    "aircall": aircall_document(),
    "asterisk": one_or_many(record(ASTERISK, ("Disposition", "StartTime"), VOCAB_OF["asterisk"])),
    "threecx": one_or_many(record(THREECX, ("call_type", "started_at"), VOCAB_OF["threecx"])),
}
FORMS = {
    "twilio": (TWILIO, ("CallSid", "CallStatus", "Direction")),
    "plivo": (PLIVO, ("CallUUID", "CallStatus", "Direction", "Event")),
    "zadarma": (ZADARMA, ("event", "pbx_call_id", "call_start", "caller_id", "called_did")),
}
CSV_LAYOUTS = {"asterisk": ASTERISK_COLUMNS, "threecx": THREECX_COLUMNS}


def encode_json(document: Any) -> bytes:
    return utf8(json.dumps(document, ensure_ascii=False))


def bind(builder: Builder, value: str) -> Callable[[str], Hook]:
    return lambda call_id: builder(call_id, value)


# Valid requests of each provider, as test_providers sends them; the fuzzer changes a few fields.
FINALS: dict[str, list[Callable[[str], Hook]]] = {
    name: [bind(case.final, "answered"), bind(case.final, case.other_status)]
    + [bind(case.progress, state) for state in case.progress_states if case.progress]
    for name, case in CASES.items()
}
FINALS["asterisk"].append(asterisk_csv)
FINALS["twilio"].append(lambda call_id: twilio_json(call_id, "completed"))
CALL_IDS = st.one_of(st.text("0123456789abcdef", min_size=1, max_size=12), st.sampled_from(IDS))


def slots(document: Any, depth: int = 0) -> list[tuple[dict[str, Any], str]]:
    """Every (object, key) in a JSON document, nested objects too."""
    found: list[tuple[dict[str, Any], str]] = []
    items = document if isinstance(document, list) else [document]
    for item in items:
        if isinstance(item, dict):
            for key, value in item.items():
                found.append((item, key))
                if depth < 3:
                    found += slots(value, depth + 1)
    return found


@st.composite
def mutate_json(draw: st.DrawFn, document: Any) -> Any:
    for _ in range(draw(st.integers(1, 3))):
        places = slots(document)
        if not places:
            break
        container, key = draw(st.sampled_from(places))
        roll = draw(st.integers(0, 9))
        if roll == 0:
            del container[key]
        elif roll == 1:
            container[draw(TEXT)] = draw(DEEP if draw(chance(25)) else SCALAR)
        else:
            container[key] = draw(value_for(key))
    return document


@st.composite
def mutate_pairs(draw: st.DrawFn, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    for _ in range(draw(st.integers(1, 3))):
        if not pairs:
            break
        index = draw(st.integers(0, len(pairs) - 1))
        key = pairs[index][0]
        roll = draw(st.integers(0, 9))
        if roll == 0:
            del pairs[index]
        elif roll == 1:
            pairs.insert(index, (key, draw(text_for(key))))  # a repeated field
        else:
            pairs[index] = (key, draw(text_for(key)))
    return pairs


@st.composite
def mutated_valid(draw: st.DrawFn, provider: str) -> bytes:
    hook = draw(st.sampled_from(FINALS[provider]))(draw(CALL_IDS))
    content_type = hook.headers["Content-Type"]
    if content_type == "application/json":
        return encode_json(draw(mutate_json(json.loads(hook.body))))
    if content_type == "text/csv":
        rows = list(csv.reader(io.StringIO(hook.body.decode())))
        return encode_csv(draw(mutate_cells(rows)))
    pairs = parse_qsl(hook.body.decode(), keep_blank_values=True)
    mutated = draw(mutate_pairs(pairs))
    return urlencode([(utf8(k), utf8(v)) for k, v in mutated]).encode()


@st.composite
def mutate_cells(draw: st.DrawFn, rows: list[list[str]]) -> list[list[str]]:
    row = rows[0]
    for _ in range(draw(st.integers(1, 3))):
        index = draw(st.integers(0, len(row) - 1))
        row[index] = draw(text_for(ASTERISK_COLUMNS[index] if index < 21 else ""))
    return rows


def encode_csv(rows: list[list[str]]) -> bytes:
    lines = [",".join('"' + c.replace('"', '""') + '"' for c in row) for row in rows]
    return utf8("\n".join(lines) + "\n")


@st.composite
def form_body(
    draw: st.DrawFn, fields: list[str], required: tuple[str, ...], provider: str
) -> bytes:
    document = draw(record(fields, required, VOCAB_OF.get(provider)))
    pairs = [(str(k), v if isinstance(v, str) else json.dumps(v)) for k, v in document.items()]
    pairs += draw(st.lists(st.tuples(st.sampled_from(fields), text_for("")), max_size=2))
    text = urlencode([(utf8(k), utf8(v)) for k, v in pairs])
    tail = draw(st.sampled_from(["", "", "", "&%FF=%FE", "&=&&", "&x", "%", "&a=%ZZ"]))
    return (text + tail).encode()


@st.composite
def csv_body(draw: st.DrawFn, columns: list[str]) -> bytes:
    layout = list(columns)
    header = draw(st.booleans())
    if header:
        layout = draw(st.permutations(columns))[: draw(st.integers(2, len(columns)))]
    else:
        layout = layout[: draw(st.sampled_from([16, 17, 18, 19, 20, 21, len(columns)]))]
    rows = [[draw(text_for(name)) for name in layout] for _ in range(draw(st.integers(0, 3)))]
    if draw(chance(20)) and rows:  # a ragged row
        rows[-1] = rows[-1][: draw(st.integers(0, len(rows[-1])))]
    lines = [",".join('"' + c.replace('"', '""') + '"' for c in row) for row in rows]
    if header:
        lines.insert(0, ",".join(layout))
    tail = draw(st.sampled_from(["", "\n", "\r\n", '"', ',"x', "\n\n", "\x00"]))
    text = "\n".join(lines) + tail
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "latin-1"]))
    return text.encode(encoding, "replace")


@st.composite
def body_for(draw: st.DrawFn, provider: str) -> bytes:
    structured: list[st.SearchStrategy[bytes]] = []
    if provider in STRUCTURED_JSON:
        structured.append(STRUCTURED_JSON[provider].map(encode_json))
    if provider in FORMS:
        structured.append(form_body(*FORMS[provider], provider))
    if provider in CSV_LAYOUTS:
        structured.append(csv_body(CSV_LAYOUTS[provider]))
    if provider in FINALS and draw(chance(50)):
        return draw(mutated_valid(provider))
    if draw(chance(70)) and structured:
        return draw(st.sampled_from(structured).flatmap(lambda strategy: strategy))
    return draw(st.one_of(st.binary(max_size=300), JSON_VALUE.map(encode_json)))


# --- headers, content types, queries, names --------------------------------------------------

SIGNATURE_HEADERS = [
    "x-switchboard-timestamp", "x-switchboard-signature", "x-twilio-signature",
    "authorization", "telnyx-signature-ed25519", "telnyx-timestamp", "x-plivo-signature-v3",
    "x-plivo-signature-ma-v3", "x-plivo-signature-v3-nonce", "signature",
]  # fmt: skip
TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~"
# What an HTTP server passes on as a header value: no CR, LF or NUL, no surrounding blanks.
HEADER_VALUE = st.one_of(
    st.text(
        st.characters(codec="latin-1", exclude_categories=["Cc"]) | st.just("\t"), max_size=60
    ).map(lambda v: v.strip(" \t").encode("latin-1")),
    st.sampled_from(
        [
            b"Bearer ",
            b"Bearer x.y.z",
            b"Bearer eyJhbGciOiJIUzI1NiJ9.e30.",
            b"Bearer eyJhbGciOiJIUzI1NiJ9.eyJpYXQiOjF9.AAAA",
            b"Bearer " + ASTERISK_TOKEN.encode(),
            b"Basic dXNlcjpwYXNz",
            b"sha256=00",
            b"1772442000",
            b"99999999999999999999999",
            b"-1",
            b"AAAA",
            b"=" * 8,
            b"a,b,,c",
            b"\xff\xfe",
        ]
    ),
)
# Framing headers are the HTTP server's business (h11 and httptools reject malformed ones).
FRAMING = {"content-length", "transfer-encoding", "host", "content-type"}
HEADER_NAME = st.one_of(
    st.sampled_from(SIGNATURE_HEADERS), st.text(TOKEN_CHARS, min_size=1, max_size=20)
).filter(lambda name: name.lower() not in FRAMING)
HEADERS = st.dictionaries(HEADER_NAME, HEADER_VALUE, max_size=5)
KNOWN_TYPES = sorted({t for p in PROVIDERS.values() for t in p.content_types})
CONTENT_TYPE = st.one_of(
    st.sampled_from(KNOWN_TYPES),
    st.sampled_from(KNOWN_TYPES).map(lambda t: t.upper() + "; charset=utf-8"),
    st.sampled_from(["", "text/plain", "multipart/form-data; boundary=x", ";", "application/"]),
    HEADER_VALUE.map(lambda v: v.decode("latin-1")),
)


def query_of(names: list[str], values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pairs = st.lists(st.tuples(st.sampled_from(names) | TEXT, values), max_size=4)
    return pairs.map(lambda items: urlencode([(utf8(k), utf8(v)) for k, v in items]))


QUERY = st.one_of(st.just(""), st.just(""), query_of(["tenant", "bodySHA256"], TEXT))


@st.composite
def provider_names(draw: st.DrawFn, favour: tuple[str, ...] = ()) -> str:
    if draw(chance(5)):
        return draw(TEXT.filter(bool))
    if draw(chance(5)):
        return draw(st.sampled_from(["unknown", "GENERIC", "twilio ", "..", "%00", "a/b"]))
    return draw(st.sampled_from([*NAMES, *favour]))


# --- signing ---------------------------------------------------------------------------------


def form_pairs(body: bytes) -> list[tuple[str, str]] | None:
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return None


def signed_headers(provider: str, body: bytes, query: str, content_type: str) -> dict[str, str]:
    """Valid credentials for this body, query and content type (empty: cannot be signed)."""
    url = f"{PUBLIC_BASE_URL}/webhooks/{provider}" + (f"?{query}" if query else "")
    media = content_type.split(";")[0].strip().lower()
    pairs = form_pairs(body)
    credentials: dict[str, str] = {}
    if provider == "generic":
        credentials = sign_generic(body)
    elif provider == "vonage":
        credentials = sign_vonage(body)
    elif provider == "telnyx":
        credentials = sign_telnyx(body)
    elif provider in ("asterisk", "threecx"):
        token = ASTERISK_TOKEN if provider == "asterisk" else THREECX_TOKEN
        credentials = {"Authorization": f"Bearer {token}"}
    elif provider == "twilio" and media == "application/json":
        credentials = {"X-Twilio-Signature": twilio.compute_signature(TWILIO_TOKEN, url)}
    elif provider == "twilio" and pairs is not None:
        signature = twilio.compute_signature(TWILIO_TOKEN, url, pairs)
        credentials = {"X-Twilio-Signature": signature}
    elif provider == "plivo" and pairs is not None:
        multi: dict[str, list[str]] = {}
        for key, value in pairs:
            multi.setdefault(key, []).append(value)
        signature = plivo.signature_v3(PLIVO_TOKEN, "POST", url, PLIVO_NONCE, multi)
        credentials = {
            "X-Plivo-Signature-V3": signature,
            "X-Plivo-Signature-V3-Nonce": PLIVO_NONCE,
        }
    elif provider == "zadarma" and pairs is not None:
        signed = zadarma.signed_string(dict(pairs))
        if signed is not None:
            credentials = {"Signature": zadarma.signature(ZADARMA_SECRET, signed)}
    credentials.pop("Content-Type", None)
    return credentials


@dataclass(frozen=True)
class Attempt:
    provider: str
    path: str
    body: bytes
    headers: dict[bytes, bytes]
    signed: bool


@st.composite
def attempts(draw: st.DrawFn) -> Attempt:
    provider = draw(provider_names())
    adapter = PROVIDERS.get(provider)
    body = draw(body_for(provider))
    query = draw(QUERY)
    signed = adapter is not None and draw(chance(80))  # mostly signed
    if signed and adapter is not None:
        accepted = st.sampled_from(sorted(adapter.content_types))
        content_type = draw(accepted if draw(chance(85)) else CONTENT_TYPE)
        if provider == "twilio" and content_type.lower().startswith("application/json"):
            query = urlencode([*parse_qsl(query), ("bodySHA256", twilio.body_hash(body))])
    else:
        content_type = draw(CONTENT_TYPE)
    headers = {name.encode(): value for name, value in draw(HEADERS).items()}
    headers[b"Content-Type"] = content_type.encode("latin-1", "replace")
    if signed:
        credentials = signed_headers(provider, body, query, content_type)
        headers.update({name.encode(): value.encode() for name, value in credentials.items()})
        signed = bool(credentials) or provider == "aircall"  # its token is in the body
    path = f"/webhooks/{quote(provider, safe='')}" + (f"?{query}" if query else "")
    return Attempt(provider, path, body, headers, signed)


def check(response: httpx.Response, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code} {response.text[:500]}"
    assert response.status_code != 503, f"{what}: 503 although the broker is up"
    if response.status_code >= 400:
        assert response.headers["content-type"] == PROBLEM, what


# --- the properties --------------------------------------------------------------------------


@FUZZ
@given(attempt=attempts())
async def test_no_post_gets_a_5xx(client: httpx.AsyncClient, attempt: Attempt) -> None:
    response = await client.post(attempt.path, content=attempt.body, headers=attempt.headers)
    event(f"{attempt.provider if attempt.signed else 'unsigned'} -> {response.status_code}")
    check(response, f"POST {attempt.path}")
    if response.status_code == 200:
        accepted = response.json()["accepted"]
        assert isinstance(accepted, list)
        assert all(a["outcome"] in ("published", "duplicate", "late") for a in accepted)
    if response.status_code == 422 and attempt.provider in PROVIDERS:
        assert response.json()["rejected_event_id"]  # kept on ingest.rejected.v1


GET_QUERY = query_of(
    ["zd_echo", "number", "tenant"],
    st.one_of(WORD, TEXT, st.sampled_from(["abc", "d9b1-a7c4", " 4930901820", CUSTOMER])),
)


@FUZZ
@given(
    provider=provider_names(favour=("zadarma", "threecx") * 4),
    query=GET_QUERY,
    headers=HEADERS,
    token=st.sampled_from([None, THREECX_TOKEN, THREECX_TOKEN, ASTERISK_TOKEN]),
)
async def test_no_get_gets_a_5xx(
    client: httpx.AsyncClient,
    provider: str,
    query: str,
    headers: dict[str, bytes],
    token: str | None,
) -> None:
    sent = {name.encode(): value for name, value in headers.items()}
    if token is not None:
        sent[b"Authorization"] = f"Bearer {token}".encode()
    path = f"/webhooks/{quote(provider, safe='')}" + (f"?{query}" if query else "")
    response = await client.get(path, headers=sent)
    event(f"GET {provider if provider in PROVIDERS else '?'} -> {response.status_code}")
    check(response, f"GET {path}")
    if response.status_code == 200 and provider == "zadarma":
        assert response.headers["content-type"].startswith("text/plain")


# --- inputs that got a 5xx ---------------------------------------------------------------------
# Found by the properties above (or by following their leads); each one failed when written.


def generic_at(started_at: str) -> Hook:
    call = {**json.loads(generic_final("edge-of-time", "no_answer").body), "started_at": started_at}
    call.pop("ended_at")
    body = encode_json(call)
    return Hook("generic", body, sign_generic(body))


def asterisk_cdr(**fields: str) -> Hook:
    cdr = {"Source": "6466063895", "Destination": "101", "UniqueID": "1772442000.99", **fields}
    return Hook("asterisk", encode_json(cdr), bearer(ASTERISK_TOKEN))


def threecx_entry(**fields: str) -> Hook:
    entry = {"call_type": "Inbound", "number": CUSTOMER, "agent": "101", **fields}
    return Hook("threecx", encode_json(entry), bearer(THREECX_TOKEN))


def nested(provider: str, depth: int) -> Hook:
    """A valid call whose body carries one extra, deeply nested field (kept in `raw`)."""
    valid = CASES[provider].final(f"nested-{depth}", "no_answer")
    document = json.loads(valid.body)
    target = document["data"] if provider in ("telnyx", "aircall") else document
    target["extra"] = json.loads("[" * depth + "]" * depth)
    body = encode_json(document)
    signers: dict[str, Callable[[bytes], dict[str, str]]] = {
        "telnyx": sign_telnyx,
        "vonage": sign_vonage,
        "generic": sign_generic,
    }
    signer = signers.get(provider)
    return Hook(provider, body, signer(body) if signer else valid.headers)


def generic_with_floats() -> Hook:
    """880 kB of `1e5`: re-serialized in `raw` as `100000.0`, 2.2 times the size."""
    call = generic_final("big-raw", "no_answer").body
    body = call[:-1] + b',"extra":[' + b"1e5," * 220_000 + b"1]}"
    return Hook("generic", body, sign_generic(body))


def control_characters() -> Hook:
    """Signed, not JSON: kept on ingest.rejected.v1, where each byte becomes `\\u0001`."""
    body = b"\x01" * 200_000
    return Hook("generic", body, sign_generic(body))


def twilio_with_control_characters() -> Hook:
    pairs = [*twilio_pairs("CAbigform", "no-answer"), ("CallerName", "\x01" * 300_000)]
    return Hook("twilio", urlencode(pairs).encode(), sign_twilio(pairs))


def telnyx_long_call_id() -> Hook:
    """A 250 kB call_leg_id (in the body three times): in the record twice, and in ce_subject."""
    return CASES["telnyx"].final("L" * 250_000, "no_answer")


FOUND: dict[str, Callable[[], Hook]] = {
    "generic-start-before-year-1-in-utc": lambda: generic_at("0001-01-01T00:00:00+14:00"),
    "generic-start-after-year-9999-in-utc": lambda: generic_at("9999-12-31T23:59:59-14:00"),
    "asterisk-start-plus-duration-after-9999": lambda: asterisk_cdr(
        Disposition="NO ANSWER", StartTime="9999-12-31 23:59:59", Duration="60"
    ),
    "asterisk-end-minus-billsec-before-year-1": lambda: asterisk_cdr(
        Disposition="ANSWERED",
        StartTime="0001-01-01 00:00:00",
        EndTime="0001-01-01 00:00:10",
        BillableSeconds="49",
    ),
    "threecx-answer-plus-duration-after-9999": lambda: threecx_entry(
        started_at="2026-03-02T09:00:00Z",
        answered_at="9999-12-31T23:59:59Z",
        duration="00:00:49",
    ),
    "generic-raw-nested-300-deep": lambda: nested("generic", 300),
    "telnyx-raw-nested-300-deep": lambda: nested("telnyx", 300),
    "aircall-raw-nested-300-deep": lambda: nested("aircall", 300),
    "generic-raw-over-1-mib-once-serialized": generic_with_floats,
    "rejected-body-over-1-mib-once-escaped": control_characters,
    "twilio-raw-over-1-mib-once-escaped": twilio_with_control_characters,
    "telnyx-call-id-of-250-kb": telnyx_long_call_id,
}


@pytest.mark.parametrize("name", sorted(FOUND))
async def test_inputs_found_get_no_5xx(name: str, client: httpx.AsyncClient) -> None:
    hook = FOUND[name]()
    response = await client.post(hook.path, content=hook.body, headers=hook.headers)
    check(response, name)
