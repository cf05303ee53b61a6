"""Twilio Voice status callbacks: X-Twilio-Signature and the call-record mapping."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest_calls.domain import twilio
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

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
NOW = 1_772_442_000.0  # 2026-03-02T09:00:00Z
TOKEN = "a" * 32
HOOK = "https://switchboard.example/webhooks/twilio"
OUR_NUMBER = "+15005550006"
CUSTOMER = "+16466063895"
POLICY = PhonePolicy(default_region="US", own_numbers=frozenset({OUR_NUMBER}))

# --- published test vectors (twilio-python tests/unit/test_request_validator.py) -------------
VECTOR_TOKEN = "12345"
VECTOR_URI = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}
VECTOR_EXPECTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
VECTOR_BODY = '{"property": "value", "boolean": true}'
VECTOR_BODY_HASH = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
VECTOR_URI_WITH_BODY = VECTOR_URI + "&bodySHA256=" + VECTOR_BODY_HASH
VECTOR_DUPLICATES = [
    ("Sid", "CA123"),
    ("SidAccount", "AC123"),
    ("Digits", "5678"),
    ("Digits", "1234"),
    ("Digits", "1234"),
]


def ctx(secret: str = TOKEN, now: float = NOW) -> Context:
    return Context(secret=secret, region="US", replay_window_s=300, now=now)


def form_request(
    pairs: list[tuple[str, str]],
    signature: str | None,
    url: str = HOOK,
    body: bytes | None = None,
) -> WebhookRequest:
    headers = {"content-type": FORM}
    if signature is not None:
        headers["x-twilio-signature"] = signature
    return WebhookRequest(
        method="POST",
        url=url,
        headers=headers,
        body=urlencode(pairs).encode() if body is None else body,
        content_type=FORM,
    )


def signed(pairs: list[tuple[str, str]], url: str = HOOK, token: str = TOKEN) -> WebhookRequest:
    return form_request(pairs, twilio.compute_signature(token, url, pairs), url)


def vector_check(url: str, pairs: list[tuple[str, str]], signature: str) -> None:
    twilio.verify(form_request(pairs, signature, url), ctx(VECTOR_TOKEN))


# --- signature: the published vectors, verbatim ----------------------------------------------


def test_vector_compute_signature() -> None:
    assert twilio.compute_signature(VECTOR_TOKEN, VECTOR_URI, list(VECTOR_PARAMS.items())) == (
        VECTOR_EXPECTED
    )


def test_vector_string_to_sign() -> None:
    text = (
        "https://mycompany.com/myapp.php?foo=1&bar=2CallSidCA1234567890ABCDECaller+14158675309"
        "Digits1234From+14158675309To+18005551212"
    )
    mac = hmac.new(VECTOR_TOKEN.encode(), text.encode(), hashlib.sha1).digest()
    assert base64.b64encode(mac).decode() == VECTOR_EXPECTED


def test_vector_validation() -> None:
    vector_check(VECTOR_URI, list(VECTOR_PARAMS.items()), VECTOR_EXPECTED)


def test_vector_current_docs_numbers() -> None:
    params = {
        "CallSid": "CA1234567890ABCDE",
        "From": "+12349013030",
        "To": "+18005551212",
        "Caller": "+12349013030",
        "Digits": "1234",
    }
    assert twilio.compute_signature(VECTOR_TOKEN, VECTOR_URI, list(params.items())) == (
        "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    )
    vector_check(VECTOR_URI, list(params.items()), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")


def test_vector_duplicate_params_sorted_and_deduplicated() -> None:
    assert twilio.compute_signature(VECTOR_TOKEN, VECTOR_URI, VECTOR_DUPLICATES) == (
        "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    )
    body = b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234&Digits=1234"
    request = form_request([], "IK+Dwps556ElfBT0I3Rgjkr1wJU=", VECTOR_URI, body)
    twilio.verify(request, ctx(VECTOR_TOKEN))


def test_vector_removes_port_on_https() -> None:
    uri = VECTOR_URI.replace(".com", ".com:1234")
    vector_check(uri, list(VECTOR_PARAMS.items()), VECTOR_EXPECTED)


def test_vector_removes_port_on_http() -> None:
    uri = VECTOR_URI.replace(".com", ".com:1234").replace("https", "http")
    vector_check(uri, list(VECTOR_PARAMS.items()), "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=")


def test_vector_adds_port_on_https() -> None:
    vector_check(VECTOR_URI, list(VECTOR_PARAMS.items()), "kvajT1Ptam85bY51eRf/AJRuM3w=")


def test_vector_adds_port_on_http() -> None:
    uri = VECTOR_URI.replace("https", "http")
    vector_check(uri, list(VECTOR_PARAMS.items()), "0ZXoZLH/DfblKGATFgpif+LLRf4=")


def test_vector_body_hash() -> None:
    assert twilio.body_hash(VECTOR_BODY.encode()) == VECTOR_BODY_HASH


def test_vector_json_body() -> None:
    request = WebhookRequest(
        method="POST",
        url=VECTOR_URI_WITH_BODY,
        headers={"x-twilio-signature": "a9nBmqA0ju/hNViExpshrM61xv4="},
        body=VECTOR_BODY.encode(),
        content_type=JSON,
    )
    twilio.verify(request, ctx(VECTOR_TOKEN))


def test_url_variants() -> None:
    assert twilio.url_variants("https://h.example/p?a=1") == [
        "https://h.example/p?a=1",
        "https://h.example:443/p?a=1",
    ]
    assert twilio.url_variants("http://h.example:8080/p") == [
        "http://h.example/p",
        "http://h.example:8080/p",
    ]


# --- signature: rejected ---------------------------------------------------------------------

CALL = [
    ("CallSid", "CAbe982f58915a2def4cf7aaa1f1766236"),
    ("CallStatus", "completed"),
    ("Direction", "inbound"),
    ("From", "+16466063895"),
    ("To", OUR_NUMBER),
    ("CallDuration", "49"),
    ("Timestamp", "Mon, 02 Mar 2026 09:00:00 +0000"),
    ("ToZip", ""),
]


def test_verify_valid() -> None:
    twilio.verify(signed(CALL), ctx())


def test_verify_tampered_body() -> None:
    request = signed(CALL)
    tampered = request.body.replace(b"completed", b"no-answer")
    with pytest.raises(AuthenticationFailed, match="does not match"):
        twilio.verify(form_request([], request.header("x-twilio-signature"), body=tampered), ctx())


def test_verify_added_parameter() -> None:
    request = signed(CALL)
    body = request.body + b"&CallDuration=1"
    with pytest.raises(AuthenticationFailed, match="does not match"):
        twilio.verify(form_request([], request.header("x-twilio-signature"), body=body), ctx())


def test_verify_empty_value_is_signed() -> None:
    request = signed(CALL)
    body = request.body.replace(b"&ToZip=", b"")
    with pytest.raises(AuthenticationFailed, match="does not match"):
        twilio.verify(form_request([], request.header("x-twilio-signature"), body=body), ctx())


def test_verify_wrong_token() -> None:
    with pytest.raises(AuthenticationFailed, match="does not match"):
        twilio.verify(signed(CALL, token="b" * 32), ctx())


def test_verify_other_url() -> None:
    sig = twilio.compute_signature(TOKEN, HOOK + "?x=1", CALL)
    with pytest.raises(AuthenticationFailed, match="does not match"):
        twilio.verify(form_request(CALL, sig), ctx())


@pytest.mark.parametrize("signature", [None, "", "   "], ids=["absent", "empty", "blank"])
def test_verify_missing_header(signature: str | None) -> None:
    with pytest.raises(AuthenticationFailed, match="missing"):
        twilio.verify(form_request(CALL, signature), ctx())


def test_verify_non_utf8_form_body() -> None:
    with pytest.raises(AuthenticationFailed):
        twilio.verify(form_request([], "x", body=b"CallSid=\xff"), ctx())


def test_verify_unparseable_url() -> None:
    with pytest.raises(AuthenticationFailed):
        twilio.verify(form_request(CALL, "x", url="https://h.example:notaport/p"), ctx())


def json_request(body: bytes, url: str, signature: str) -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        url=url,
        headers={"x-twilio-signature": signature},
        body=body,
        content_type=JSON,
    )


def test_verify_json_tampered_body() -> None:
    body = VECTOR_BODY.replace("value", "other").encode()
    with pytest.raises(AuthenticationFailed, match="bodySHA256"):
        twilio.verify(
            json_request(body, VECTOR_URI_WITH_BODY, "a9nBmqA0ju/hNViExpshrM61xv4="),
            ctx(VECTOR_TOKEN),
        )


def test_verify_json_without_body_hash() -> None:
    sig = twilio.compute_signature(VECTOR_TOKEN, VECTOR_URI)
    with pytest.raises(AuthenticationFailed, match="without bodySHA256"):
        twilio.verify(json_request(VECTOR_BODY.encode(), VECTOR_URI, sig), ctx(VECTOR_TOKEN))


def test_verify_json_hash_swapped_in_url() -> None:
    """A matching bodySHA256 is not enough: the URL carrying it must be signed."""
    body = b'{"CallSid":"CA1"}'
    url = f"{VECTOR_URI}&bodySHA256={twilio.body_hash(body)}"
    with pytest.raises(AuthenticationFailed, match="does not match"):
        twilio.verify(json_request(body, url, "a9nBmqA0ju/hNViExpshrM61xv4="), ctx(VECTOR_TOKEN))


def test_verify_get_signs_the_url_only() -> None:
    url = f"{HOOK}?{urlencode(CALL)}"
    request = WebhookRequest(
        method="GET",
        url=url,
        headers={"x-twilio-signature": twilio.compute_signature(TOKEN, url)},
        query=CALL,
    )
    twilio.verify(request, ctx())
    (event,) = twilio.parse(request, ctx(), POLICY)
    assert isinstance(event, CallRecorded)
    assert event.talk_s == 49


# --- parsing ---------------------------------------------------------------------------------

# A real status callback (form-encoded, as logged by a Java app; reference file §1.2).
REAL_BODY = (
    b"Called=%2B551135892112&ToState=SP&CallerCountry=US&Direction=outbound-api&Timestamp=Sun%2C"
    b"%2025%20Mar%202018%2009%3A53%3A19%20%2B0000&CallbackSource=call-progress-events&CallerState"
    b"=NY&ToZip=&SequenceNumber=3&To=%2B551135892112&CallSid=CAbe982f58915a2def4cf7aaa1f1766236&"
    b"ToCountry=BR&CallerZip=10004&CalledZip=&ApiVersion=2010-04-01&CallStatus=completed&"
    b"CalledCity=S%C3%A3o%20Paulo&Duration=1&From=%2B16466063895&CallDuration=49&AccountSid="
    b"AC47ebdee5f6d2049fe18cf3ca151ff3a7&CalledCountry=BR&CallerCity=NEW%20YORK&ToCity="
    b"S%C3%A3o%20Paulo&FromCountry=US&Caller=%2B16466063895&FromCity=NEW%20YORK&CalledState=SP&"
    b"FromZip=10004&AnsweredBy=human&FromState=NY"
)


def parse_pairs(pairs: list[tuple[str, str]], policy: PhonePolicy = POLICY) -> Any:
    events = twilio.parse(signed(pairs), ctx(), policy)
    assert len(events) == 1
    return events[0]


def callback(**fields: str) -> list[tuple[str, str]]:
    base = dict(CALL)
    base.update(fields)
    return [(k, v) for k, v in base.items() if v != "<drop>"]


def test_parse_real_completed_callback() -> None:
    request = form_request([], "unused", body=REAL_BODY)
    (event,) = twilio.parse(request, ctx(), POLICY)
    assert isinstance(event, CallRecorded)
    assert event.call_id == "twilio:CAbe982f58915a2def4cf7aaa1f1766236"
    assert event.provider == "twilio"
    assert event.status is CallStatus.ANSWERED
    assert event.direction is CallDirection.OUTBOUND
    assert event.ended_at == datetime(2018, 3, 25, 9, 53, 19, tzinfo=UTC)
    assert event.answered_at == datetime(2018, 3, 25, 9, 52, 30, tzinfo=UTC)
    assert event.started_at == event.answered_at
    assert event.talk_s == 49
    assert event.from_.e164 == "+16466063895"
    assert event.to.e164 == "+551135892112"
    assert event.counterpart == "+551135892112"
    assert event.linked_id == "CAbe982f58915a2def4cf7aaa1f1766236"
    assert event.agent is None
    assert event.raw["CalledCity"] == "São Paulo"
    assert event.raw["ToZip"] == ""
    assert event.raw["Duration"] == "1"


def test_parse_inbound_answered() -> None:
    event = parse_pairs(CALL)
    assert isinstance(event, CallRecorded)
    assert event.direction is CallDirection.INBOUND
    assert event.counterpart == "+16466063895"
    assert event.ended_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert event.talk_s == 49


@pytest.mark.parametrize(
    ("call_status", "status"),
    [
        ("completed", CallStatus.ANSWERED),
        ("busy", CallStatus.BUSY),
        ("no-answer", CallStatus.NO_ANSWER),
        ("failed", CallStatus.FAILED),
        ("canceled", CallStatus.CANCELED),
        ("No-Answer", CallStatus.NO_ANSWER),
    ],
)
def test_final_status_mapping(call_status: str, status: CallStatus) -> None:
    duration = "49" if status is CallStatus.ANSWERED else "<drop>"
    event = parse_pairs(callback(CallStatus=call_status, CallDuration=duration))
    assert isinstance(event, CallRecorded)
    assert event.status is status
    if status is not CallStatus.ANSWERED:
        assert event.answered_at is None
        assert event.talk_s == 0
        assert event.started_at == event.ended_at


@pytest.mark.parametrize(
    ("call_status", "state"),
    [
        ("queued", CallState.INITIATED),
        ("initiated", CallState.INITIATED),
        ("ringing", CallState.RINGING),
        ("in-progress", CallState.ANSWERED),
    ],
)
def test_progress_states(call_status: str, state: CallState) -> None:
    event = parse_pairs(callback(CallStatus=call_status, CallDuration="<drop>"))
    assert isinstance(event, CallProgress)
    assert event.state is state
    assert event.at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert event.call_id == "twilio:CAbe982f58915a2def4cf7aaa1f1766236"
    assert event.counterpart == "+16466063895"


def test_progress_and_final_of_one_leg_share_the_call_id() -> None:
    ringing = parse_pairs(callback(CallStatus="ringing"))
    final = parse_pairs(CALL)
    assert ringing.call_id == final.call_id
    assert event_id(ringing) != event_id(final)


def test_a_retried_callback_maps_to_the_same_event_id() -> None:
    """Twilio signs no timestamp: a replay is harmless because it dedupes."""
    assert event_id(parse_pairs(CALL)) == event_id(parse_pairs(CALL))


@pytest.mark.parametrize("answered_by", ["machine_start", "machine_end_beep", "machine_end_other"])
def test_answering_machine_is_voicemail(answered_by: str) -> None:
    event = parse_pairs(callback(AnsweredBy=answered_by, Direction="outbound-api"))
    assert event.status is CallStatus.VOICEMAIL


@pytest.mark.parametrize("answered_by", ["human", "unknown", "fax"])
def test_other_answered_by_stays_answered(answered_by: str) -> None:
    assert parse_pairs(callback(AnsweredBy=answered_by)).status is CallStatus.ANSWERED


def test_recording_and_sip_response_code() -> None:
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"
    event = parse_pairs(callback(RecordingUrl=url, RecordingSid="RE1"))
    assert event.recording_url == url
    busy = parse_pairs(callback(CallStatus="busy", CallDuration="<drop>", SipResponseCode="486"))
    assert busy.hangup_cause == "486"


# Direction and agent: (Direction, From, To) -> (direction, agent, counterpart).
LEGS = [
    ("inbound", CUSTOMER, OUR_NUMBER, CallDirection.INBOUND, None, CUSTOMER),
    ("outbound-api", OUR_NUMBER, CUSTOMER, CallDirection.OUTBOUND, None, CUSTOMER),
    ("outbound-api", OUR_NUMBER, "client:alice", CallDirection.INTERNAL, "alice", None),
    ("inbound", "client:alice", CUSTOMER, CallDirection.OUTBOUND, "alice", CUSTOMER),
    ("inbound", "client:alice", "", CallDirection.INTERNAL, "alice", None),
    ("inbound", "client:alice", "client:bob", CallDirection.INTERNAL, "alice", None),
    # <Dial><Client>/<Sip> child legs of an inbound call: the agent's leg.
    ("outbound-dial", CUSTOMER, "client:alice", CallDirection.INBOUND, "alice", CUSTOMER),
    (
        "outbound-dial",
        CUSTOMER,
        "sip:101@pbx.example.com;transport=tls",
        CallDirection.INBOUND,
        "101",
        CUSTOMER,
    ),
    (
        "outbound-dial",
        CUSTOMER,
        "sip:alice@example.sip.twilio.com",
        CallDirection.INBOUND,
        "alice",
        CUSTOMER,
    ),
    ("outbound-dial", OUR_NUMBER, "client:alice", CallDirection.INTERNAL, "alice", None),
    ("outbound-dial", "anonymous", "client:alice", CallDirection.INBOUND, "alice", None),
    # <Dial><Number> child legs: an outside call placed with our caller id...
    ("outbound-dial", OUR_NUMBER, CUSTOMER, CallDirection.OUTBOUND, None, CUSTOMER),
    ("outbound-dial", "client:bob", CUSTOMER, CallDirection.OUTBOUND, "bob", CUSTOMER),
    # ...or an outside caller forwarded to an outside phone (an agent's mobile).
    ("outbound-dial", CUSTOMER, "+12025550143", CallDirection.INBOUND, None, CUSTOMER),
    # A SIP URI whose user is an outside number is a trunk, not an endpoint.
    (
        "outbound-dial",
        OUR_NUMBER,
        "sip:+16466063895@trunk.example.com",
        CallDirection.OUTBOUND,
        None,
        CUSTOMER,
    ),
    ("trunking-originating", CUSTOMER, OUR_NUMBER, CallDirection.INBOUND, None, CUSTOMER),
    ("trunking-terminating", OUR_NUMBER, CUSTOMER, CallDirection.OUTBOUND, None, CUSTOMER),
]


@pytest.mark.parametrize(("direction", "from_", "to", "expected", "agent", "counterpart"), LEGS)
def test_direction_and_agent(
    direction: str,
    from_: str,
    to: str,
    expected: CallDirection,
    agent: str | None,
    counterpart: str | None,
) -> None:
    pairs = callback(Direction=direction, From=from_, To=to, ParentCallSid="CA" + "0" * 32)
    for status in ("completed", "ringing"):
        event = parse_pairs([*pairs, ("CallStatus", status)])
        assert event.direction is expected
        assert event.agent == agent
        assert event.counterpart == counterpart


def test_child_leg_links_to_its_parent() -> None:
    parent = "CA" + "0" * 32
    event = parse_pairs(
        callback(Direction="outbound-dial", To="client:alice", ParentCallSid=parent)
    )
    assert event.linked_id == parent


@pytest.mark.parametrize(
    "caller",
    [
        *["+266696687", "+7378742833", "+86282452253", "+8656696", "+2562533"],
        *["anonymous", "Anonymous", "client:Anonymous", "", "Restricted", "Unknown"],
    ],
)
def test_withheld_callers(caller: str) -> None:
    event = parse_pairs(callback(From=caller))
    assert event.from_.kind is NumberKind.WITHHELD
    assert event.direction is CallDirection.INBOUND
    assert event.counterpart is None


def test_repeated_keys_are_kept_as_lists_in_raw() -> None:
    event = parse_pairs([*CALL, ("StatusCallbackEvent", "ringing"), ("StatusCallbackEvent", "x")])
    assert event.raw["StatusCallbackEvent"] == ["ringing", "x"]
    assert event.raw["CallSid"] == "CAbe982f58915a2def4cf7aaa1f1766236"


def test_missing_timestamp_uses_the_receive_time() -> None:
    event = parse_pairs(callback(Timestamp="<drop>", CallDuration="10"))
    assert event.ended_at == datetime.fromtimestamp(NOW, UTC)


def test_timestamp_in_another_zone_is_converted_to_utc() -> None:
    event = parse_pairs(callback(Timestamp="Mon, 02 Mar 2026 10:00:00 +0100"))
    assert event.ended_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_json_body() -> None:
    body = (
        b'{"CallSid": "CA1", "CallStatus": "no-answer", "Direction": "outbound-api",'
        b' "From": "+15005550006", "To": "+16466063895",'
        b' "Timestamp": "Mon, 02 Mar 2026 09:00:00 +0000", "SequenceNumber": 2}'
    )
    url = f"{HOOK}?bodySHA256={twilio.body_hash(body)}"
    request = json_request(body, url, twilio.compute_signature(TOKEN, url))
    twilio.verify(request, ctx())
    (event,) = twilio.parse(request, ctx(), POLICY)
    assert isinstance(event, CallRecorded)
    assert event.status is CallStatus.NO_ANSWER
    assert event.counterpart == "+16466063895"
    assert event.raw["SequenceNumber"] == 2


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"CallSid": "<drop>"}, "CallSid"),
        ({"CallSid": "  "}, "CallSid"),
        ({"CallSid": "CA" * 200}, "CallSid"),
        ({"CallStatus": "<drop>"}, "CallStatus"),
        ({"CallStatus": "exploded"}, "CallStatus"),
        ({"Direction": "<drop>"}, "Direction"),
        ({"Direction": "sideways"}, "Direction"),
        ({"Timestamp": "yesterday"}, "Timestamp"),
        ({"Timestamp": "Mon, 02 Mar 99999 09:00:00 +0000"}, "Timestamp"),
        ({"Timestamp": "Fri, 31 Dec 9999 23:59:59 -0100"}, "Timestamp"),
        ({"CallDuration": "-3"}, "CallDuration"),
        ({"CallDuration": "4.5"}, "CallDuration"),
        ({"CallDuration": "99999999999999999999"}, "CallDuration"),
        ({"CallDuration": "٣"}, "CallDuration"),
    ],
)
def test_invalid_payloads_name_the_field(fields: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidPayload) as info:
        parse_pairs(callback(**fields))
    assert info.value.field == field


@pytest.mark.parametrize("body", [b"[1, 2]", b"not json", b'"text"'])
def test_invalid_json_bodies(body: bytes) -> None:
    with pytest.raises(InvalidPayload):
        twilio.parse(json_request(body, HOOK, "x"), ctx(), POLICY)


# --- nothing but our two errors, whatever arrives --------------------------------------------

text = st.text(max_size=40)


@settings(max_examples=300, deadline=None)
@given(
    body=st.one_of(
        st.binary(max_size=200),
        st.lists(st.tuples(st.sampled_from([k for k, _ in CALL]), text), max_size=10).map(
            lambda pairs: urlencode(pairs).encode()
        ),
    ),
    content_type=st.sampled_from([FORM, JSON]),
    signature=text,
    url=st.one_of(st.just(HOOK), text),
    method=st.sampled_from(["POST", "GET"]),
)
def test_arbitrary_input_raises_only_adapter_errors(
    body: bytes, content_type: str, signature: str, url: str, method: str
) -> None:
    request = WebhookRequest(
        method=method,
        url=url,
        headers={"x-twilio-signature": signature},
        body=body,
        content_type=content_type,
    )
    with contextlib.suppress(AuthenticationFailed):
        twilio.verify(request, ctx())
    with contextlib.suppress(InvalidPayload):
        twilio.parse(request, ctx(), POLICY)
