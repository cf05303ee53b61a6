"""Vonage Voice API event webhooks: the signed JWT and the call-record mapping."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest_calls.domain import vonage
from ingest_calls.domain.calls import event_id
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

NOW = 1_772_442_000  # 2026-03-02T09:00:00Z
WINDOW = 300
SECRET = "s" * 32
HOOK = "https://switchboard.example/webhooks/vonage"
OUR_NUMBER = "447700900000"
CUSTOMER = "442079460000"
POLICY = PhonePolicy(default_region="GB", own_numbers=frozenset({"+" + OUR_NUMBER}))
CON = "CON-aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
UUID = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"

# Published vector: Vonage/vonage-python-sdk jwt/tests/test_verify_jwt.py (verbatim).
VECTOR_TOKEN = (
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJPbmxpbmUgSldUIEJ1aWxkZXIiLCJpYXQiOjE2OTc2Mz"
    "Q2ODAsImV4cCI6MzMyNTQ1NDA4MjgsImF1ZCI6IiIsInN1YiI6IiJ9.88vJc3I2HhuqEDixHXVhc9R30tA6U_HQHZTC"
    "29y6CGM"
)
VECTOR_VALID_SIGNATURE = "qwertyuiopasdfghjklzxcvbnm123456"
VECTOR_INVALID_SIGNATURE = "asdf"


def ctx(secret: str = SECRET, now: float = NOW) -> Context:
    return Context(secret=secret, region="GB", replay_window_s=WINDOW, now=now)


def claims_for(body: bytes, **overrides: Any) -> dict[str, Any]:
    """Claims shaped like Vonage's documented sample."""
    claims: dict[str, Any] = {
        "iat": NOW,
        "jti": "c5ba8f24-1a14-4c10-bfdf-3fbe8ce511b5",
        "iss": "Vonage",
        "payload_hash": hashlib.sha256(body).hexdigest(),
        "api_key": "a1b2c3d",
        "application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def request(body: bytes, authorization: str | None) -> WebhookRequest:
    headers = {"content-type": "application/json"}
    if authorization is not None:
        headers["authorization"] = authorization
    return WebhookRequest(
        method="POST", url=HOOK, headers=headers, body=body, content_type="application/json"
    )


def signed(body: bytes, secret: str = SECRET, **claims: Any) -> WebhookRequest:
    token = vonage.encode_jwt(claims_for(body, **claims), secret)
    return request(body, f"Bearer {token}")


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


BODY = json.dumps(
    {
        "from": CUSTOMER,
        "to": OUR_NUMBER,
        "uuid": UUID,
        "conversation_uuid": CON,
        "status": "ringing",
        "direction": "inbound",
        "timestamp": "2026-03-02T09:00:00.000Z",
    },
    separators=(",", ":"),
).encode()


# --- JWT: the published vector, verbatim -----------------------------------------------------


def test_vector_valid_signature() -> None:
    claims = vonage.decode_jwt(VECTOR_TOKEN, VECTOR_VALID_SIGNATURE)
    assert claims == {
        "iss": "Online JWT Builder",
        "iat": 1697634680,
        "exp": 33254540828,
        "aud": "",
        "sub": "",
    }


def test_vector_invalid_signature() -> None:
    with pytest.raises(AuthenticationFailed, match="does not match"):
        vonage.decode_jwt(VECTOR_TOKEN, VECTOR_INVALID_SIGNATURE)


def test_vector_token_is_not_enough_for_a_webhook() -> None:
    """A valid JWT without payload_hash does not authenticate a body."""
    ctx_at_iat = ctx(secret=VECTOR_VALID_SIGNATURE, now=1697634680)
    with pytest.raises(AuthenticationFailed, match="payload_hash"):
        vonage.verify(request(BODY, f"Bearer {VECTOR_TOKEN}"), ctx_at_iat)


def test_encode_then_decode() -> None:
    claims = claims_for(BODY)
    assert vonage.decode_jwt(vonage.encode_jwt(claims, SECRET), SECRET) == claims


# --- verify ----------------------------------------------------------------------------------


def test_verify_valid() -> None:
    vonage.verify(signed(BODY), ctx())


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_verify_scheme_is_case_insensitive(scheme: str) -> None:
    token = vonage.encode_jwt(claims_for(BODY), SECRET)
    vonage.verify(request(BODY, f"{scheme} {token}"), ctx())


@pytest.mark.parametrize("offset", [-WINDOW, 0, WINDOW])
def test_verify_inside_replay_window(offset: int) -> None:
    vonage.verify(signed(BODY, iat=NOW + offset), ctx())


@pytest.mark.parametrize("offset", [-WINDOW - 1, WINDOW + 1, -86_400])
def test_verify_stale_or_future_iat(offset: int) -> None:
    with pytest.raises(AuthenticationFailed, match="replay window"):
        vonage.verify(signed(BODY, iat=NOW + offset), ctx())


def test_verify_tampered_body() -> None:
    original = signed(BODY)
    tampered = BODY.replace(b"ringing", b"answered")
    with pytest.raises(AuthenticationFailed, match="payload_hash"):
        vonage.verify(request(tampered, original.header("authorization")), ctx())


def test_verify_wrong_secret() -> None:
    with pytest.raises(AuthenticationFailed, match="does not match"):
        vonage.verify(signed(BODY, secret="w" * 32), ctx())


def test_verify_tampered_claims() -> None:
    header, _, signature = vonage.encode_jwt(claims_for(BODY), SECRET).split(".")
    forged = b64(claims_for(BODY, iat=NOW + 10))
    with pytest.raises(AuthenticationFailed, match="does not match"):
        vonage.verify(request(BODY, f"Bearer {header}.{forged}.{signature}"), ctx())


def test_verify_uppercase_payload_hash() -> None:
    vonage.verify(signed(BODY, payload_hash=hashlib.sha256(BODY).hexdigest().upper()), ctx())


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "Token abc"],
    ids=["absent", "empty", "no-token", "blank-token", "basic", "other-scheme"],
)
def test_verify_missing_bearer(authorization: str | None) -> None:
    with pytest.raises(AuthenticationFailed, match="missing"):
        vonage.verify(request(BODY, authorization), ctx())


