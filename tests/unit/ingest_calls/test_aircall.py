"""Aircall: the body token and the call.* event mapping."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from ingest_calls.domain import aircall
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

URL = "https://calls.example.com/webhooks/aircall"
TOKEN = "58ffd2bc5f3113f7bebf210a49299a1b"  # reference §8, the real payload's token
NOW = 1_646_389_800.0
AT = PhonePolicy(default_region="AT")
VOICEMAIL = (
    "https://production-pdx-555773567328-web.s3.us-west-2.amazonaws.com/companies/196488/"
    "recordings/call-780836754-voicemail.mp3?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=600"
)

# Reference §8: a real call.ended (missed, voicemail left), shortened where it says "…".
MISSED: dict[str, Any] = {
    "resource": "call",
    "event": "call.ended",
    "timestamp": 1646389786,
    "token": TOKEN,
    "data": {
        "id": 780836754,
        "direct_link": "https://api.aircall.io/v1/calls/780836754",
        "direction": "inbound",
        "status": "done",
        "missed_call_reason": "agents_did_not_answer",
        "started_at": 1646389739,
        "answered_at": None,
        "ended_at": 1646389756,
        "duration": 17,
        "cost": "0.0",
        "hangup_cause": None,
        "voicemail": VOICEMAIL,
        "recording": None,
        "asset": "https://assets.aircall.io/calls/780836754/voicemail",
        "raw_digits": "+44 330 818 6690",
        "number": {
            "id": 397375,
            "name": "Koens Product number",
            "digits": "+43 720 880079",
            "country": "AT",
            "time_zone": "Europe/Vienna",
        },
        "user": None,
        "archived": False,
        "teams": [],
        "comments": [],
        "tags": [],
    },
}


def answered_outbound() -> dict[str, Any]:
    document = copy.deepcopy(MISSED)
    document["data"].update(
        {
            "id": 780836733,
            "direction": "outbound",
            "missed_call_reason": None,
            "started_at": 1646389735,
            "answered_at": 1646389740,
            "ended_at": 1646389755,
            "duration": 20,
            "voicemail": None,
            "recording": "https://production-pdx.s3.amazonaws.com/rec.mp3?X-Amz-Expires=600",
            "asset": "https://assets.aircall.io/calls/780836733/recording",
            "user": {"id": 736640, "name": "Koen Agent", "email": "koen@example.com"},
        }
    )
    return document


def ctx(secret: str = TOKEN) -> Context:
    return Context(secret=secret, region="AT", now=NOW)


def request(document: Any) -> WebhookRequest:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return WebhookRequest(
        method="POST", url=URL, headers={}, body=body, content_type="application/json"
    )


def parse(document: Any) -> list[Any]:
    return aircall.parse(request(document), ctx(), AT)


# --- verify ----------------------------------------------------------------------------------


def test_token_matches() -> None:
    aircall.verify(request(MISSED), ctx())


def test_wrong_token_is_refused() -> None:
    with pytest.raises(AuthenticationFailed, match="does not match"):
        aircall.verify(request({**MISSED, "token": TOKEN[:-1] + "c"}), ctx())


@pytest.mark.parametrize(
    "document",
    [
        {k: v for k, v in MISSED.items() if k != "token"},
        {**MISSED, "token": ""},
        {**MISSED, "token": 58},
        {**MISSED, "token": [TOKEN]},
        [MISSED],
        b"token=" + TOKEN.encode(),
        b"\xff\xfe",
    ],
    ids=["absent", "empty", "number", "list", "not-object", "form", "not-utf8"],
)
def test_missing_token(document: Any) -> None:
    with pytest.raises(AuthenticationFailed):
        aircall.verify(request(document), ctx())


def test_token_in_a_header_is_not_enough() -> None:
    body = json.dumps({k: v for k, v in MISSED.items() if k != "token"}).encode()
    with_header = WebhookRequest(method="POST", url=URL, headers={"token": TOKEN}, body=body)
    with pytest.raises(AuthenticationFailed, match="missing token"):
        aircall.verify(with_header, ctx())


def test_non_ascii_token_is_refused_not_crashed() -> None:
    # The lone surrogate makes the body unusable JSON; either way: 401, not a crash.
    with pytest.raises(AuthenticationFailed):
        aircall.verify(request({**MISSED, "token": "токен\udcff"}), ctx())


# --- parse -----------------------------------------------------------------------------------


def test_missed_call_with_voicemail() -> None:
    (event,) = parse(MISSED)
    assert isinstance(event, CallRecorded)
    assert event.call_id == "aircall:780836754"
    assert event.direction is CallDirection.INBOUND
    assert event.status is CallStatus.VOICEMAIL
    assert event.started_at == datetime(2022, 3, 4, 10, 28, 59, tzinfo=UTC)
    assert event.ended_at == datetime(2022, 3, 4, 10, 29, 16, tzinfo=UTC)
    assert event.answered_at is None
    # The voicemail took the call at an unknown moment: the split is unknown.
    assert event.ring_s is None
    assert event.talk_s is None
    assert event.from_.e164 == "+443308186690"
    assert event.to.e164 == "+43720880079"
    assert event.counterpart == "+443308186690"
    assert event.recording_url == "https://assets.aircall.io/calls/780836754/voicemail"
    assert event.hangup_cause == "agents_did_not_answer"
    assert event.agent is None
    assert event.raw == MISSED


def test_answered_outbound_call() -> None:
    (event,) = parse(answered_outbound())
    assert event.direction is CallDirection.OUTBOUND
    assert event.status is CallStatus.ANSWERED
    assert event.ring_s == 5.0
    assert event.talk_s == 15.0
    assert event.agent == "koen@example.com"
    assert event.from_.e164 == "+43720880079"
    assert event.counterpart == "+443308186690"
    assert event.recording_url == "https://assets.aircall.io/calls/780836733/recording"


def missed(
    reason: str | None, direction: str = "inbound", voicemail: str | None = None
) -> dict[str, Any]:
    document = copy.deepcopy(MISSED)
    document["data"].update(
        {"missed_call_reason": reason, "direction": direction, "voicemail": voicemail}
    )
    return document


@pytest.mark.parametrize(
    ("reason", "status"),
    [
        ("short_abandoned", CallStatus.CANCELED),
        ("abandoned_in_ivr", CallStatus.CANCELED),
        ("abandoned_in_classic", CallStatus.CANCELED),
        ("out_of_opening_hours", CallStatus.NO_ANSWER),
        ("no_available_agent", CallStatus.NO_ANSWER),
        ("agents_did_not_answer", CallStatus.NO_ANSWER),
        ("a_new_reason", CallStatus.NO_ANSWER),
        (None, CallStatus.NO_ANSWER),
    ],
)
def test_missed_reason_mapping(reason: str | None, status: CallStatus) -> None:
    (event,) = parse(missed(reason))
    assert event.status is status
    assert event.recording_url is None


def test_voicemail_wins_over_the_reason() -> None:
    (event,) = parse(missed("out_of_opening_hours", voicemail=VOICEMAIL))
    assert event.status is CallStatus.VOICEMAIL


def test_unanswered_outbound_is_no_answer_with_the_dialling_agent() -> None:
    document = missed(None, direction="outbound")
    document["data"]["user"] = {"id": 736640, "name": "Koen Agent"}
    (event,) = parse(document)
    assert event.status is CallStatus.NO_ANSWER
    assert event.agent == "736640"
    assert event.counterpart == "+443308186690"


def test_answered_at_with_a_missed_reason_is_not_answered() -> None:
    document = missed("short_abandoned")
    document["data"]["answered_at"] = 1646389745
    (event,) = parse(document)
    assert event.status is CallStatus.CANCELED
    assert event.answered_at is None


@pytest.mark.parametrize(
    ("event_name", "state"),
    [
        ("call.created", CallState.INITIATED),
        ("call.ringing_on_agent", CallState.RINGING),
        ("call.answered", CallState.ANSWERED),
    ],
)
def test_live_events_are_progress(event_name: str, state: CallState) -> None:
    document = answered_outbound()
    document["event"] = event_name
    document["data"]["direction"] = "inbound"
    (event,) = parse(document)
    assert isinstance(event, CallProgress)
    assert event.state is state
    assert event.agent == "koen@example.com"
    assert event.call_id == "aircall:780836733"
    assert event.counterpart == "+443308186690"
    expected_at = 1646389735 if event_name == "call.created" else 1646389786
    assert event.at == datetime.fromtimestamp(expected_at, UTC)


@pytest.mark.parametrize(
    "event_name",
    ["call.hungup", "call.tagged", "call.commented", "call.transferred", "call.voicemail_left"],
)
def test_other_call_events_are_ignored(event_name: str) -> None:
    assert parse({**MISSED, "event": event_name}) == []


def test_other_resources_are_ignored() -> None:
    assert parse({**MISSED, "resource": "user", "event": "user.opened"}) == []


@pytest.mark.parametrize("caller", ["anonymous", "", None])
def test_withheld_caller(caller: str | None) -> None:
    document = missed("short_abandoned")
    document["data"]["raw_digits"] = caller
    (event,) = parse(document)
    assert event.from_.kind is NumberKind.WITHHELD
    assert event.counterpart is None


def test_number_and_user_may_be_absent() -> None:
    document = missed(None)
    document["data"]["number"] = None
    document["data"].pop("user")
    (event,) = parse(document)
    assert event.to.kind is NumberKind.WITHHELD  # nothing known about our line
    assert event.agent is None


def test_string_ids_are_kept() -> None:
    document = copy.deepcopy(MISSED)
    document["data"]["id"] = "780836754"
    assert parse(document)[0].call_id == "aircall:780836754"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": None}, "data.id"),
        ({"id": True}, "data.id"),
        ({"id": ""}, "data.id"),
        ({"direction": "sideways"}, "data.direction"),
        ({"started_at": None}, "data.started_at"),
        ({"started_at": "2022-03-04T10:28:59Z"}, "data.started_at"),
        ({"ended_at": 10**20}, "data.ended_at"),
        ({"answered_at": True}, "data.answered_at"),
    ],
)
def test_invalid_ended_events_name_the_field(change: dict[str, Any], field: str) -> None:
    document = copy.deepcopy(MISSED)
    document["data"].update(change)
    with pytest.raises(InvalidPayload) as info:
        parse(document)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("document", "field"),
    [([MISSED], "body"), ({**MISSED, "data": [1]}, "data"), (b"{", "body")],
)
def test_invalid_bodies(document: Any, field: str) -> None:
    with pytest.raises(InvalidPayload) as info:
        parse(document)
    assert info.value.field == field


def test_end_before_start_is_clamped() -> None:
    document = missed(None)
    document["data"]["ended_at"] = 1646389700
    (event,) = parse(document)
    assert event.ended_at == event.started_at
