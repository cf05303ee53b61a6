"""Realistic, correctly signed provider requests for ingest-calls, and reading back what it
published.

Every provider's secret is a generated test secret; the Telnyx key pair is generated once per
process. URL-signing providers (Twilio, Plivo) sign `PUBLIC_BASE_URL` + path, as they would
behind a proxy. All calls are between our number `OWN_NUMBER` (or extension 101) and the
customer `CUSTOMER`, so the expected Kafka key is always `CUSTOMER`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from aiokafka import AIOKafkaConsumer, TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ingest_calls.config import Settings
from ingest_calls.domain import plivo, twilio, vonage, zadarma
from support.generic_webhook import signature_headers
from switchboard_shared.settings import CommonSettings
from switchboard_shared.topics import CALLS_PROGRESS, CALLS_RECORDED, Topic

PUBLIC_BASE_URL = "https://calls.example.com"
OWN_NUMBER = "+14155550100"
OWN_NATIONAL = "14155550100"  # as Vonage and Plivo write numbers: no "+"
CUSTOMER = "+16466063895"
CUSTOMER_NATIONAL = "16466063895"
AGENT_EXTENSION = "101"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
CSV = "text/csv"

GENERIC_SECRET = "it-generic-" + secrets.token_hex(16)
TWILIO_TOKEN = secrets.token_hex(16)
VONAGE_SECRET = "it-vonage-" + secrets.token_hex(16)
PLIVO_TOKEN = secrets.token_urlsafe(24)
ZADARMA_SECRET = secrets.token_hex(10)
AIRCALL_TOKEN = secrets.token_hex(16)
ASTERISK_TOKEN = "it-asterisk-" + secrets.token_hex(16)
THREECX_TOKEN = "it-threecx-" + secrets.token_hex(16)
TELNYX_KEY = Ed25519PrivateKey.generate()
TELNYX_PUBLIC_KEY = base64.b64encode(TELNYX_KEY.public_key().public_bytes_raw()).decode()
PLIVO_NONCE = "05429567804466091622"

SECRETS: dict[str, str] = {
    "generic_hmac_secret": GENERIC_SECRET,
    "twilio_auth_token": TWILIO_TOKEN,
    "vonage_signature_secret": VONAGE_SECRET,
    "telnyx_public_key": TELNYX_PUBLIC_KEY,
    "plivo_auth_token": PLIVO_TOKEN,
    "zadarma_api_secret": ZADARMA_SECRET,
    "aircall_token": AIRCALL_TOKEN,
    "asterisk_token": ASTERISK_TOKEN,
    "threecx_token": THREECX_TOKEN,
}
# The setting holding each provider's secret.
SECRET_SETTING = {
    "generic": "generic_hmac_secret",
    "twilio": "twilio_auth_token",
    "vonage": "vonage_signature_secret",
    "telnyx": "telnyx_public_key",
    "plivo": "plivo_auth_token",
    "zadarma": "zadarma_api_secret",
    "aircall": "aircall_token",
    "asterisk": "asterisk_token",
    "threecx": "threecx_token",
}


def settings_for(bootstrap: str, **overrides: Any) -> Settings:
    """Every provider enabled, our numbers and extensions set, connected to `bootstrap`."""
    values: dict[str, Any] = {
        **SECRETS,
        "public_base_url": PUBLIC_BASE_URL,
        "own_numbers": f"{OWN_NUMBER}, +1 (415) 555-0101",
        "internal_ranges": "100-199,2000-2099",
        "common": CommonSettings(
            kafka_bootstrap=bootstrap,
            default_region="US",
            publish_timeout_s=5.0,
            intake_publish_timeout_s=5.0,
        ),
    }
    values.update(overrides)
    return Settings(**values)


# --- requests --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hook:
    """One provider request, ready for `client.post(hook.path, ...)`."""

    provider: str
    body: bytes
    headers: dict[str, str]
    query: str = ""

    @property
    def path(self) -> str:
        return f"/webhooks/{self.provider}" + (f"?{self.query}" if self.query else "")

    def replace(self, old: bytes, new: bytes) -> Hook:
        """The same request with its body changed after signing."""
        assert old in self.body, f"{old!r} is not in the body"
        return Hook(self.provider, self.body.replace(old, new), self.headers, self.query)


def new_call_id(provider: str) -> str:
    """A fresh provider call id, shaped like the provider's own."""
    hexa = uuid.uuid4().hex
    shapes: dict[str, Callable[[], str]] = {
        "twilio": lambda: "CA" + hexa,
        "vonage": lambda: str(uuid.UUID(hexa)),
        "telnyx": lambda: str(uuid.UUID(hexa)),
        "plivo": lambda: str(uuid.UUID(hexa)),
        "zadarma": lambda: f"in_{hexa[:16]}",
        "aircall": lambda: str(int(hexa[:12], 16)),
        "asterisk": lambda: f"{int(time.time())}.{int(hexa[:6], 16)}",
        "threecx": lambda: f"00000{hexa[:16].upper()}",
    }
    return shapes.get(provider, lambda: f"it-{hexa[:20]}")()


