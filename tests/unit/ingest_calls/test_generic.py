"""The generic webhook format: HMAC signature and the call-record mapping."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from ingest_calls.domain import generic
from ingest_calls.domain.calls import event_id
from ingest_calls.domain.errors import AuthenticationFailed, InvalidPayload
from ingest_calls.domain.request import Context, WebhookRequest
from switchboard_shared.cloudevents import deterministic_id
from switchboard_shared.events import CallDirection, CallRecorded, CallStatus
from switchboard_shared.phone import NumberKind, PhonePolicy

SECRET = "s" * 32
OLD_SECRET = "o" * 32
NOW = 1_772_442_000.0  # 2026-03-02T09:00:00Z
TS = str(int(NOW))
WINDOW = 300
BODY = b'{"id":"c-1","direction":"inbound","status":"answered"}'
US = PhonePolicy(default_region="US")


def request(h: dict[str, str], body: bytes) -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        url="https://switchboard.example/webhooks/generic",
        headers=h,
        body=body,
        content_type="application/json",
    )


def check(h: dict[str, str], body: bytes, secret: str = SECRET) -> None:
    """generic.verify with the clock fixed at NOW."""
    ctx = Context(secret=secret, region="US", replay_window_s=WINDOW, now=NOW)
    generic.verify(request(h, body), ctx)


def headers(timestamp: str = TS, signature: str | None = None) -> dict[str, str]:
    sig = generic.sign(SECRET, timestamp, BODY) if signature is None else signature
    return {"x-switchboard-timestamp": timestamp, "x-switchboard-signature": sig}


# --- sign / verify ---------------------------------------------------------------------------


def test_sign_is_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), TS.encode() + b"." + BODY, hashlib.sha256).hexdigest()
    assert generic.sign(SECRET, TS, BODY) == f"sha256={expected}"


def test_verify_valid() -> None:
    check(headers(), BODY, SECRET)


def test_verify_tolerates_whitespace_around_header_values() -> None:
    h = headers()
    check({k: f"  {v} " for k, v in h.items()}, BODY, SECRET)


def test_verify_wrong_secret() -> None:
    with pytest.raises(AuthenticationFailed, match="does not match"):
        check(headers(), BODY, "w" * 32)


def test_verify_body_tampering() -> None:
    tampered = BODY.replace(b"answered", b"no_answer")
    with pytest.raises(AuthenticationFailed, match="does not match"):
        check(headers(), tampered, SECRET)


def test_verify_timestamp_is_part_of_the_signature() -> None:
    other = str(int(NOW) - 10)
    h = headers(timestamp=other, signature=generic.sign(SECRET, TS, BODY))
    with pytest.raises(AuthenticationFailed, match="does not match"):
        check(h, BODY, SECRET)


@pytest.mark.parametrize(
    "h",
    [
        {},
        {"x-switchboard-timestamp": TS},
        {"x-switchboard-signature": "sha256=00"},
        {"x-switchboard-timestamp": "", "x-switchboard-signature": "sha256=00"},
        {"x-switchboard-timestamp": TS, "x-switchboard-signature": "   "},
    ],
    ids=["none", "no-signature", "no-timestamp", "empty-timestamp", "blank-signature"],
)
def test_verify_missing_headers(h: dict[str, str]) -> None:
    with pytest.raises(AuthenticationFailed, match="missing"):
        check(h, BODY, SECRET)


@pytest.mark.parametrize("timestamp", ["yesterday", "1772442000.5", "2026-03-02T09:00:00Z", "0x10"])
def test_verify_non_numeric_timestamp(timestamp: str) -> None:
    h = headers(timestamp=timestamp, signature=generic.sign(SECRET, timestamp, BODY))
    with pytest.raises(AuthenticationFailed, match="not unix seconds"):
        check(h, BODY, SECRET)


@pytest.mark.parametrize("offset", [-WINDOW - 1, WINDOW + 1, -86_400, 86_400])
def test_verify_outside_replay_window(offset: int) -> None:
    sent = str(int(NOW) + offset)
    h = headers(timestamp=sent, signature=generic.sign(SECRET, sent, BODY))
    with pytest.raises(AuthenticationFailed, match="replay window"):
        check(h, BODY, SECRET)


@pytest.mark.parametrize("offset", [-WINDOW, WINDOW, 0, -1])
def test_verify_inside_replay_window(offset: int) -> None:
    sent = str(int(NOW) + offset)
    h = headers(timestamp=sent, signature=generic.sign(SECRET, sent, BODY))
    check(h, BODY, SECRET)


@pytest.mark.parametrize(
    "signatures",
    [
        lambda: f"{generic.sign(OLD_SECRET, TS, BODY)},{generic.sign(SECRET, TS, BODY)}",
        lambda: f"{generic.sign(SECRET, TS, BODY)}, {generic.sign(OLD_SECRET, TS, BODY)}",
        lambda: f"sha256=deadbeef , {generic.sign(SECRET, TS, BODY)}",
    ],
    ids=["new-last", "new-first", "junk-then-new"],
)
def test_verify_accepts_any_of_several_signatures_during_rotation(signatures: Any) -> None:
    check(headers(signature=signatures()), BODY, SECRET)


def test_verify_several_signatures_none_matching() -> None:
    offered = f"{generic.sign(OLD_SECRET, TS, BODY)},sha256=deadbeef"
    with pytest.raises(AuthenticationFailed, match="does not match"):
        check(headers(signature=offered), BODY, SECRET)


def test_verify_bare_hex_without_scheme_is_refused() -> None:
    bare = generic.sign(SECRET, TS, BODY).removeprefix("sha256=")
    with pytest.raises(AuthenticationFailed):
        check(headers(signature=bare), BODY, SECRET)


# --- parse: errors ---------------------------------------------------------------------------


def call(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "c-1",
        "direction": "inbound",
        "status": "answered",
        "from": "+1 (415) 555-2671",
        "to": "101",
        "started_at": "2026-03-02T09:00:00Z",
        "answered_at": "2026-03-02T09:00:12Z",
        "ended_at": "2026-03-02T09:03:12Z",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def parse(body: bytes, policy: PhonePolicy = US, region: str = "US") -> list[CallRecorded]:
    ctx = Context(secret=SECRET, region=region, replay_window_s=WINDOW, now=NOW)
    events = generic.parse(request({}, body), ctx, policy)
    assert all(isinstance(e, CallRecorded) for e in events)
    return [e for e in events if isinstance(e, CallRecorded)]


def parse_json(document: Any, policy: PhonePolicy = US, region: str = "US") -> list[CallRecorded]:
    return parse(json.dumps(document).encode(), policy, region)


def invalid(body: bytes) -> InvalidPayload:
    with pytest.raises(InvalidPayload) as info:
        parse(body)
    return info.value


@pytest.mark.parametrize(
    ("document", "field", "words"),
    [
        (call(started_at="2026-03-02T09:00:00"), "started_at", "timezone"),
        (call(ended_at="2026-03-02 09:03:12"), "ended_at", "timezone"),
        ([call(), call(answered_at="2026-03-02T09:00:12")], "[1].answered_at", "timezone"),
        (call(direction="sideways"), "direction", "inbound"),
        (call(status="exploded"), "status", "no_answer"),
        ([call(status="ringing")], "[0].status", "answered"),
        (call(id=None), "id", "required"),
        (call(id=""), "id", "at least 1"),
        (call(started_at=None), "started_at", "required"),
        (call(ring_s=-1), "ring_s", "greater than or equal to 0"),
        (call(region="DEU"), "region", "at most 2"),
    ],
)
def test_parse_invalid_field_is_named(document: Any, field: str, words: str) -> None:
    error = invalid(json.dumps(document).encode())
    assert error.field == field
    assert error.detail.startswith(f"{field}: ")
    assert words in error.detail


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (
            {"ended_at": "2026-03-02T08:59:59Z", "answered_at": None},
            "ended_at is before started_at",
        ),
        ({"answered_at": "2026-03-02T08:59:00Z"}, "answered_at is before started_at"),
    ],
)
def test_parse_timestamps_out_of_order(overrides: dict[str, Any], words: str) -> None:
    error = invalid(json.dumps(call(**overrides)).encode())
    assert words in error.detail
    assert error.field is not None


def test_parse_timestamps_out_of_order_names_the_field() -> None:
    error = invalid(json.dumps(call(ended_at="2026-03-02T08:59:59Z", answered_at=None)).encode())
    assert error.field == "ended_at"


@pytest.mark.parametrize("body", [b"not json", b'{"id": ', b"\xff\xfe{}", b""])
def test_parse_not_json(body: bytes) -> None:
    error = invalid(body)
    assert error.field == "body"
    assert error.detail.startswith("body is not JSON")


def test_parse_empty_list() -> None:
    error = invalid(b"[]")
    assert error.field == "body"
    assert error.detail == "empty list of calls"


@pytest.mark.parametrize(
    ("body", "field"),
    [(b"[1]", "[0]"), (b"[[]]", "[0]"), (b'"c-1"', "body"), (b"null", "body"), (b"7", "body")],
)
def test_parse_non_object_item(body: bytes, field: str) -> None:
    error = invalid(body)
    assert error.detail == "a call must be a JSON object"
    assert error.field == field


def test_parse_non_object_item_after_a_valid_one() -> None:
    error = invalid(json.dumps([call(), 42]).encode())
    assert error.field == "[1]"
    assert error.detail == "a call must be a JSON object"


def test_parse_over_500_calls() -> None:
    calls = [call(id=f"c-{i}") for i in range(generic.MAX_CALLS_PER_REQUEST + 1)]
    error = invalid(json.dumps(calls).encode())
    assert error.detail == "more than 500 calls in one request"


def test_parse_exactly_500_calls() -> None:
    calls = [call(id=f"c-{i}") for i in range(generic.MAX_CALLS_PER_REQUEST)]
    events = parse_json(calls)
    assert len(events) == 500
    assert events[-1].call_id == "generic:c-499"


def test_parse_unknown_region_is_invalid_payload() -> None:
    error = invalid(json.dumps(call(region="XX")).encode())
    assert error.field == "region"


# --- parse: mapping --------------------------------------------------------------------------


def test_parse_one_object() -> None:
    (event,) = parse_json(call(agent="101", hangup_cause="NORMAL_CLEARING"))
    assert event.call_id == "generic:c-1"
    assert event.provider == "generic"
    assert event.direction is CallDirection.INBOUND
    assert event.status is CallStatus.ANSWERED
    assert event.started_at == datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
    assert event.answered_at == datetime(2026, 3, 2, 9, 0, 12, tzinfo=UTC)
    assert event.ended_at == datetime(2026, 3, 2, 9, 3, 12, tzinfo=UTC)
    assert event.ring_s == 12.0
    assert event.talk_s == 180.0
    assert event.from_.raw == "+1 (415) 555-2671"
    assert event.from_.e164 == "+14155552671"
    assert event.from_.kind is NumberKind.EXTERNAL
    assert event.to.kind is NumberKind.INTERNAL
    assert event.to.extension == "101"
    assert event.counterpart == "+14155552671"
    assert event.agent == "101"
    assert event.hangup_cause == "NORMAL_CLEARING"


def test_parse_a_list_keeps_order() -> None:
    events = parse_json([call(id="a"), call(id="b", status="busy"), call(id="c")])
    assert [e.call_id for e in events] == ["generic:a", "generic:b", "generic:c"]
    assert events[1].status is CallStatus.BUSY


@pytest.mark.parametrize(
    ("direction", "caller", "callee", "counterpart"),
    [
        ("inbound", "+1 415 555 2671", "101", "+14155552671"),
        ("outbound", "101", "(212) 555-0143", "+12125550143"),
        ("outbound", "+1 415 555 2671", "+1 212 555 0143", "+12125550143"),
        ("internal", "101", "102", None),
        ("internal", "+1 415 555 2671", "+1 212 555 0143", None),
        ("inbound", "anonymous", "101", None),
        ("inbound", None, "101", None),
        ("inbound", "Restricted", "+1 415 555 2671", None),
        ("outbound", "101", "anonymous", None),
    ],
)
def test_counterpart(
    direction: str, caller: str | None, callee: str, counterpart: str | None
) -> None:
    (event,) = parse_json(call(direction=direction, **{"from": caller, "to": callee}))
    assert event.counterpart == counterpart


def test_withheld_caller_kind() -> None:
    (event,) = parse_json(call(**{"from": "anonymous", "status": "no_answer"}))
    assert event.from_.kind is NumberKind.WITHHELD
    assert event.from_.raw == "anonymous"


@pytest.mark.parametrize(
    ("overrides", "ring_s", "talk_s"),
    [
        ({}, 12.0, 180.0),
        (
            {"status": "no_answer", "answered_at": None, "ended_at": "2026-03-02T09:00:25.5Z"},
            25.5,
            0.0,
        ),
        ({"ring_s": 3, "talk_s": 60}, 3.0, 60.0),
        ({"ring_s": 0}, 0.0, 180.0),
        ({"status": "no_answer", "answered_at": None, "ended_at": None}, None, 0.0),
    ],
    ids=["derived", "unanswered", "given", "given-zero", "no-end"],
)
def test_durations(overrides: dict[str, Any], ring_s: float | None, talk_s: float) -> None:
    document = call()
    document.update(overrides)
    (event,) = parse_json({k: v for k, v in document.items() if v is not None})
    assert event.ring_s == ring_s
    assert event.talk_s == talk_s


def test_timestamps_converted_to_utc() -> None:
    (event,) = parse_json(
        call(
            started_at="2026-03-02T10:00:00+01:00",
            answered_at="2026-03-02T04:00:05-05:00",
            ended_at="2026-03-02T18:01:05+09:00",
        )
    )
    assert event.started_at == datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
    assert event.started_at.utcoffset() is not None
    assert event.started_at.tzinfo is UTC
    assert event.answered_at is not None
    assert event.answered_at.tzinfo is UTC
    assert event.answered_at.hour == 9
    assert event.ended_at == datetime(2026, 3, 2, 9, 1, 5, tzinfo=UTC)
    assert event.ring_s == 5.0
    assert event.talk_s == 60.0


def test_raw_is_the_unmodified_item() -> None:
    item = call(agent="  101  ", crm_ref="X-9", tags=["vip"])
    (event,) = parse_json(item)
    assert event.raw == item
    assert event.agent == "101"


def test_region_override_reads_a_national_number_in_that_region() -> None:
    (de,) = parse_json(call(**{"from": "030 1234567", "region": "de"}))
    assert de.from_.e164 == "+49301234567"
    assert de.counterpart == "+49301234567"
    (default,) = parse_json(call(**{"from": "(415) 555-2671"}))
    assert default.from_.e164 == "+14155552671"


def test_region_default_comes_from_the_endpoint_context() -> None:
    (event,) = parse_json(call(**{"from": "030 1234567"}), region="DE")
    assert event.counterpart == "+49301234567"
    (us,) = parse_json(call(**{"from": "(415) 555-2671", "region": "US"}), region="DE")
    assert us.counterpart == "+14155552671"


def test_policy_internal_ranges_apply() -> None:
    policy = PhonePolicy(default_region="US", internal_ranges=((200, 299),))
    (event,) = parse_json(call(to="250", **{"from": "+14155552671"}), policy)
    assert event.to.kind is NumberKind.INTERNAL
    (outside,) = parse_json(call(to="101", **{"from": "+14155552671"}), policy)
    assert outside.to.kind is NumberKind.INVALID


# --- event id --------------------------------------------------------------------------------


def test_event_id_is_stable_per_call_and_status() -> None:
    (event,) = parse_json(call())
    first = event_id(event)
    assert first == deterministic_id("calls.recorded.v1", "generic:c-1", "answered")
    assert uuid.UUID(first).version == 5
    (again,) = parse_json(call())
    assert event_id(again) == first


def test_a_retry_with_other_details_gets_the_same_event_id() -> None:
    (a,) = parse_json(call())
    (b,) = parse_json(call(agent="102", hangup_cause="NORMAL_CLEARING"))
    assert event_id(a) == event_id(b)


@pytest.mark.parametrize(
    "overrides",
    [{"id": "c-2"}, {"status": "voicemail"}, {"status": "no_answer", "answered_at": None}],
    ids=["other-call", "other-status", "other-status-unanswered"],
)
def test_event_id_differs_for_another_call_or_status(overrides: dict[str, Any]) -> None:
    (a,) = parse_json(call())
    document = call()
    document.update(overrides)
    (b,) = parse_json({k: v for k, v in document.items() if v is not None})
    assert event_id(a) != event_id(b)
