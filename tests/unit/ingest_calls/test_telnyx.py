"""Telnyx Call Control v2: Ed25519 signature and the call.* event mapping."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ingest_calls.domain import telnyx
from ingest_calls.domain.errors import AuthenticationFailed, InvalidPayload
from ingest_calls.domain.request import Context, WebhookRequest
from switchboard_shared.events import (
    CallDirection,
    CallProgress,
    CallRecorded,
    CallState,
    CallStatus,
)
from switchboard_shared.phone import NumberKind, PhonePolicy

URL = "https://calls.example.com/webhooks/telnyx"
OUR_NUMBER = "+13129457420"
POLICY = PhonePolicy(default_region="US", own_numbers=frozenset({OUR_NUMBER}))
NO_OWN_NUMBERS = PhonePolicy(default_region="US")
NOW = 1_772_442_000.0  # 2026-03-02T09:00:00Z
TS = str(int(NOW))
KEY = Ed25519PrivateKey.generate()
PUBLIC = base64.b64encode(KEY.public_key().public_bytes_raw()).decode()

# Reference §5.3 / T10: a self-made vector with the RFC 8032 §7.1 TEST 1 key (Telnyx
# publishes none); verbatim.
RFC_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
RFC_PUBLIC = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
RFC_TIMESTAMP = "1700000000"
RFC_BODY = b'{"data":{"event_type":"call.hangup","id":"0ccc7b54-4df3-4bca-a65a-3da1ecc777f0","occurred_at":"2023-11-14T22:13:20.000000Z","payload":{"call_control_id":"v3:example","call_leg_id":"428c31b6-7af4-4bcb-b7f5-5013ef9657c1","call_session_id":"428c31b6-7af4-4bcb-b7f5-5013ef9657c1","from":"+35319605860","to":"+13129457420","hangup_cause":"normal_clearing","hangup_source":"caller","sip_hangup_cause":"200","state":"hangup"},"record_type":"event"}}'  # noqa: E501
RFC_SIGNATURE = (
    "HACfFnBY3/8j0ubTHqOyaSbhMWBYUdU2M/LYpLQ2L4wuFnimzU1m71sOhCVAwEiaWnOmwO06hdaoEaw+AhTJBQ=="
)


def ctx(secret: str = PUBLIC, now: float = NOW, options: dict[str, str] | None = None) -> Context:
    return Context(secret=secret, region="US", now=now, options=options or {})


def sign(body: bytes, timestamp: str = TS, key: Ed25519PrivateKey = KEY) -> str:
    return base64.b64encode(key.sign(timestamp.encode() + b"|" + body)).decode()


def request(body: bytes, headers: dict[str, str] | None = None) -> WebhookRequest:
    if headers is None:
        headers = {"telnyx-signature-ed25519": sign(body), "telnyx-timestamp": TS}
    return WebhookRequest(
        method="POST", url=URL, headers=headers, body=body, content_type="application/json"
    )


# --- verify ----------------------------------------------------------------------------------


def test_reference_vector_rfc8032_key() -> None:
    seed_key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(RFC_SEED))
    assert base64.b64encode(seed_key.public_key().public_bytes_raw()).decode() == RFC_PUBLIC
    headers = {"telnyx-signature-ed25519": RFC_SIGNATURE, "telnyx-timestamp": RFC_TIMESTAMP}
    telnyx.verify(request(RFC_BODY, headers), ctx(RFC_PUBLIC, now=1_700_000_000))


def test_reference_vector_tampered_body_is_refused() -> None:
    headers = {"telnyx-signature-ed25519": RFC_SIGNATURE, "telnyx-timestamp": RFC_TIMESTAMP}
    tampered = RFC_BODY.replace(b"normal_clearing", b"user_busy")
    with pytest.raises(AuthenticationFailed, match="does not match"):
        telnyx.verify(request(tampered, headers), ctx(RFC_PUBLIC, now=1_700_000_000))


def test_generated_key_pair_signs_and_verifies() -> None:
    telnyx.verify(request(b'{"data":{}}'), ctx())


def test_wrong_key_is_refused() -> None:
    other = base64.b64encode(Ed25519PrivateKey.generate().public_key().public_bytes_raw())
    with pytest.raises(AuthenticationFailed, match="does not match"):
        telnyx.verify(request(b'{"data":{}}'), ctx(other.decode()))


def test_tampered_body_is_refused() -> None:
    body = b'{"data":{"event_type":"call.hangup"}}'
    headers = {"telnyx-signature-ed25519": sign(body), "telnyx-timestamp": TS}
    with pytest.raises(AuthenticationFailed, match="does not match"):
        telnyx.verify(request(body + b" ", headers), ctx())


def test_timestamp_is_signed() -> None:
    body = b"{}"
    other = str(int(NOW) - 5)
    headers = {"telnyx-signature-ed25519": sign(body, TS), "telnyx-timestamp": other}
    with pytest.raises(AuthenticationFailed, match="does not match"):
        telnyx.verify(request(body, headers), ctx())


@pytest.mark.parametrize("offset", [-301, 301, -86_400])
def test_stale_or_future_timestamp_is_refused(offset: int) -> None:
    sent = str(int(NOW) + offset)
    headers = {"telnyx-signature-ed25519": sign(b"{}", sent), "telnyx-timestamp": sent}
    with pytest.raises(AuthenticationFailed, match="replay window"):
        telnyx.verify(request(b"{}", headers), ctx())


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamp_inside_the_window(offset: int) -> None:
    sent = str(int(NOW) + offset)
    headers = {"telnyx-signature-ed25519": sign(b"{}", sent), "telnyx-timestamp": sent}
    telnyx.verify(request(b"{}", headers), ctx())


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"telnyx-timestamp": TS},
        {"telnyx-signature-ed25519": sign(b"{}")},
        {"telnyx-signature-ed25519": "  ", "telnyx-timestamp": TS},
    ],
    ids=["none", "no-signature", "no-timestamp", "blank-signature"],
)
def test_missing_headers(headers: dict[str, str]) -> None:
    with pytest.raises(AuthenticationFailed, match="missing"):
        telnyx.verify(request(b"{}", headers), ctx())


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ({"telnyx-signature-ed25519": sign(b"{}"), "telnyx-timestamp": "soon"}, "unix seconds"),
        ({"telnyx-signature-ed25519": sign(b"{}"), "telnyx-timestamp": "1e9"}, "unix seconds"),
        ({"telnyx-signature-ed25519": "not base64!", "telnyx-timestamp": TS}, "not base64"),
        ({"telnyx-signature-ed25519": "ü", "telnyx-timestamp": TS}, "not base64"),
        ({"telnyx-signature-ed25519": "AAAA", "telnyx-timestamp": TS}, "64-byte"),
    ],
)
def test_malformed_headers(headers: dict[str, str], words: str) -> None:
    with pytest.raises(AuthenticationFailed, match=words):
        telnyx.verify(request(b"{}", headers), ctx())


@pytest.mark.parametrize("secret", ["", "not-base64", base64.b64encode(b"short").decode()])
def test_unusable_configured_key_is_refused_not_crashed(secret: str) -> None:
    with pytest.raises(AuthenticationFailed, match="public key"):
        telnyx.verify(request(b"{}"), ctx(secret))
    with pytest.raises(ValueError, match="Ed25519"):
        telnyx.public_keys(secret)


def test_two_keys_while_rotating() -> None:
    old = base64.b64encode(Ed25519PrivateKey.generate().public_key().public_bytes_raw()).decode()
    telnyx.verify(request(b"{}"), ctx(f"{old}, {PUBLIC}"))
    telnyx.verify(request(b"{}"), ctx(f"{PUBLIC},{old}"))
    with pytest.raises(AuthenticationFailed, match="does not match"):
        telnyx.verify(request(b"{}"), ctx(f"{old},{old}"))


# --- parse -----------------------------------------------------------------------------------


def envelope(
    event_type: str, occurred_at: str = "2026-03-02T09:00:30.250000Z", **payload: Any
) -> dict[str, Any]:
    base: dict[str, Any] = {
        "call_control_id": "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg",
        "call_leg_id": "428c31b6-7af4-4bcb-b7f5-5013ef9657c1",
        "call_session_id": "428c2f2e-7af4-4bcb-b7f5-5013ef9657c1",
        "connection_id": "7267xxxxxxxxxxxxxx",
        "client_state": "aGF2ZSBhIG5pY2UgZGF5ID1d",
        "from": "+35319605860",
        "to": OUR_NUMBER,
        "start_time": "2026-03-02T09:00:00.000000Z",
    }
    base.update(payload)
    return {
        "data": {
            "record_type": "event",
            "event_type": event_type,
            "id": "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0",
            "occurred_at": occurred_at,
            "payload": {k: v for k, v in base.items() if v is not None},
        },
        "meta": {"attempt": 1, "delivered_to": URL},
    }


def parse(
    document: Any, policy: PhonePolicy = POLICY, options: dict[str, str] | None = None
) -> list[Any]:
    body = json.dumps(document).encode()
    return telnyx.parse(request(body), ctx(options=options), policy)


def hangup(**payload: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "state": "hangup",
        "hangup_cause": "normal_clearing",
        "hangup_source": "caller",
        "sip_hangup_cause": "unspecified",
    }
    fields.update(payload)
    return envelope("call.hangup", **fields)


def test_reference_hangup_body_is_an_answered_inbound_call() -> None:
    (event,) = telnyx.parse(request(RFC_BODY), ctx(), POLICY)
    assert isinstance(event, CallRecorded)
    assert event.call_id == "telnyx:428c31b6-7af4-4bcb-b7f5-5013ef9657c1"
    assert event.direction is CallDirection.INBOUND  # "to" is one of our numbers
    assert event.status is CallStatus.ANSWERED
    assert event.started_at == event.ended_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert event.counterpart == "+35319605860"
    assert event.hangup_cause == "normal_clearing"


def test_initiated_incoming_is_progress() -> None:
    document = envelope("call.initiated", direction="incoming", state="parked")
    (event,) = parse(document, NO_OWN_NUMBERS)
    assert isinstance(event, CallProgress)
    assert event.state is CallState.INITIATED
    assert event.direction is CallDirection.INBOUND
    assert event.at == datetime(2026, 3, 2, 9, 0, 30, 250000, tzinfo=UTC)
    assert event.call_id == "telnyx:428c31b6-7af4-4bcb-b7f5-5013ef9657c1"
    assert event.counterpart == "+35319605860"
    assert event.raw == document


def test_initiated_outgoing_is_progress() -> None:
    document = envelope(
        "call.initiated",
        direction="outgoing",
        state="bridging",
        to="+48661133089",
        **{"from": OUR_NUMBER},
    )
    (event,) = parse(document)
    assert event.direction is CallDirection.OUTBOUND
    assert event.counterpart == "+48661133089"


def test_answered_takes_the_direction_from_our_numbers() -> None:
    (event,) = parse(envelope("call.answered", state="answered"))
    assert isinstance(event, CallProgress)
    assert event.state is CallState.ANSWERED
    assert event.direction is CallDirection.INBOUND


def test_answered_without_a_known_side_is_skipped() -> None:
    assert parse(envelope("call.answered", state="answered"), NO_OWN_NUMBERS) == []


@pytest.mark.parametrize(
    ("cause", "sip", "status"),
    [
        ("normal_clearing", "unspecified", CallStatus.ANSWERED),
        ("normal_clearing", "200", CallStatus.ANSWERED),
        ("normal_clearing", "16", CallStatus.ANSWERED),  # a Q.850 number, not SIP
        ("time_limit", "unspecified", CallStatus.ANSWERED),
        ("originator_cancel", "unspecified", CallStatus.CANCELED),
        ("originator_cancel", "487", CallStatus.CANCELED),
        ("timeout", "unspecified", CallStatus.NO_ANSWER),
        ("no_answer", None, CallStatus.NO_ANSWER),
        ("timeout", "480", CallStatus.NO_ANSWER),
        ("timeout", "408", CallStatus.NO_ANSWER),
        ("user_busy", "486", CallStatus.BUSY),
        ("user_busy", "unspecified", CallStatus.BUSY),
        ("call_rejected", "603", CallStatus.BUSY),
        ("call_rejected", "600", CallStatus.BUSY),
        ("not_found", "404", CallStatus.FAILED),
        ("normal_clearing", "503", CallStatus.FAILED),
        ("unspecified", "unspecified", CallStatus.FAILED),
        (None, None, CallStatus.FAILED),
        ("something_new", "unspecified", CallStatus.FAILED),
    ],
)
def test_hangup_status_mapping(cause: str | None, sip: str | None, status: CallStatus) -> None:
    (event,) = parse(hangup(hangup_cause=cause, sip_hangup_cause=sip))
    assert event.status is status
    assert event.hangup_cause == cause


def test_answered_hangup_leaves_ring_and_talk_unknown() -> None:
    (event,) = parse(hangup(end_time="2026-03-02T09:03:12Z"))
    assert event.status is CallStatus.ANSWERED
    assert event.answered_at is None
    assert event.ring_s is None
    assert event.talk_s is None
    assert event.ended_at == datetime(2026, 3, 2, 9, 3, 12, tzinfo=UTC)


def test_unanswered_hangup_rang_until_the_end() -> None:
    (event,) = parse(hangup(hangup_cause="originator_cancel"))
    assert event.status is CallStatus.CANCELED
    assert event.started_at == datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
    assert event.ended_at == datetime(2026, 3, 2, 9, 0, 30, 250000, tzinfo=UTC)  # occurred_at
    assert event.ring_s == 30.25
    assert event.talk_s == 0.0


def test_hangup_ids() -> None:
    (event,) = parse(hangup())
    assert event.call_id == "telnyx:428c31b6-7af4-4bcb-b7f5-5013ef9657c1"
    assert event.linked_id == "428c2f2e-7af4-4bcb-b7f5-5013ef9657c1"
    (fallback,) = parse(hangup(call_leg_id=None))
    assert fallback.call_id == "telnyx:v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg"


def test_retried_delivery_maps_to_the_same_call() -> None:
    first = hangup()
    retry = hangup()
    retry["meta"]["attempt"] = 2
    retry["data"]["occurred_at"] = "2026-03-02T09:00:31Z"
    assert parse(first)[0].call_id == parse(retry)[0].call_id


def test_outbound_hangup_from_our_number() -> None:
    document = hangup(
        to="+48661133089", sip_hangup_cause="486", hangup_cause="user_busy", **{"from": OUR_NUMBER}
    )
    (event,) = parse(document)
    assert event.direction is CallDirection.OUTBOUND
    assert event.status is CallStatus.BUSY
    assert event.counterpart == "+48661133089"


def test_hangup_direction_field_wins_when_present() -> None:
    (event,) = parse(hangup(direction="outgoing", to="+48661133089"), NO_OWN_NUMBERS)
    assert event.direction is CallDirection.OUTBOUND


def test_hangup_without_a_known_side_is_invalid() -> None:
    with pytest.raises(InvalidPayload) as info:
        parse(hangup(), NO_OWN_NUMBERS)
    assert info.value.field == "data.payload.direction"


def test_default_direction_option() -> None:
    (event,) = parse(hangup(), NO_OWN_NUMBERS, options={"default_direction": "inbound"})
    assert event.direction is CallDirection.INBOUND


def test_sip_user_on_our_side_is_the_agent() -> None:
    document = hangup(direction="incoming", to="sip:alice@example.sip.telnyx.com")
    (event,) = parse(document, NO_OWN_NUMBERS)
    assert event.agent == "alice"


def test_extension_on_our_side_is_inbound() -> None:
    (event,) = parse(hangup(to="101"), NO_OWN_NUMBERS)
    assert event.direction is CallDirection.INBOUND
    assert event.to.kind is NumberKind.INTERNAL


@pytest.mark.parametrize("caller", ["anonymous", "Anonymous", "", None])
def test_withheld_caller(caller: str | None) -> None:
    (event,) = parse(hangup(hangup_cause="originator_cancel", **{"from": caller}))
    assert event.from_.kind is NumberKind.WITHHELD
    assert event.counterpart is None


@pytest.mark.parametrize(
    "event_type",
    ["call.bridged", "call.recording.saved", "call.speak.ended", "call_initiated", "message.sent"],
)
def test_other_events_are_ignored(event_type: str) -> None:
    assert parse(envelope(event_type)) == []


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"event_type": "call.hangup"}, "data"),
        ([], "data"),
        ({"data": {"event_type": "call.hangup", "payload": "x"}}, "data.payload"),
        (
            {"data": {"event_type": "call.hangup", "payload": {"from": "+1"}}},
            "data.payload.call_leg_id",
        ),
        (hangup(start_time="yesterday"), "data.payload.start_time"),
        (hangup(start_time=1700000000), "data.payload.start_time"),
        (envelope("call.hangup", occurred_at="2026-13-45T00:00:00Z"), "data.occurred_at"),
    ],
)
def test_invalid_payloads_name_the_field(document: Any, field: str) -> None:
    with pytest.raises(InvalidPayload) as info:
        parse(document)
    assert info.value.field == field


def test_body_not_json() -> None:
    with pytest.raises(InvalidPayload) as info:
        telnyx.parse(request(b"\xff"), ctx(), POLICY)
    assert info.value.field == "body"


def test_unhashable_event_type_is_ignored() -> None:
    assert parse({"data": {"event_type": ["call.hangup"], "payload": {}}}) == []


def test_times_are_utc() -> None:
    (event,) = parse(hangup(start_time="2026-03-02T10:00:00+01:00", end_time="2026-03-02T09:01:00"))
    assert event.started_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert event.started_at.tzinfo is UTC
    assert event.ended_at == datetime(2026, 3, 2, 9, 1, tzinfo=UTC)


def test_end_before_start_is_clamped() -> None:
    (event,) = parse(hangup(hangup_cause="timeout", end_time="2026-03-02T08:00:00Z"))
    assert event.ended_at == event.started_at
    assert event.ring_s == 0.0
