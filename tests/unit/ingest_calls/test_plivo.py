"""Plivo: X-Plivo-Signature-V3 and the voice callback mapping."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest

from ingest_calls.domain import plivo
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

US = PhonePolicy(default_region="US")
NOW = 1_772_442_000.0  # 2026-03-02T09:00:00Z
URL = "https://calls.example.com/webhooks/plivo"
TOKEN = "MjY0ZjM1YWIzNTc0ZGY1MGU1ZGIzNTc0"
NONCE = "05429567804466091622"

# Reference §6.2 / T9: plivo-go utils_test.go, verbatim.
V3_NONCE = "31627761595286130198"
V3_TOKEN = "Y2Q2ZDgxZmY5YWRiOTI5YmQ1Njg0MTAxZWIyOTc4"
V3_PARAMS = {
    "Direction": "outbound",
    "From": "19792014278",
    "ALegUUID": "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36",
    "CallStatus": "in-progress",
    "BillRate": "0.002",
    "ParentAuthID": "MANWVLYTK4ZWU1YTY4QA",
    "To": "sip:PlivoSignature382029104058171078704104@phone-qa.voice.plivodev.com",
    "ALegRequestUUID": "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36",
    "CallUUID": "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36",
    "RequestUUID": "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36",
    "SIP-H-To": "<sip:PlivoSignature382029104058171078704104@52.9.11.55;transport=udp>;tag=1",
    "SessionStart": "2020-04-08 11:34:33.238707",
    "Event": "StartApp",
}
V3_URL = "https://plivobin.non-prod.plivops.com/api/v1/validate_signature03.xml"
V3_VECTORS = [
    ("POST", V3_URL + "/?a=b&c=d", "k7Pusd4OxCIjR5IfA9iedDNu/h/gbdYqdzG/MiYtd1c="),
    ("GET", V3_URL + "/?a=b&c=d", "UBq8jAtd32wR8EK9VgxbBn4n5rpI/l1H9iN4WfSEHFQ="),
    ("POST", V3_URL, "iAjE5QqI37mbkYe4w3jTMudqEzbDufdqi7sYwTu64e0="),
    ("GET", V3_URL, "i/MQsaQSAd6fiKhOh2qeeeLHZ9faldADSb3/7+Akfbc="),
]


def ctx(secret: str = TOKEN, options: dict[str, str] | None = None) -> Context:
    return Context(secret=secret, region="US", now=NOW, options=options or {})


def form_request(
    params: dict[str, str] | list[tuple[str, str]],
    *,
    url: str = URL,
    headers: dict[str, str] | None = None,
    token: str = TOKEN,
) -> WebhookRequest:
    body = urlencode(params).encode()
    pairs = list(params.items()) if isinstance(params, dict) else params
    if headers is None:
        multi: dict[str, list[str]] = {}
        for key, value in pairs:
            multi.setdefault(key, []).append(value)
        headers = {
            "x-plivo-signature-v3": plivo.signature_v3(token, "POST", url, NONCE, multi),
            "x-plivo-signature-v3-nonce": NONCE,
        }
    return WebhookRequest(
        method="POST",
        url=url,
        headers=headers,
        body=body,
        content_type="application/x-www-form-urlencoded",
    )


# --- the published vectors -------------------------------------------------------------------


@pytest.mark.parametrize(("method", "url", "expected"), V3_VECTORS)
def test_v3_vectors(method: str, url: str, expected: str) -> None:
    params = {key: [value] for key, value in V3_PARAMS.items()}
    assert plivo.signature_v3(V3_TOKEN, method, url, V3_NONCE, params) == expected


def test_v3_post_vectors_through_verify() -> None:
    for method, url, expected in V3_VECTORS:
        if method != "POST":
            continue
        headers = {"x-plivo-signature-v3": expected, "x-plivo-signature-v3-nonce": V3_NONCE}
        request = form_request(V3_PARAMS, url=url, headers=headers)
        plivo.verify(request, ctx(V3_TOKEN))


@pytest.mark.parametrize(
    ("query", "expected"), [(V3_VECTORS[1][1], V3_VECTORS[1][2]), (V3_URL, V3_VECTORS[3][2])]
)
def test_v3_get_vectors_with_the_parameters_in_the_query(query: str, expected: str) -> None:
    separator = "&" if "?" in query else "?"
    url = f"{query}{separator}{urlencode(V3_PARAMS)}"
    headers = {"x-plivo-signature-v3": expected, "x-plivo-signature-v3-nonce": V3_NONCE}
    request = WebhookRequest(method="GET", url=url, headers=headers)
    plivo.verify(request, ctx(V3_TOKEN))


def test_v3_base_string_for_a_post_with_a_query() -> None:
    params = {key: [value] for key, value in V3_PARAMS.items()}
    base = plivo.base_string("POST", V3_URL + "/?a=b&c=d", params)
    assert base.startswith(V3_URL + "/?a=b&c=d.ALegRequestUUID3e82ae9d")
    assert base.endswith("Tosip:PlivoSignature382029104058171078704104@phone-qa.voice.plivodev.com")
    assert "SessionStart2020-04-08 11:34:33.238707" in base  # values are not URL-encoded


def v1(token: str, url: str, params: dict[str, str]) -> str:
    signed = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    return base64.b64encode(
        hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()
    ).decode()


def test_v1_vectors_are_reproduced_but_v1_alone_is_refused() -> None:
    # Reference §6.2 / T7 (plivo-go), verbatim.
    call = {"CallUUID": "97ceeb52-58b6-11e1-86da-77300b68f8bb", "Duration": "300"}
    assert (
        v1("MAXXXXXXXXXXXXXXXXXX", "http://foo.com/answer/", call) == "EJEt0ELanhr8hjMPIJnLNLex0dE="
    )
    assert (
        v1("MAXXXXXXXXXXXXXXXXXX", "http://foo.com/answer/", {"a": "1 2"})
        == "n3Xfo4u+vRFyl3gsH8B0qDUIK5g="
    )
    headers = {"x-plivo-signature": "EJEt0ELanhr8hjMPIJnLNLex0dE="}
    request = form_request(call, url="http://foo.com/answer/", headers=headers)
    with pytest.raises(AuthenticationFailed, match="missing"):
        plivo.verify(request, ctx("MAXXXXXXXXXXXXXXXXXX"))


def test_v2_vector_is_reproduced_but_v2_alone_is_refused() -> None:
    # Reference §6.2 / T8 (plivo-python/node/go), verbatim. V2 signs only URL + nonce, not
    # the parameters, so it cannot protect a callback's content.
    def v2(token: str) -> str:
        digest = hmac.new(token.encode(), b"https://answer.url12345", hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    assert v2("my_auth_token") == "ehV3IKhLysWBxC1sy8INm0qGoQYdYsHwuoKjsX7FsXc="
    assert v2("my_auth_tokens") != "ehV3IKhLysWBxC1sy8INm0qGoQYdYsHwuoKjsX7FsXc="
    headers = {
        "x-plivo-signature-v2": "ehV3IKhLysWBxC1sy8INm0qGoQYdYsHwuoKjsX7FsXc=",
        "x-plivo-signature-v2-nonce": "12345",
    }
    request = form_request({"CallUUID": "x"}, url="https://answer.url", headers=headers)
    with pytest.raises(AuthenticationFailed, match="missing"):
        plivo.verify(request, ctx("my_auth_token"))


# --- verify ----------------------------------------------------------------------------------

HANGUP = {
    "AnswerTime": "2026-03-02 09:00:12",
    "BillDuration": "240",
    "BillRate": "0.0085",
    "CallStatus": "completed",
    "CallUUID": "70ce9e67-e643-40d6-92d0-bbbda06e652e",
    "CallerName": "+14155552671",
    "Direction": "inbound",
    "Duration": "192",
    "EndTime": "2026-03-02 09:03:12",
    "Event": "Hangup",
    "From": "14155552671",
    "HangupCause": "NORMAL_CLEARING",
    "HangupCauseCode": "4000",
    "HangupCauseName": "Normal Hangup",
    "HangupSource": "Caller",
    "ParentAuthID": "MANWVLYTK4ZWU1YTY4QA",
    "SessionStart": "2026-03-02 09:00:00.870618",
    "StartTime": "2026-03-02 09:00:00",
    "To": "12125550143",
    "TotalCost": "0.03400",
}


def test_verify_a_signed_hangup() -> None:
    plivo.verify(form_request(HANGUP), ctx())


def test_verify_a_url_with_its_own_query() -> None:
    plivo.verify(form_request(HANGUP, url=URL + "?tenant=acme"), ctx())


def test_tampered_body_is_refused() -> None:
    good = form_request(HANGUP)
    tampered = WebhookRequest(
        method="POST",
        url=URL,
        headers=good.headers,
        body=good.body.replace(b"completed", b"no-answer"),
    )
    with pytest.raises(AuthenticationFailed, match="does not match"):
        plivo.verify(tampered, ctx())


def test_wrong_token_is_refused() -> None:
    with pytest.raises(AuthenticationFailed, match="does not match"):
        plivo.verify(form_request(HANGUP, token="another-token"), ctx())


def test_url_is_signed() -> None:
    good = form_request(HANGUP)
    moved = WebhookRequest(method="POST", url=URL + "2", headers=good.headers, body=good.body)
    with pytest.raises(AuthenticationFailed, match="does not match"):
        plivo.verify(moved, ctx())


def test_nonce_is_signed() -> None:
    good = form_request(HANGUP)
    headers = {**good.headers, "x-plivo-signature-v3-nonce": "1"}
    request = WebhookRequest(method="POST", url=URL, headers=headers, body=good.body)
    with pytest.raises(AuthenticationFailed, match="does not match"):
        plivo.verify(request, ctx())


@pytest.mark.parametrize(
    "drop", ["x-plivo-signature-v3", "x-plivo-signature-v3-nonce"], ids=["signature", "nonce"]
)
def test_missing_headers(drop: str) -> None:
    good = form_request(HANGUP)
    headers = {k: v for k, v in good.headers.items() if k != drop}
    request = WebhookRequest(method="POST", url=URL, headers=headers, body=good.body)
    with pytest.raises(AuthenticationFailed, match="missing"):
        plivo.verify(request, ctx())


def test_several_signatures_any_matching() -> None:
    good = form_request(HANGUP)
    right = good.headers["x-plivo-signature-v3"]
    for offered in (f"bm9wZQ==,{right}", f"{right}, bm9wZQ==", f" {right} "):
        headers = {**good.headers, "x-plivo-signature-v3": offered}
        plivo.verify(WebhookRequest(method="POST", url=URL, headers=headers, body=good.body), ctx())
    headers = {**good.headers, "x-plivo-signature-v3": "bm9wZQ==,ZHVk"}
    with pytest.raises(AuthenticationFailed, match="does not match"):
        plivo.verify(WebhookRequest(method="POST", url=URL, headers=headers, body=good.body), ctx())


def test_main_account_signature_header() -> None:
    good = form_request(HANGUP)
    headers = {
        "x-plivo-signature-ma-v3": good.headers["x-plivo-signature-v3"],
        "x-plivo-signature-v3-nonce": NONCE,
    }
    plivo.verify(WebhookRequest(method="POST", url=URL, headers=headers, body=good.body), ctx())


def test_non_ascii_values_in_both_sdk_forms() -> None:
    params = {**HANGUP, "CallerName": "José Müller"}
    utf8 = form_request(params)
    plivo.verify(utf8, ctx())
    # plivo-python's form: the UTF-8 bytes read as Latin-1, encoded as UTF-8 again.
    base = plivo.base_string("POST", URL, {k: [v] for k, v in params.items()})
    mangled = f"{base}.{NONCE}".encode().decode("latin-1").encode()
    digest = hmac.new(TOKEN.encode(), mangled, hashlib.sha256).digest()
    headers = {
        "x-plivo-signature-v3": base64.b64encode(digest).decode(),
        "x-plivo-signature-v3-nonce": NONCE,
    }
    plivo.verify(WebhookRequest(method="POST", url=URL, headers=headers, body=utf8.body), ctx())


def test_repeated_keys_are_signed_sorted() -> None:
    plivo.verify(form_request([*HANGUP.items(), ("Tag", "b"), ("Tag", "a")]), ctx())


@pytest.mark.parametrize(
    ("method", "body", "words"),
    [("PUT", b"CallUUID=x", "not PUT"), ("POST", b"CallUUID=\xff", "signed string")],
)
def test_unverifiable_requests(method: str, body: bytes, words: str) -> None:
    headers = {"x-plivo-signature-v3": "c2ln", "x-plivo-signature-v3-nonce": NONCE}
    request = WebhookRequest(method=method, url=URL, headers=headers, body=body)
    with pytest.raises(AuthenticationFailed, match=words):
        plivo.verify(request, ctx())


def test_non_ascii_signature_header_is_refused_not_crashed() -> None:
    headers = {"x-plivo-signature-v3": "é", "x-plivo-signature-v3-nonce": NONCE}
    request = WebhookRequest(method="POST", url=URL, headers=headers, body=b"a=b")
    with pytest.raises(AuthenticationFailed, match="does not match"):
        plivo.verify(request, ctx())


# --- parse -----------------------------------------------------------------------------------


def parse(params: dict[str, str], options: dict[str, str] | None = None) -> list[Any]:
    return plivo.parse(form_request(params), ctx(options=options), US)


def test_answered_inbound_hangup() -> None:
    (event,) = parse(HANGUP)
    assert isinstance(event, CallRecorded)
    assert event.call_id == "plivo:70ce9e67-e643-40d6-92d0-bbbda06e652e"
    assert event.direction is CallDirection.INBOUND
    assert event.status is CallStatus.ANSWERED
    assert event.started_at == datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
    assert event.answered_at == datetime(2026, 3, 2, 9, 0, 12, tzinfo=UTC)
    assert event.ended_at == datetime(2026, 3, 2, 9, 3, 12, tzinfo=UTC)
    assert event.ring_s == 12.0
    assert event.talk_s == 180.0  # not BillDuration, which is rounded to the billing interval
    assert event.from_.e164 == "+14155552671"
    assert event.counterpart == "+14155552671"
    assert event.hangup_cause == "NORMAL_CLEARING"
    assert event.raw == HANGUP


@pytest.mark.parametrize(
    ("call_status", "cause", "status"),
    [
        ("completed", "NORMAL_CLEARING", CallStatus.ANSWERED),
        ("busy", "USER_BUSY", CallStatus.BUSY),
        ("no-answer", "NO_ANSWER", CallStatus.NO_ANSWER),
        ("timeout", "ALLOTTED_TIMEOUT", CallStatus.NO_ANSWER),
        ("failed", "UNALLOCATED_NUMBER", CallStatus.FAILED),
        ("cancel", "ORIGINATOR_CANCEL", CallStatus.CANCELED),
        ("canceled", "ORIGINATOR_CANCEL", CallStatus.CANCELED),
        ("COMPLETED", "NORMAL_CLEARING", CallStatus.ANSWERED),
        # Event=Hangup without a final CallStatus: the FreeSWITCH cause decides.
        ("in-progress", "NORMAL_CLEARING", CallStatus.ANSWERED),
        ("", "USER_BUSY", CallStatus.BUSY),
        ("", "CALL_REJECTED", CallStatus.BUSY),
        ("", "NO_USER_RESPONSE", CallStatus.NO_ANSWER),
        ("", "ORIGINATOR_CANCEL", CallStatus.CANCELED),
        ("", "RECOVERY_ON_TIMER_EXPIRE", CallStatus.FAILED),
    ],
)
def test_status_mapping(call_status: str, cause: str, status: CallStatus) -> None:
    params = {**HANGUP, "CallStatus": call_status, "HangupCause": cause}
    if status is not CallStatus.ANSWERED:
        params.pop("AnswerTime")
    (event,) = parse(params)
    assert event.status is status
    assert event.hangup_cause == cause


def test_unanswered_outbound_attempt() -> None:
    params = {
        **HANGUP,
        "Direction": "outbound",
        "From": "12125550143",
        "To": "14155552671",
        "CallStatus": "no-answer",
        "HangupCause": "NO_ANSWER",
        "BillDuration": "0",
        "Duration": "30",
        "EndTime": "2026-03-02 09:00:30",
    }
    del params["AnswerTime"]
    (event,) = parse(params)
    assert event.direction is CallDirection.OUTBOUND
    assert event.status is CallStatus.NO_ANSWER
    assert event.answered_at is None
    assert event.ring_s == 30.0
    assert event.talk_s == 0.0
    assert event.counterpart == "+14155552671"


def test_answered_without_answer_time_leaves_the_split_unknown() -> None:
    params = {k: v for k, v in HANGUP.items() if k != "AnswerTime"}
    (event,) = parse(params)
    assert event.status is CallStatus.ANSWERED
    assert event.ring_s is None
    assert event.talk_s is None


def test_plivo_endpoint_on_our_side_is_the_agent() -> None:
    params = {**HANGUP, "Direction": "outbound", "From": "sip:alice123@phone.plivo.com"}
    (event,) = parse(params)
    assert event.agent == "alice123"
    assert event.counterpart == "+12125550143"


def test_local_times_are_placed_by_session_start() -> None:
    # SessionStart is UTC; StartTime/AnswerTime/EndTime are in the account's zone (IST here).
    params = {
        **HANGUP,
        "SessionStart": "2026-03-02 03:30:00.870618",
        "StartTime": "2026-03-02 09:00:00",
        "AnswerTime": "2026-03-02 09:00:12",
        "EndTime": "2026-03-02 09:03:12",
    }
    (event,) = parse(params)
    assert event.started_at == datetime(2026, 3, 2, 3, 30, 0, tzinfo=UTC)
    assert event.ended_at == datetime(2026, 3, 2, 3, 33, 12, tzinfo=UTC)
    assert event.talk_s == 180.0


def test_timezone_option_wins() -> None:
    (event,) = parse(HANGUP, options={"timezone": "America/New_York"})
    assert event.started_at == datetime(2026, 3, 2, 14, 0, 0, tzinfo=UTC)


def test_unknown_timezone_option_is_invalid() -> None:
    with pytest.raises(InvalidPayload, match="time zone"):
        parse(HANGUP, options={"timezone": "Mars/Olympus"})


def test_without_times_the_clock_and_duration_are_used() -> None:
    params = {
        k: v
        for k, v in HANGUP.items()
        if k not in ("StartTime", "AnswerTime", "EndTime", "SessionStart")
    }
    params["CallStatus"] = "no-answer"
    (event,) = parse(params)
    assert event.ended_at == datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
    assert event.started_at == datetime(2026, 3, 2, 8, 56, 48, tzinfo=UTC)  # 192 s before


@pytest.mark.parametrize(
    ("call_status", "event_name", "state"),
    [
        ("ringing", "Ring", CallState.RINGING),
        ("in-progress", "StartApp", CallState.ANSWERED),
    ],
)
def test_live_states_are_progress(call_status: str, event_name: str, state: CallState) -> None:
    params = {
        "CallUUID": "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36",
        "CallStatus": call_status,
        "Direction": "inbound",
        "Event": event_name,
        "From": "14155552671",
        "To": "12125550143",
    }
    (event,) = parse(params)
    assert isinstance(event, CallProgress)
    assert event.state is state
    assert event.at == datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


def test_dial_answer_names_the_agent() -> None:
    params = {
        "CallUUID": "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36",
        "CallStatus": "in-progress",
        "Direction": "inbound",
        "Event": "DialAnswer",
        "DialBLegTo": "sip:bob456@phone.plivo.com",
        "DialBLegUUID": "1c3a-b-leg",
        "From": "14155552671",
        "To": "12125550143",
    }
    (event,) = parse(params)
    assert event.state is CallState.ANSWERED
    assert event.agent == "bob456"


@pytest.mark.parametrize(
    "params",
    [
        {"CallUUID": "x", "Event": "DialHangup", "CallStatus": "completed", "Direction": "inbound"},
        {"CallUUID": "x", "Event": "Redirect", "CallStatus": "something-new"},
        {"CallUUID": "x", "CallStatus": "ringing"},  # no Direction on a live state
        {"RecordUrl": "https://media.plivo.com/x.mp3"},
    ],
    ids=["dial-hangup", "unknown-status", "no-direction-progress", "record-callback"],
)
def test_ignored_callbacks(params: dict[str, str]) -> None:
    assert parse(params) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({**HANGUP, "CallUUID": ""}, "CallUUID"),
        ({**HANGUP, "Direction": "sideways"}, "Direction"),
        ({**HANGUP, "StartTime": "02/03/2026 09:00"}, "StartTime"),
        ({**HANGUP, "EndTime": "2026-02-30 09:00:00"}, "EndTime"),
        ({k: v for k, v in HANGUP.items() if k != "StartTime"} | {"Duration": "-3"}, "Duration"),
    ],
)
def test_invalid_final_callbacks_name_the_field(params: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidPayload) as info:
        parse(params)
    assert info.value.field == field


@pytest.mark.parametrize("caller", ["anonymous", "Restricted", ""])
def test_withheld_caller(caller: str) -> None:
    (event,) = parse({**HANGUP, "From": caller, "CallStatus": "no-answer"})
    assert event.from_.kind is NumberKind.WITHHELD
    assert event.counterpart is None


def test_get_callback_reads_the_query() -> None:
    request = WebhookRequest(
        method="GET", url=URL + "?" + urlencode(HANGUP), headers={}, query=list(HANGUP.items())
    )
    (event,) = plivo.parse(request, ctx(), US)
    assert isinstance(event, CallRecorded)
    assert event.status is CallStatus.ANSWERED


def test_raw_keeps_repeated_keys_as_lists() -> None:
    (event,) = plivo.parse(form_request([*HANGUP.items(), ("Tag", "a"), ("Tag", "b")]), ctx(), US)
    assert event.raw["Tag"] == ["a", "b"]
    assert event.raw["CallUUID"] == HANGUP["CallUUID"]