@pytest.mark.parametrize(
    ("claims", "match"),
    [
        ({"iat": None}, "no iat"),
        ({"iat": "1772442000"}, "not a number"),
        ({"iat": True}, "not a number"),
        ({"payload_hash": None}, "no payload_hash"),
        ({"payload_hash": ""}, "no payload_hash"),
        ({"payload_hash": 12}, "no payload_hash"),
        ({"exp": NOW}, "expired"),
        ({"exp": NOW - 1}, "expired"),
        ({"nbf": NOW + 60}, "not valid yet"),
    ],
)
def test_verify_bad_claims(claims: dict[str, Any], match: str) -> None:
    with pytest.raises(AuthenticationFailed, match=match):
        vonage.verify(signed(BODY, **claims), ctx())


def test_verify_future_exp_and_past_nbf_accepted() -> None:
    vonage.verify(signed(BODY, exp=NOW + 60, nbf=NOW - 60), ctx())


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: str = "") -> str:
    return f"Bearer {b64(header)}.{b64(claims)}.{signature}"


@pytest.mark.parametrize(
    "authorization",
    [
        unsigned({"alg": "none", "typ": "JWT"}, claims_for(BODY)),
        unsigned({"alg": "HS512", "typ": "JWT"}, claims_for(BODY), "abc"),
        unsigned({"typ": "JWT"}, claims_for(BODY), "abc"),
        "Bearer a.b",
        "Bearer a.b.c.d",
        "Bearer !!!.???.***",
        "Bearer e30.e30.%%%",
        "Bearer W10.e30.abc",  # header is a JSON list
        "Bearer bm90IGpzb24.e30.abc",  # header is not JSON
        "Bearer " + "a" * 10_000,
    ],
    ids=[
        "alg-none",
        "alg-hs512",
        "no-alg",
        "two-parts",
        "four-parts",
        "not-base64url",
        "bad-signature-chars",
        "header-list",
        "header-not-json",
        "huge",
    ],
)
def test_verify_malformed_tokens(authorization: str) -> None:
    with pytest.raises(AuthenticationFailed):
        vonage.verify(request(BODY, authorization), ctx())


