"""Zadarma PBX notifications: the Signature header, the zd_echo check and the mapping."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest

from ingest_calls.domain import zadarma
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

SECRET = "my_api_secret"
URL = "https://calls.example.com/webhooks/zadarma"
NOW = 1_772_442_000.0  # 2026-03-02T09:00:00Z
RU = PhonePolicy(default_region="RU")

# Reference §7.2 / T11: computed example (Zadarma publishes no vector), verbatim.
REF_SIGNED = "+79161234567+784300000012026-06-30 11:59:00"
REF_SIGNATURE = "MWUxYjY2Zjk5NzhmYjMxMGE1YWY0ZmIwNzFiYTM1NzIyNjI3NWMyZA=="
REF_RAW_DIGEST_SIGNATURE = "Hhtm+ZePsxClr0+wcbo1ciYnXC0="  # the wrong (raw digest) variant
REF_START = {
    "event": "NOTIFY_START",
    "call_start": "2026-06-30 11:59:00",
    "pbx_call_id": "in_171983.123",
    "caller_id": "+79161234567",
    "called_did": "+78430000001",
}


# The reference example's call started at 2026-06-30 11:59:00 (read as UTC): verified then.
REF_NOW = datetime(2026, 6, 30, 11, 59, 30, tzinfo=UTC).timestamp()


def ctx(options: dict[str, str] | None = None, region: str = "RU", now: float = NOW) -> Context:
    return Context(secret=SECRET, region=region, now=now, options=options or {})


def request(
    fields: dict[str, str], signature: str | None = None, secret: str = SECRET
) -> WebhookRequest:
    if signature is None:
        signed = zadarma.signed_string(fields)
        assert signed is not None
        signature = zadarma.signature(secret, signed)
    return WebhookRequest(
        method="POST",
        url=URL,
        headers={"signature": signature},
        body=urlencode(fields).encode(),
        content_type="application/x-www-form-urlencoded",
    )


# --- the reference example -------------------------------------------------------------------


def test_reference_example_signature() -> None:
    assert zadarma.signature(SECRET, REF_SIGNED) == REF_SIGNATURE
    assert zadarma.signed_string(REF_START) == REF_SIGNED


def test_reference_example_verifies() -> None:
    zadarma.verify(request(REF_START, REF_SIGNATURE), ctx(now=REF_NOW))


def test_reference_raw_digest_variant_is_refused() -> None:
    with pytest.raises(AuthenticationFailed, match="does not match"):
        zadarma.verify(request(REF_START, REF_RAW_DIGEST_SIGNATURE), ctx(now=REF_NOW))


def test_docs_example_end_event_signs_the_same_fields() -> None:
    # Docs: base64_encode(hash_hmac('sha1', caller_id . called_did . call_start, API_SECRET))
    end = {**REF_START, "event": "NOTIFY_END", "disposition": "answered", "duration": "42"}
    zadarma.verify(request(end, REF_SIGNATURE), ctx(now=REF_NOW))


# --- zd_echo ---------------------------------------------------------------------------------


def get(query: list[tuple[str, str]], method: str = "GET") -> WebhookRequest:
    return WebhookRequest(method=method, url=f"{URL}?{urlencode(query)}", headers={}, query=query)


def test_echo_returns_the_value() -> None:
    assert zadarma.echo(get([("zd_echo", "d9b1a7c4e2f3")])) == "d9b1a7c4e2f3"


@pytest.mark.parametrize(
    "query",
    [
        [],
        [("other", "x")],
        [("zd_echo", "")],
        [("zd_echo", "<script>alert(1)</script>")],
        [("zd_echo", "a b")],
        [("zd_echo", "x" * 257)],
    ],
    ids=["none", "other", "empty", "markup", "space", "too-long"],
)
def test_not_an_echo_check(query: list[tuple[str, str]]) -> None:
    assert zadarma.echo(get(query)) is None


def test_echo_only_answers_get() -> None:
    assert zadarma.echo(get([("zd_echo", "abc")], method="POST")) is None


# --- verify ----------------------------------------------------------------------------------

START = {
    "event": "NOTIFY_START",
    "call_start": "2026-03-02 12:00:00",
    "pbx_call_id": "in_9f2c0e7a1b",
    "caller_id": "+79161234567",
    "called_did": "+78430000001",
}
END = {
    **START,
    "event": "NOTIFY_END",
    "internal": "101",
    "duration": "185",
    "disposition": "answered",
    "status_code": "16",
    "is_recorded": "1",
    "call_id_with_rec": "1772442000.4321",
}
OUT_END = {
    "event": "NOTIFY_OUT_END",
    "call_start": "2026-03-02 12:10:00",
    "pbx_call_id": "out_5d1e8a2c",
    "caller_id": "+78430000001",
    "destination": "+79261234567",
    "internal": "102",
    "duration": "0",
    "disposition": "no answer",
    "status_code": "19",
    "is_recorded": "0",
    "call_id_with_rec": "",
}


@pytest.mark.parametrize(
    ("fields", "signed"),
    [
        (START, "+79161234567+784300000012026-03-02 12:00:00"),
        ({**START, "event": "NOTIFY_INTERNAL", "internal": "101"}, None),
        ({**START, "event": "NOTIFY_IVR"}, None),
        (END, "+79161234567+784300000012026-03-02 12:00:00"),
        (
            {**START, "event": "NOTIFY_ANSWER", "destination": "101", "internal": "101"},
            "+79161234567101" + "2026-03-02 12:00:00",
        ),
        (
            {
                "event": "NOTIFY_OUT_START",
                "call_start": "2026-03-02 12:10:00",
                "pbx_call_id": "out_5d1e8a2c",
                "internal": "102",
                "destination": "+79261234567",
            },
            "102+792612345672026-03-02 12:10:00",
        ),
        (OUT_END, "102+792612345672026-03-02 12:10:00"),
        (
            {
                "event": "NOTIFY_RECORD",
                "pbx_call_id": "in_9f2c0e7a1b",
                "call_id_with_rec": "1772442000.4321",
            },
            "in_9f2c0e7a1b1772442000.4321",
        ),
    ],
)
def test_each_event_signs_its_fields(fields: dict[str, str], signed: str | None) -> None:
    if signed is not None:
        assert zadarma.signed_string(fields) == signed
    zadarma.verify(request(fields), ctx())


@pytest.mark.parametrize("field", ["caller_id", "called_did", "call_start"])
def test_tampered_signed_field_is_refused(field: str) -> None:
    good = request(END)
    tampered = request({**END, field: END[field] + "9"}, good.headers["signature"])
    with pytest.raises(AuthenticationFailed, match="does not match"):
        zadarma.verify(tampered, ctx())


def test_unsigned_fields_are_not_covered() -> None:
    # Zadarma's scheme, not ours: disposition and duration are outside the signature.
    good = request(END)
    changed = request({**END, "disposition": "busy"}, good.headers["signature"])
    zadarma.verify(changed, ctx())


def test_wrong_secret_is_refused() -> None:
    with pytest.raises(AuthenticationFailed, match="does not match"):
        zadarma.verify(request(END, secret="another-secret"), ctx())


def test_missing_signature() -> None:
    with pytest.raises(AuthenticationFailed, match="missing"):
        zadarma.verify(request(END, signature="  "), ctx())


@pytest.mark.parametrize(
    "fields", [{"event": "SMS", "result": "x"}, {"caller_id": "+7916"}, {"event": "NOTIFY_X"}]
)
def test_unknown_event_cannot_be_verified(fields: dict[str, str]) -> None:
    with pytest.raises(AuthenticationFailed, match="no known signature"):
        zadarma.verify(request(fields, signature="c2ln"), ctx())


def test_non_utf8_body_is_refused() -> None:
    bad = WebhookRequest(method="POST", url=URL, headers={"signature": "c2ln"}, body=b"event=\xff")
    with pytest.raises(AuthenticationFailed, match="not a form"):
        zadarma.verify(bad, ctx())


def test_non_ascii_signature_is_refused_not_crashed() -> None:
    with pytest.raises(AuthenticationFailed, match="does not match"):
        zadarma.verify(request(END, signature="ключ"), ctx())


def test_repeated_keys_verify_and_parse_the_same_value() -> None:
    pairs = [*END.items(), ("caller_id", "+79990000000")]  # PHP keeps the last value
    body = urlencode(pairs).encode()
    signed = "+79990000000+784300000012026-03-02 12:00:00"
    forged = WebhookRequest(
        method="POST", url=URL, headers={"signature": zadarma.signature(SECRET, signed)}, body=body
    )
    zadarma.verify(forged, ctx())
    (event,) = zadarma.parse(forged, ctx(), RU)
    assert event.from_.raw == "+79990000000"
    assert event.raw["caller_id"] == ["+79161234567", "+79990000000"]


# --- parse -----------------------------------------------------------------------------------


def parse(
    fields: dict[str, str], options: dict[str, str] | None = None, region: str = "RU"
) -> list[Any]:
    return zadarma.parse(request(fields), ctx(options, region), RU)


def test_answered_incoming_call() -> None:
    (event,) = parse(END)
    assert isinstance(event, CallRecorded)
    assert event.call_id == "zadarma:in_9f2c0e7a1b"
    assert event.direction is CallDirection.INBOUND
    assert event.status is CallStatus.ANSWERED
    assert event.started_at == datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)
    assert event.answered_at is None
    assert event.ended_at is None
    assert event.talk_s == 185.0
    assert event.ring_s is None
    assert event.agent == "101"
    assert event.counterpart == "+79161234567"
    assert event.to.e164 == "+78430000001"
    assert event.hangup_cause == "16"
    assert event.recording_url is None
    assert event.raw == END


def test_unanswered_outgoing_call() -> None:
    (event,) = parse(OUT_END)
    assert event.call_id == "zadarma:out_5d1e8a2c"
    assert event.direction is CallDirection.OUTBOUND
    assert event.status is CallStatus.NO_ANSWER
    assert event.talk_s == 0.0
    assert event.agent == "102"
    assert event.counterpart == "+79261234567"


def test_outgoing_call_to_an_extension_is_internal() -> None:
    (event,) = parse({**OUT_END, "destination": "103", "disposition": "answered", "duration": "30"})
    assert event.direction is CallDirection.INTERNAL
    assert event.counterpart is None


def test_outgoing_without_caller_id_uses_the_extension() -> None:
    (event,) = parse({k: v for k, v in OUT_END.items() if k != "caller_id"})
    assert event.from_.raw == "102"
    assert event.from_.kind is NumberKind.INTERNAL


@pytest.mark.parametrize(("disposition", "status"), list(zadarma.DISPOSITIONS.items()))
def test_disposition_mapping(disposition: str, status: CallStatus) -> None:
    (event,) = parse({**END, "disposition": disposition})
    assert event.status is status
    if status is not CallStatus.ANSWERED:
        assert event.talk_s == 0.0


def test_every_documented_disposition_is_mapped() -> None:
    documented = (
        "'answered', 'busy', 'cancel', 'no answer', 'failed', 'no money', 'unallocated number', "
        "'no limit', 'no day limit', 'line limit', 'no money, no limit'"
    )
    assert set(zadarma.DISPOSITIONS) == {d.strip(" '") for d in documented.split("', '")}


def test_inbound_cancel_is_a_missed_call() -> None:
    (event,) = parse({**END, "disposition": "cancel", "duration": "0", "internal": ""})
    assert event.status is CallStatus.CANCELED
    assert event.agent is None
    assert event.counterpart == "+79161234567"


@pytest.mark.parametrize(
    ("fields", "state", "agent"),
    [
        (START, CallState.INITIATED, None),
        ({**START, "event": "NOTIFY_INTERNAL", "internal": "101"}, CallState.RINGING, "101"),
        (
            {**START, "event": "NOTIFY_ANSWER", "destination": "+78430000001", "internal": "101"},
            CallState.ANSWERED,
            "101",
        ),
    ],
)
def test_incoming_live_states(fields: dict[str, str], state: CallState, agent: str | None) -> None:
    (event,) = parse(fields)
    assert isinstance(event, CallProgress)
    assert event.state is state
    assert event.direction is CallDirection.INBOUND
    assert event.agent == agent
    assert event.at == datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
    assert event.call_id == "zadarma:in_9f2c0e7a1b"


def test_outgoing_start_is_progress() -> None:
    fields = {
        "event": "NOTIFY_OUT_START",
        "call_start": "2026-03-02 12:10:00",
        "pbx_call_id": "out_5d1e8a2c",
        "internal": "102",
        "destination": "+79261234567",
    }
    (event,) = parse(fields)
    assert event.state is CallState.INITIATED
    assert event.direction is CallDirection.OUTBOUND
    assert event.agent == "102"


def test_record_and_ivr_are_ignored() -> None:
    record = {"event": "NOTIFY_RECORD", "pbx_call_id": "in_1", "call_id_with_rec": "2"}
    assert parse(record) == []
    assert parse({**START, "event": "NOTIFY_IVR"}) == []


def test_timezone_option() -> None:
    (event,) = parse(END, options={"timezone": "Europe/Moscow"})
    assert event.started_at == datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


def test_unknown_timezone_option_is_invalid() -> None:
    with pytest.raises(InvalidPayload, match="time zone"):
        parse(END, options={"timezone": "Nowhere/Atlantis"})


def test_national_numbers_read_in_the_endpoint_region() -> None:
    (event,) = parse({**END, "caller_id": "0930063585", "called_did": "+380441234567"}, region="UA")
    assert event.counterpart == "+380930063585"


@pytest.mark.parametrize("caller", ["", "anonymous", "Unknown"])
def test_withheld_caller(caller: str) -> None:
    (event,) = parse({**END, "caller_id": caller, "disposition": "cancel"})
    assert event.from_.kind is NumberKind.WITHHELD
    assert event.counterpart is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({**END, "pbx_call_id": ""}, "pbx_call_id"),
        ({**END, "disposition": "exploded"}, "disposition"),
        ({**END, "call_start": "02.03.2026 12:00"}, "call_start"),
        ({**END, "call_start": "2026-02-30 12:00:00"}, "call_start"),
        ({**END, "duration": "1.5"}, "duration"),
    ],
)
def test_invalid_final_notifications_name_the_field(fields: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidPayload) as info:
        zadarma.parse(request(fields, signature="x"), ctx(), RU)
    assert info.value.field == field


# --- the age of call_start -------------------------------------------------------------------

MOSCOW = {"timezone": "Europe/Moscow"}  # START/END begin at 12:00 Moscow = NOW (09:00 UTC)
HOUR = 3_600.0


def end_after(seconds: float, duration: str = "185", options: dict[str, str] = MOSCOW) -> None:
    """Verify END (call_start = NOW) as if it arrived `seconds` after the call started."""
    zadarma.verify(request({**END, "duration": duration}), ctx(options, now=NOW + seconds))


def test_an_end_notification_arrives_after_the_call_and_is_accepted() -> None:
    end_after(185 + 40)  # at the end of a 185 s call, after 40 s of ringing
    end_after(185 + 3_000)  # a long wait in a queue


def test_a_long_call_is_allowed_its_duration() -> None:
    end_after(5 * HOUR + 60, duration=str(5 * 3_600))


def test_a_90_day_old_notification_is_refused() -> None:
    with pytest.raises(AuthenticationFailed, match="old"):
        end_after(90 * 24 * HOUR)


def test_an_unsigned_duration_cannot_stretch_the_window() -> None:
    """`duration` is not signed: a replay claiming a 90-day call is still refused."""
    with pytest.raises(AuthenticationFailed, match="old"):
        end_after(90 * 24 * HOUR, duration=str(90 * 86_400))
    with pytest.raises(AuthenticationFailed, match="old"):
        end_after(26 * HOUR, duration=str(26 * 3_600))  # beyond max_call_s (24 h) + 1 h
    end_after(26 * HOUR, duration=str(26 * 3_600), options={**MOSCOW, "max_call_s": "93600"})


def test_progress_events_come_while_the_call_happens() -> None:
    zadarma.verify(request(START), ctx(MOSCOW, now=NOW + 30))
    with pytest.raises(AuthenticationFailed, match="old"):
        zadarma.verify(request(START), ctx(MOSCOW, now=NOW + 2 * HOUR))
    zadarma.verify(request(START), ctx({**MOSCOW, "replay_window_s": "7200"}, now=NOW + 2 * HOUR))


def test_a_call_start_far_in_the_future_is_refused() -> None:
    with pytest.raises(AuthenticationFailed, match="future"):
        zadarma.verify(request(START), ctx(MOSCOW, now=NOW - 2 * HOUR))


def test_without_the_timezone_option_any_zone_is_allowed_for() -> None:
    """call_start is the account's local time: read as UTC it may be up to 14 h off."""
    zadarma.verify(request(START), ctx(now=NOW))  # Moscow's 12:00 read as 12:00 UTC
    zadarma.verify(request({**START, "call_start": "2026-03-01 22:00:00"}), ctx(now=NOW))
    with pytest.raises(AuthenticationFailed, match="old"):
        zadarma.verify(request({**START, "call_start": "2026-02-28 12:00:00"}), ctx(now=NOW))


def test_an_unreadable_call_start_is_left_to_parse() -> None:
    bad = {**END, "call_start": "2026-02-30 12:00:00"}
    zadarma.verify(request(bad), ctx(MOSCOW))  # the signature holds; parse refuses it (422)
    with pytest.raises(InvalidPayload):
        zadarma.parse(request(bad), ctx(MOSCOW), RU)
    record = {"event": "NOTIFY_RECORD", "pbx_call_id": "in_1", "call_id_with_rec": "2"}
    zadarma.verify(request(record), ctx(MOSCOW))  # no call_start; publishes nothing