def _times() -> tuple[datetime, datetime, datetime]:
    """Start, answer and end of a call that ended half a minute ago (whole seconds)."""
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    start = end - timedelta(seconds=60)
    return start, start + timedelta(seconds=11), end


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _local(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def _json(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _pick(table: dict[str, str], key: str) -> str:
    assert key in table, f"no mapping for {key!r}; one of {sorted(table)}"
    return table[key]


# generic: inbound from the customer to our number -----------------------------------------


def sign_generic(body: bytes, secret: str = GENERIC_SECRET) -> dict[str, str]:
    return signature_headers(body, secret)


def generic_final(call_id: str, status: str, secret: str = GENERIC_SECRET) -> Hook:
    start, answer, end = _times()
    call: dict[str, Any] = {
        "id": call_id,
        "direction": "inbound",
        "status": status,
        "from": CUSTOMER,
        "to": OWN_NUMBER,
        "started_at": _iso(start),
        "ended_at": _iso(end),
        "agent": AGENT_EXTENSION,
    }
    if status == "answered":
        call["answered_at"] = _iso(answer)
    body = _json(call)
    return Hook("generic", body, sign_generic(body, secret))


# twilio: inbound status callbacks, form-encoded, X-Twilio-Signature over the public URL ------

TWILIO_FINAL = {"answered": "completed", "no_answer": "no-answer", "busy": "busy"}
TWILIO_PROGRESS = {"initiated": "initiated", "ringing": "ringing", "answered": "in-progress"}


def twilio_pairs(call_sid: str, call_status: str) -> list[tuple[str, str]]:
    pairs = [
        ("AccountSid", "AC" + "0" * 32),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", call_sid),
        ("CallStatus", call_status),
        ("Called", OWN_NUMBER),
        ("Caller", CUSTOMER),
        ("Direction", "inbound"),
        ("From", CUSTOMER),
        ("To", OWN_NUMBER),
        ("FromCountry", "US"),
        ("Timestamp", format_datetime(datetime.now(UTC), usegmt=True)),
        ("CallbackSource", "call-progress-events"),
        ("SequenceNumber", "2"),
    ]
    if call_status == "completed":
        pairs.append(("CallDuration", "49"))
    return pairs


def sign_twilio(
    pairs: Sequence[tuple[str, str]], token: str = TWILIO_TOKEN, query: str = ""
) -> dict[str, str]:
    url = f"{PUBLIC_BASE_URL}/webhooks/twilio" + (f"?{query}" if query else "")
    return {
        "Content-Type": FORM,
        "X-Twilio-Signature": twilio.compute_signature(token, url, pairs),
    }


def _twilio(call_sid: str, call_status: str, token: str) -> Hook:
    pairs = twilio_pairs(call_sid, call_status)
    return Hook("twilio", urlencode(pairs).encode(), sign_twilio(pairs, token))


def twilio_final(call_id: str, status: str, secret: str = TWILIO_TOKEN) -> Hook:
    return _twilio(call_id, _pick(TWILIO_FINAL, status), secret)


def twilio_progress(call_id: str, state: str, secret: str = TWILIO_TOKEN) -> Hook:
    return _twilio(call_id, _pick(TWILIO_PROGRESS, state), secret)


def twilio_json(call_id: str, call_status: str, token: str = TWILIO_TOKEN) -> Hook:
    """A JSON-bodied callback: the body is signed through `bodySHA256` in the URL."""
    body = _json({k: v for k, v in twilio_pairs(call_id, call_status)})
    query = urlencode({"tenant": "acme", "bodySHA256": twilio.body_hash(body)})
    url = f"{PUBLIC_BASE_URL}/webhooks/twilio?{query}"
    headers = {"Content-Type": JSON, "X-Twilio-Signature": twilio.compute_signature(token, url)}
    return Hook("twilio", body, headers, query)


# vonage: an outbound leg from our number to the customer, JWT-signed -----------------------

VONAGE_FINAL = {"answered": "completed", "busy": "busy", "no_answer": "timeout"}
VONAGE_PROGRESS = {"initiated": "started", "ringing": "ringing", "answered": "answered"}


def sign_vonage(body: bytes, secret: str = VONAGE_SECRET) -> dict[str, str]:
    claims = {
        "iat": int(time.time()),
        "jti": str(uuid.uuid4()),
        "iss": "Vonage",
        "payload_hash": hashlib.sha256(body).hexdigest(),
        "api_key": "a1b2c3d4",
        "application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
    }
    return {"Content-Type": JSON, "Authorization": f"Bearer {vonage.encode_jwt(claims, secret)}"}


def _vonage(call_id: str, status: str, secret: str) -> Hook:
    _, answer, end = _times()
    event: dict[str, Any] = {
        "from": OWN_NATIONAL,
        "to": CUSTOMER_NATIONAL,
        "uuid": call_id,
        "conversation_uuid": f"CON-{call_id}",
        "status": status,
        "direction": "outbound",
        "timestamp": _iso(end).replace("Z", ".000Z"),
    }
    if status == "completed":
        event.update(
            {
                "duration": "49",
                "start_time": _iso(answer),
                "end_time": _iso(end),
                "rate": "0.00450000",
                "price": "0.00367500",
                "network": "310260",
            }
        )
    body = _json(event)
    return Hook("vonage", body, sign_vonage(body, secret))


def vonage_final(call_id: str, status: str, secret: str = VONAGE_SECRET) -> Hook:
    return _vonage(call_id, _pick(VONAGE_FINAL, status), secret)


def vonage_progress(call_id: str, state: str, secret: str = VONAGE_SECRET) -> Hook:
    return _vonage(call_id, _pick(VONAGE_PROGRESS, state), secret)


# telnyx: inbound to our number, Ed25519-signed ----------------------------------------------

TELNYX_CAUSES = {"answered": "normal_clearing", "busy": "user_busy", "no_answer": "timeout"}
TELNYX_PROGRESS = {"initiated": "call.initiated", "answered": "call.answered"}


def sign_telnyx(body: bytes, key: Ed25519PrivateKey = TELNYX_KEY) -> dict[str, str]:
    ts = str(int(time.time()))
    signature = base64.b64encode(key.sign(ts.encode() + b"|" + body)).decode()
    return {
        "Content-Type": JSON,
        "telnyx-signature-ed25519": signature,
        "telnyx-timestamp": ts,
    }


def _telnyx(call_id: str, event_type: str, key: Ed25519PrivateKey, **payload: Any) -> Hook:
    start, _, end = _times()
    base: dict[str, Any] = {
        "call_control_id": f"v3:{base64.urlsafe_b64encode(call_id.encode()).decode()}",
        "call_leg_id": call_id,
        "call_session_id": f"s-{call_id}",
        "connection_id": "1684641123236054244",
        "from": CUSTOMER,
        "to": OWN_NUMBER,
        "start_time": _iso(start),
    }
    base.update(payload)
    document = {
        "data": {
            "record_type": "event",
            "event_type": event_type,
            "id": str(uuid.uuid4()),
            "occurred_at": _iso(end),
            "payload": base,
        },
        "meta": {"attempt": 1, "delivered_to": f"{PUBLIC_BASE_URL}/webhooks/telnyx"},
    }
    body = _json(document)
    return Hook("telnyx", body, sign_telnyx(body, key))


def telnyx_final(call_id: str, status: str, key: Ed25519PrivateKey = TELNYX_KEY) -> Hook:
    _, _, end = _times()
    return _telnyx(
        call_id,
        "call.hangup",
        key,
        state="hangup",
        hangup_cause=_pick(TELNYX_CAUSES, status),
        hangup_source="caller",
        sip_hangup_cause="unspecified",
        end_time=_iso(end),
    )


def telnyx_progress(call_id: str, state: str, key: Ed25519PrivateKey = TELNYX_KEY) -> Hook:
    event_type = _pick(TELNYX_PROGRESS, state)
    extra = {"direction": "incoming", "state": "parked"} if state == "initiated" else {}
    return _telnyx(call_id, event_type, key, **extra)


# plivo: an outbound call from our number, X-Plivo-Signature-V3 over the public URL ---------

PLIVO_FINAL = {"answered": "completed", "no_answer": "no-answer", "busy": "busy"}
PLIVO_PROGRESS = {"ringing": "ringing", "answered": "in-progress"}


def sign_plivo(
    pairs: Sequence[tuple[str, str]], token: str = PLIVO_TOKEN, query: str = ""
) -> dict[str, str]:
    url = f"{PUBLIC_BASE_URL}/webhooks/plivo" + (f"?{query}" if query else "")
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        multi.setdefault(key, []).append(value)
    return {
        "Content-Type": FORM,
        "X-Plivo-Signature-V3": plivo.signature_v3(token, "POST", url, PLIVO_NONCE, multi),
        "X-Plivo-Signature-V3-Nonce": PLIVO_NONCE,
    }


def _plivo(call_id: str, call_status: str, event: str, token: str) -> Hook:
    start, answer, end = _times()
    pairs = [
        ("ALegUUID", call_id),
        ("CallUUID", call_id),
        ("CallStatus", call_status),
        ("Direction", "outbound"),
        ("Event", event),
        ("From", OWN_NATIONAL),
        ("To", CUSTOMER_NATIONAL),
        ("ParentAuthID", "MANWVLYTK4ZWU1YTY4QA"),
        ("SessionStart", _local(start) + ".238707"),
        ("StartTime", _local(start)),
    ]
    if event == "Hangup":
        pairs += [("EndTime", _local(end)), ("Duration", "60"), ("HangupSource", "Callee")]
        if call_status == "completed":
            pairs += [
                ("AnswerTime", _local(answer)),
                ("BillDuration", "60"),
                ("HangupCause", "NORMAL_CLEARING"),
            ]
        else:
            pairs += [("BillDuration", "0"), ("HangupCause", "NO_ANSWER")]
    return Hook("plivo", urlencode(pairs).encode(), sign_plivo(pairs, token))


def plivo_final(call_id: str, status: str, secret: str = PLIVO_TOKEN) -> Hook:
    return _plivo(call_id, _pick(PLIVO_FINAL, status), "Hangup", secret)


def plivo_progress(call_id: str, state: str, secret: str = PLIVO_TOKEN) -> Hook:
    event = "Ring" if state == "ringing" else "StartApp"
    return _plivo(call_id, _pick(PLIVO_PROGRESS, state), event, secret)


# zadarma: an incoming call to our DID, answered by extension 101 ---------------------------

ZADARMA_FINAL = {"answered": "answered", "busy": "busy", "no_answer": "no answer"}
ZADARMA_PROGRESS = {"initiated": "NOTIFY_START", "ringing": "NOTIFY_INTERNAL"}


def sign_zadarma(fields: dict[str, str], secret: str = ZADARMA_SECRET) -> dict[str, str]:
    signed = zadarma.signed_string(fields)
    assert signed is not None
    return {"Content-Type": FORM, "Signature": zadarma.signature(secret, signed)}


def _zadarma(fields: dict[str, str], secret: str) -> Hook:
    return Hook("zadarma", urlencode(fields).encode(), sign_zadarma(fields, secret))


def _zadarma_call(call_id: str) -> dict[str, str]:
    # Zadarma sends call_start in the account's zone; the app has no timezone option: UTC.
    start, _, _ = _times()
    return {
        "call_start": _local(start),
        "pbx_call_id": call_id,
        "caller_id": CUSTOMER,
        "called_did": OWN_NUMBER,
    }


def zadarma_final(call_id: str, status: str, secret: str = ZADARMA_SECRET) -> Hook:
    answered = status == "answered"
    fields = {
        "event": "NOTIFY_END",
        **_zadarma_call(call_id),
        "internal": AGENT_EXTENSION,
        "duration": "49" if answered else "0",
        "disposition": _pick(ZADARMA_FINAL, status),
        "status_code": "16" if answered else "17",
        "is_recorded": "0",
        "call_id_with_rec": "",
    }
    return _zadarma(fields, secret)


def zadarma_progress(call_id: str, state: str, secret: str = ZADARMA_SECRET) -> Hook:
    fields = {"event": _pick(ZADARMA_PROGRESS, state), **_zadarma_call(call_id)}
    if state == "ringing":
        fields["internal"] = AGENT_EXTENSION
    return _zadarma(fields, secret)


# aircall: an inbound call to our Aircall number, the token in the body ---------------------

AIRCALL_PROGRESS = {
    "initiated": "call.created",
    "ringing": "call.ringing_on_agent",
    "answered": "call.answered",
}
AIRCALL_MISSED = {"no_answer": "agents_did_not_answer", "canceled": "short_abandoned"}


def _aircall(call_id: str, event: str, token: str, **data: Any) -> Hook:
    start, _, _ = _times()
    document = {
        "resource": "call",
        "event": event,
        "timestamp": int(time.time()),
        "token": token,
        "data": {
            "id": int(call_id) if call_id.isdigit() else call_id,
            "direct_link": f"https://api.aircall.io/v1/calls/{call_id}",
            "direction": "inbound",
            "status": "done" if event == "call.ended" else "ringing",
            "started_at": int(start.timestamp()),
            "raw_digits": "+1 646-606-3895",
            "number": {
                "id": 397375,
                "name": "Sales line",
                "digits": "+1 415-555-0100",
                "country": "US",
            },
            "user": {"id": 736640, "name": "Agent 101", "email": "agent101@example.com"},
            **data,
        },
    }
    body = _json(document)
    return Hook("aircall", body, {"Content-Type": JSON})


def aircall_final(call_id: str, status: str, secret: str = AIRCALL_TOKEN) -> Hook:
    _, answer, end = _times()
    answered = status == "answered"
    return _aircall(
        call_id,
        "call.ended",
        secret,
        answered_at=int(answer.timestamp()) if answered else None,
        ended_at=int(end.timestamp()),
        duration=60,
        missed_call_reason=None if answered else _pick(AIRCALL_MISSED, status),
        hangup_cause=None,
        voicemail=None,
        recording=None,
        asset=None,
    )


def aircall_progress(call_id: str, state: str, secret: str = AIRCALL_TOKEN) -> Hook:
    return _aircall(call_id, _pick(AIRCALL_PROGRESS, state), secret)


# asterisk: an AMI Cdr from a trunk to extension 101, bearer token ---------------------------

ASTERISK_DISPOSITIONS = {"answered": "ANSWERED", "no_answer": "NO ANSWER", "busy": "BUSY"}


def bearer(token: str, content_type: str = JSON) -> dict[str, str]:
    return {"Content-Type": content_type, "Authorization": f"Bearer {token}"}


def asterisk_final(call_id: str, status: str, secret: str = ASTERISK_TOKEN) -> Hook:
    start, answer, end = _times()
    answered = status == "answered"
    cdr = {
        "Event": "Cdr",
        "Privilege": "cdr,all",
        "AccountCode": "",
        "Source": CUSTOMER_NATIONAL[1:],
        "Destination": AGENT_EXTENSION,
        "DestinationContext": "from-trunk",
        "CallerID": f'"Customer" <{CUSTOMER_NATIONAL[1:]}>',
        "Channel": "PJSIP/trunk-0000001a",
        "DestinationChannel": "PJSIP/101-0000001b",
        "LastApplication": "Dial",
        "LastData": "PJSIP/101,30",
        "StartTime": _local(start),
        "AnswerTime": _local(answer) if answered else "",
        "EndTime": _local(end),
        "Duration": "60",
        "BillableSeconds": "49" if answered else "0",
        "Disposition": _pick(ASTERISK_DISPOSITIONS, status),
        "AMAFlags": "DOCUMENTATION",
        "UniqueID": call_id,
        "UserField": "",
    }
    return Hook("asterisk", _json(cdr), bearer(secret))


def asterisk_csv(call_id: str, secret: str = ASTERISK_TOKEN) -> Hook:
    """One Master.csv line (cdr_csv with loguniqueid and loguserfield: 18 columns)."""
    start, answer, end = _times()
    columns = [
        "",
        CUSTOMER_NATIONAL[1:],
        AGENT_EXTENSION,
        "from-trunk",
        f'"Customer" <{CUSTOMER_NATIONAL[1:]}>',
        "PJSIP/trunk-0000001a",
        "PJSIP/101-0000001b",
        "Dial",
        "PJSIP/101,30",
        _local(start),
        _local(answer),
        _local(end),
        "60",
        "49",
        "ANSWERED",
        "DOCUMENTATION",
        call_id,
        "",
    ]
    line = ",".join('"' + c.replace('"', '""') + '"' for c in columns) + "\n"
    return Hook("asterisk", line.encode(), bearer(secret, CSV))


# threecx: a journal entry of an outbound call by extension 101, bearer token ----------------

THREECX_CALL_TYPES = {"answered": "Outbound", "no_answer": "Notanswered"}


def threecx_final(call_id: str, status: str, secret: str = THREECX_TOKEN) -> Hook:
    start, answer, end = _times()
    answered = status == "answered"
    entry: dict[str, Any] = {
        "call_id": call_id,
        "call_type": _pick(THREECX_CALL_TYPES, status),
        "number": CUSTOMER,
        "name": "Customer",
        "agent": AGENT_EXTENSION,
        "agent_first_name": "Ada",
        "agent_last_name": "Agent",
        "agent_email": "ada@example.com",
        "duration": "00:00:49" if answered else "00:00:00",
        "started_at": _iso(start),
        "answered_at": _iso(answer) if answered else "[CallEstablishedTimeUTC]",
        "ended_at": _iso(end),
    }
    return Hook("threecx", _json(entry), bearer(secret))


# --- the providers, uniformly ----------------------------------------------------------------

Builder = Callable[[str, str], Hook]


@dataclass(frozen=True)
class Case:
    """How to drive one provider: final and progress requests and what they must yield."""

    provider: str
    final: Builder  # (provider call id, our CallStatus value) -> request
    wrong_key: Callable[[str], Hook]  # an answered call signed with another secret
    other_status: str  # a second final status the provider can report
    direction: str
    progress: Builder | None = None  # (provider call id, our CallState value) -> request
    progress_states: tuple[str, ...] = ()
    signs_body: bool = True  # tampering with the body after signing is detected

    def call_id(self, provider_call_id: str) -> str:
        return f"{self.provider}:{provider_call_id}"


OTHER_KEY = Ed25519PrivateKey.generate()
CASES: dict[str, Case] = {
    case.provider: case
    for case in (
        Case(
            "generic",
            generic_final,
            lambda cid: generic_final(cid, "answered", "another-secret-0123456789"),
            "no_answer",
            "inbound",
        ),
        Case(
            "twilio",
            twilio_final,
            lambda cid: twilio_final(cid, "answered", "f" * 32),
            "no_answer",
            "inbound",
            twilio_progress,
            ("ringing", "answered"),
        ),
        Case(
            "vonage",
            vonage_final,
            lambda cid: vonage_final(cid, "answered", "another-signature-secret"),
            "busy",
            "outbound",
            vonage_progress,
            ("ringing", "answered"),
        ),
        Case(
            "telnyx",
            telnyx_final,
            lambda cid: telnyx_final(cid, "answered", OTHER_KEY),
            "busy",
            "inbound",
            telnyx_progress,
            ("initiated", "answered"),
        ),
        Case(
            "plivo",
            plivo_final,
            lambda cid: plivo_final(cid, "answered", "another-auth-token"),
            "no_answer",
            "outbound",
            plivo_progress,
            ("ringing", "answered"),
        ),
        Case(
            "zadarma",
            zadarma_final,
            lambda cid: zadarma_final(cid, "answered", "another-api-secret"),
            "busy",
            "inbound",
            zadarma_progress,
            ("initiated", "ringing"),
        ),
        Case(
            "aircall",
            aircall_final,
            lambda cid: aircall_final(cid, "answered", "another-token"),
            "no_answer",
            "inbound",
            aircall_progress,
            ("initiated", "ringing", "answered"),
            signs_body=False,
        ),
        Case(
            "asterisk",
            asterisk_final,
            lambda cid: asterisk_final(cid, "answered", "another-asterisk-token-0123"),
            "no_answer",
            "inbound",
            signs_body=False,
        ),
        Case(
            "threecx",
            threecx_final,
            lambda cid: threecx_final(cid, "answered", "another-threecx-token-0123"),
            "no_answer",
            "outbound",
            signs_body=False,
        ),
    )
}


# --- reading back ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Published:
    topic: str
    key: str | None
    headers: dict[str, str]
    value: dict[str, Any]


class RecordReader:
    """Reads calls.recorded.v1 / calls.progress.v1 back, from the beginning, by call_id.

    Each read uses a fresh consumer group starting at the earliest offset and reads up to the
    end offsets seen when it started: the app answers 2xx only after the broker acknowledged,
    so everything a test was answered for is below them. When fewer than `at_least` records
    are found it looks again until `timeout`.
    """

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap

    async def recorded(self, call_id: str, at_least: int = 1) -> list[Published]:
        return await self.read(CALLS_RECORDED, call_id, at_least)

    async def progress(self, call_id: str, at_least: int = 1) -> list[Published]:
        return await self.read(CALLS_PROGRESS, call_id, at_least)

    async def read(
        self, topic: Topic, call_id: str, at_least: int = 1, timeout: float = 10.0
    ) -> list[Published]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=f"it-ingest-calls-{uuid.uuid4().hex}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            await consumer.topics()  # fetches the cluster metadata
            numbers: set[int] | None = consumer.partitions_for_topic(topic.name)
            assert numbers, f"topic {topic.name} does not exist"
            partitions = [TopicPartition(topic.name, p) for p in sorted(numbers)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            found: list[Published] = []
            deadline = time.monotonic() + timeout
            while True:
                end = await consumer.end_offsets(partitions)
                while await _behind(consumer, end):
                    batch = await consumer.getmany(*partitions, timeout_ms=500)
                    for records in batch.values():
                        found.extend(_matching(records, topic.name, call_id))
                    if time.monotonic() > deadline:
                        break
                if len(found) >= at_least or time.monotonic() > deadline:
                    return found
                await asyncio.sleep(0.2)
        finally:
            await consumer.stop()


async def _behind(consumer: AIOKafkaConsumer, end: dict[TopicPartition, int]) -> bool:
    for partition, offset in end.items():
        if await consumer.position(partition) < offset:
            return True
    return False


def _matching(records: Sequence[Any], topic: str, call_id: str) -> list[Published]:
    out: list[Published] = []
    for record in records:
        value = json.loads(record.value)
        if value.get("call_id") != call_id:
            continue
        headers = {name: raw.decode() for name, raw in record.headers}
        key = record.key.decode() if record.key is not None else None
        out.append(Published(topic, key, headers, value))
    return out