def test_verify_payload_that_is_not_an_object() -> None:
    header = b64({"alg": "HS256", "typ": "JWT"})
    payload = base64.urlsafe_b64encode(b"[1]").rstrip(b"=").decode()
    mac = hmac.new(SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    signature = base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    with pytest.raises(AuthenticationFailed, match="not a JSON object"):
        vonage.verify(request(BODY, f"Bearer {header}.{payload}.{signature}"), ctx())


# --- parsing ---------------------------------------------------------------------------------


def event(**fields: Any) -> dict[str, Any]:
    """A documented event-webhook payload (webhook-reference.md), with overrides."""
    base: dict[str, Any] = {
        "from": CUSTOMER,
        "to": OUR_NUMBER,
        "uuid": UUID,
        "conversation_uuid": CON,
        "status": "started",
        "direction": "inbound",
        "timestamp": "2026-03-02T09:00:00.000Z",
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def parse(document: Any, policy: PhonePolicy = POLICY) -> list[Any]:
    body = json.dumps(document).encode()
    return vonage.parse(request(body, None), ctx(), policy)


def parse_one(document: Any) -> Any:
    events = parse(document)
    assert len(events) == 1
    return events[0]


COMPLETED = event(
    status="completed",
    end_time="2026-03-02T09:00:00.000Z",
    network="GB-FIXED",
    duration="2",
    start_time="2026-03-02T08:59:58.000Z",
    rate="0.00450000",
    price="0.00015000",
)


def test_completed_answered_call() -> None:
    recorded = parse_one(COMPLETED)
    assert isinstance(recorded, CallRecorded)
    assert recorded.call_id == f"vonage:{UUID}"
    assert recorded.provider == "vonage"
    assert recorded.status is CallStatus.ANSWERED
    assert recorded.direction is CallDirection.INBOUND
    assert recorded.answered_at == datetime(2026, 3, 2, 8, 59, 58, tzinfo=UTC)
    assert recorded.ended_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert recorded.talk_s == 2
    assert recorded.linked_id == CON
    assert recorded.from_.e164 == "+442079460000"
    assert recorded.to.e164 == "+447700900000"
    assert recorded.counterpart == "+442079460000"
    assert recorded.raw["price"] == "0.00015000"


def test_completed_without_start_time_derives_the_answer() -> None:
    recorded = parse_one(event(status="completed", duration=30, end_time=None, start_time=None))
    assert recorded.ended_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert recorded.answered_at == datetime(2026, 3, 2, 8, 59, 30, tzinfo=UTC)
    assert recorded.talk_s == 30


@pytest.mark.parametrize("duration", ["0", 0, None, ""])
def test_completed_without_talk_time_repeats_an_outcome_already_sent(duration: Any) -> None:
    assert parse(event(status="completed", duration=duration, direction="outbound")) == []


@pytest.mark.parametrize(
    ("status", "final"),
    [
        ("busy", CallStatus.BUSY),
        ("cancelled", CallStatus.CANCELED),
        ("unanswered", CallStatus.NO_ANSWER),
        ("timeout", CallStatus.NO_ANSWER),
        ("rejected", CallStatus.FAILED),
        ("failed", CallStatus.FAILED),
        ("Busy", CallStatus.BUSY),
    ],
)
def test_final_status_mapping(status: str, final: CallStatus) -> None:
    document = event(status=status, direction="outbound", **{"from": OUR_NUMBER, "to": CUSTOMER})
    recorded = parse_one(document)
    assert isinstance(recorded, CallRecorded)
    assert recorded.status is final
    assert recorded.direction is CallDirection.OUTBOUND
    assert recorded.counterpart == "+442079460000"
    assert recorded.answered_at is None
    assert recorded.talk_s == 0
    assert recorded.started_at == recorded.ended_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_detail_becomes_the_hangup_cause() -> None:
    recorded = parse_one(event(status="failed", direction="outbound", detail="cannot_route"))
    assert recorded.hangup_cause == "cannot_route"


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("started", CallState.INITIATED),
        ("ringing", CallState.RINGING),
        ("answered", CallState.ANSWERED),
    ],
)
def test_progress_states(status: str, state: CallState) -> None:
    progress = parse_one(event(status=status, start_time="", rate="", network=""))
    assert isinstance(progress, CallProgress)
    assert progress.state is state
    assert progress.at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert progress.call_id == f"vonage:{UUID}"
    assert progress.counterpart == "+442079460000"


def test_real_tutorial_ringing_event() -> None:
    """As logged in Vonage's own tutorial (developer.vonage.com)."""
    progress = parse_one(
        {
            "from": "441234567890",
            "to": "442038297050",
            "uuid": "0779a56d002f1c7f47f82ef5fe84ab79",
            "conversation_uuid": "CON-8f5a100c-fbce-4218-8d4b-16341335bcd6",
            "status": "ringing",
            "direction": "inbound",
            "timestamp": "2021-03-29T21:20:05.582Z",
            "headers": {},
        }
    )
    assert progress.state is CallState.RINGING
    assert progress.at == datetime(2021, 3, 29, 21, 20, 5, 582_000, tzinfo=UTC)
    assert progress.counterpart == "+441234567890"


def amd(status: str) -> dict[str, Any]:
    """human/machine events: `call_uuid`, no `uuid`, no `direction`."""
    return {
        "call_uuid": UUID,
        "from": OUR_NUMBER,
        "to": CUSTOMER,
        "status": status,
        "conversation_uuid": CON,
        "timestamp": "2026-03-02T09:00:00.000Z",
    }


def test_machine_is_voicemail() -> None:
    recorded = parse_one(amd("machine"))
    assert isinstance(recorded, CallRecorded)
    assert recorded.status is CallStatus.VOICEMAIL
    assert recorded.call_id == f"vonage:{UUID}"
    assert recorded.direction is CallDirection.OUTBOUND
    assert recorded.answered_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert recorded.ended_at is None
    assert recorded.counterpart == "+442079460000"


def test_human_is_answered_progress() -> None:
    progress = parse_one(amd("human"))
    assert isinstance(progress, CallProgress)
    assert progress.state is CallState.ANSWERED
    assert event_id(progress) == event_id(parse_one(event(status="answered", direction="outbound")))


@pytest.mark.parametrize(
    "document",
    [
        {
            "start_time": "2026-03-02T09:00:00.000Z",
            "recording_url": "https://api.nexmo.com/v1/files/bbbbbbbb-aaaa-cccc-dddd-0123456789ab",
            "size": 12222,
            "recording_uuid": UUID,
            "end_time": "2026-03-02T09:00:00.000Z",
            "conversation_uuid": CON,
            "timestamp": "2026-03-02T09:00:00.000Z",
        },
        {"dtmf": "42", "timed_out": True, "uuid": UUID, "conversation_uuid": CON},
        {
            "conversation_uuid_from": CON,
            "conversation_uuid_to": CON,
            "type": "transfer",
            "uuid": UUID,
            "timestamp": "2026-03-02T09:00:00.000Z",
        },
        {"reason": "Syntax error in NCCO.", "conversation_uuid": CON, "timestamp": "x"},
        event(status="disconnected"),
        event(status="record"),
    ],
    ids=["record", "input", "transfer", "error", "disconnected", "record-status"],
)
def test_non_call_events_yield_nothing(document: dict[str, Any]) -> None:
    assert parse(document) == []


# Direction and agent: (direction, from, from_user, to) -> (direction, agent, counterpart).
IN, OUT, INT = CallDirection.INBOUND, CallDirection.OUTBOUND, CallDirection.INTERNAL
E164 = "+442079460000"  # CUSTOMER
DESK = "sip:alice@pbx.example.com"
LEGS = [
    ("inbound", CUSTOMER, None, OUR_NUMBER, IN, None, E164),
    ("outbound", OUR_NUMBER, None, CUSTOMER, OUT, None, E164),
    # A Client SDK user calls out, or calls inside.
    ("inbound", None, "alice", CUSTOMER, OUT, "alice", E164),
    ("inbound", None, "alice", "bob", INT, "alice", None),
    ("inbound", None, "alice", OUR_NUMBER, INT, "alice", None),
    # A desk phone on a SIP trunk into Vonage calls out.
    ("inbound", "sip:101@pbx.example.com", None, CUSTOMER, OUT, "101", E164),
    # An outside (or withheld) caller connected to our agent's endpoint.
    ("outbound", CUSTOMER, None, DESK, IN, "alice", E164),
    ("outbound", "", None, DESK, IN, "alice", None),
    ("outbound", OUR_NUMBER, None, DESK, INT, "alice", None),
    ("outbound", OUR_NUMBER, None, {"type": "app", "user": "alice"}, INT, "alice", None),
    # A SIP URI with an outside number is a trunk to the PSTN.
    ("outbound", OUR_NUMBER, None, f"sip:{E164}@trunk.example.com", OUT, None, E164),
    ("outbound", OUR_NUMBER, None, {"type": "phone", "number": CUSTOMER}, OUT, None, E164),
    # A name where a number should be is not taken for one of our users.
    ("inbound", "Unknown caller", None, OUR_NUMBER, IN, None, None),
]


@pytest.mark.parametrize(
    ("direction", "from_", "from_user", "to", "expected", "agent", "counterpart"), LEGS
)
def test_direction_and_agent(
    direction: str,
    from_: str | None,
    from_user: str | None,
    to: Any,
    expected: CallDirection,
    agent: str | None,
    counterpart: str | None,
) -> None:
    document = event(direction=direction, to=to, from_user=from_user, **{"from": from_})
    for status in ("ringing", "busy"):
        result = parse_one({**document, "status": status})
        assert result.direction is expected
        assert result.agent == agent
        assert result.counterpart == counterpart


@pytest.mark.parametrize("caller", ["", "anonymous", "Restricted", "Unknown", "withheld"])
def test_withheld_callers(caller: str) -> None:
    recorded = parse_one(event(status="completed", duration="5", **{"from": caller}))
    assert recorded.from_.kind is NumberKind.WITHHELD
    assert recorded.direction is CallDirection.INBOUND
    assert recorded.counterpart is None


def test_missing_from_is_withheld() -> None:
    recorded = parse_one(event(status="completed", duration="5", **{"from": None}))
    assert recorded.from_.kind is NumberKind.WITHHELD


def test_progress_and_final_share_the_call_id_and_differ_in_event_id() -> None:
    ringing = parse_one(event(status="ringing"))
    completed = parse_one(COMPLETED)
    assert ringing.call_id == completed.call_id
    assert event_id(ringing) != event_id(completed)
    assert event_id(completed) == event_id(parse_one(COMPLETED))  # a retry dedupes


def test_missing_timestamp_uses_the_receive_time() -> None:
    progress = parse_one(event(status="ringing", timestamp=None))
    assert progress.at == datetime.fromtimestamp(NOW, UTC)


def test_offset_timestamp_is_converted_to_utc() -> None:
    progress = parse_one(event(status="ringing", timestamp="2026-03-02T10:00:00+01:00"))
    assert progress.at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"uuid": None}, "uuid"),
        ({"uuid": ""}, "uuid"),
        ({"uuid": ["x"]}, "uuid"),
        ({"uuid": "u" * 300}, "uuid"),
        ({"status": "exploded"}, "status"),
        ({"status": 3}, "status"),
        ({"direction": None}, "direction"),
        ({"direction": "sideways"}, "direction"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": 1772442000}, "timestamp"),
        ({"timestamp": "9999-12-31T23:59:59-01:00"}, "timestamp"),
        ({"status": "completed", "duration": "two"}, "duration"),
        ({"status": "completed", "duration": "-1"}, "duration"),
        ({"status": "completed", "duration": True}, "duration"),
        ({"status": "completed", "duration": "1e400"}, "duration"),
        ({"status": "completed", "duration": "nan"}, "duration"),
        ({"status": "completed", "duration": "5", "end_time": "soon"}, "end_time"),
    ],
)
def test_invalid_payloads_name_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidPayload) as info:
        parse(_with(fields))
    assert info.value.field == field


def _with(fields: dict[str, Any]) -> dict[str, Any]:
    document = event()
    for key, value in fields.items():
        if value is None:
            document.pop(key, None)
        else:
            document[key] = value
    return document


@pytest.mark.parametrize("body", [b"[1, 2]", b"not json", b'"text"', b"\xff"])
def test_invalid_json_bodies(body: bytes) -> None:
    with pytest.raises(InvalidPayload):
        vonage.parse(request(body, None), ctx(), POLICY)


# --- nothing but our two errors, whatever arrives --------------------------------------------

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
keys = st.sampled_from(
    [
        *["from", "to", "uuid", "call_uuid", "conversation_uuid", "status", "direction"],
        *["timestamp", "duration", "start_time", "end_time", "from_user", "detail"],
    ]
)
statuses = st.sampled_from([*vonage.PROGRESS_STATES, *vonage.FINAL_STATUSES, "completed"])


@settings(max_examples=300, deadline=None)
@given(
    document=st.one_of(
        st.dictionaries(keys, json_values, max_size=10),
        st.fixed_dictionaries({"status": statuses, "uuid": st.text(max_size=5)}).flatmap(
            lambda base: st.dictionaries(keys, json_values, max_size=8).map(
                lambda extra: {**extra, **base}
            )
        ),
        json_values,
    ),
    raw_body=st.binary(max_size=100),
    authorization=st.one_of(st.text(max_size=60), st.text(max_size=60).map("Bearer {}".format)),
)
def test_arbitrary_input_raises_only_adapter_errors(
    document: Any, raw_body: bytes, authorization: str
) -> None:
    for body in (json.dumps(document).encode(), raw_body):
        hook = request(body, authorization)
        with contextlib.suppress(AuthenticationFailed):
            vonage.verify(hook, ctx())
        with contextlib.suppress(InvalidPayload):
            vonage.parse(hook, ctx(), POLICY)
