"""CloudEvents 1.0 Kafka binary binding: `switchboard_shared.cloudevents`."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchboard_shared.cloudevents import (
    CloudEventError,
    KafkaRecord,
    decode,
    decode_envelope,
    deterministic_id,
    encode,
)
from switchboard_shared.events import (
    CallDirection,
    CallRecorded,
    CallStatus,
    ContactPoint,
    IngestRejected,
)
from switchboard_shared.phone import NumberKind, PhonePolicy, normalise_phone
from switchboard_shared.topics import CALLS_RECORDED, CRM_CONTACT_POINTS, INGEST_REJECTED

DE = PhonePolicy(default_region="DE")
STARTED = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
EVENT_ID = deterministic_id("calls.recorded.v1", "generic:call-0001")
SOURCE = "switchboard/ingest-calls/generic"


def value_of(record: KafkaRecord) -> bytes:
    assert record.value is not None, "an event record always has a value"
    return record.value


def make_call() -> CallRecorded:
    caller = normalise_phone("030 1234567", DE)
    callee = normalise_phone("101", DE)
    assert caller.kind is NumberKind.EXTERNAL
    assert callee.kind is NumberKind.INTERNAL
    return CallRecorded(
        call_id="generic:call-0001",
        provider="generic",
        direction=CallDirection.INBOUND,
        status=CallStatus.ANSWERED,
        started_at=STARTED,
        answered_at=STARTED + timedelta(seconds=7),
        ended_at=STARTED + timedelta(seconds=187),
        ring_s=7.0,
        talk_s=180.0,
        from_=caller,
        to=callee,
        counterpart=caller.e164,
        agent="101",
        raw={"id": "call-0001", "from": "030 1234567", "to": "101"},
    )


def make_record(**overrides: Any) -> KafkaRecord:
    call = make_call()
    kwargs: dict[str, Any] = {
        "id": EVENT_ID,
        "source": SOURCE,
        "key": call.counterpart,
        "time": call.ended_at,
    }
    kwargs.update(overrides)
    return encode(CALLS_RECORDED, call, **kwargs)


def as_aiokafka(headers: dict[str, str]) -> list[tuple[str, bytes]]:
    """Headers the way aiokafka's ConsumerRecord carries them."""
    return [(name, value.encode()) for name, value in headers.items()]


def test_encode_headers_are_exactly_the_binary_binding() -> None:
    record = make_record()
    assert record.headers == {
        "ce_specversion": "1.0",
        "ce_id": EVENT_ID,
        "ce_source": SOURCE,
        "ce_type": "switchboard.call.recorded.v1",
        "ce_time": "2026-03-02T09:03:07Z",
        "content-type": "application/json",
    }
    assert record.topic == "calls.recorded.v1"


def test_encode_ce_type_comes_from_the_topic_registry() -> None:
    assert make_record().headers["ce_type"] == CALLS_RECORDED.ce_type


def test_encode_ce_time_is_converted_to_utc_with_z() -> None:
    kyiv_summer = timezone(timedelta(hours=3))
    record = make_record(time=datetime(2026, 7, 1, 12, 30, 5, tzinfo=kyiv_summer))
    assert record.headers["ce_time"] == "2026-07-01T09:30:05Z"


def test_encode_ce_time_defaults_to_now_in_utc() -> None:
    before = datetime.now(UTC)
    record = make_record(time=None)
    after = datetime.now(UTC)
    ce_time = record.headers["ce_time"]
    assert ce_time.endswith("Z")
    assert "+" not in ce_time
    parsed = datetime.fromisoformat(ce_time)
    assert parsed.tzinfo is not None
    assert before <= parsed <= after


def test_encode_subject_is_an_optional_header() -> None:
    record = make_record(subject="generic:call-0001")
    assert record.headers["ce_subject"] == "generic:call-0001"
    assert "ce_subject" not in make_record().headers


def test_encode_key_is_utf8_bytes_of_the_counterpart() -> None:
    assert make_record().key == b"+49301234567"


def test_encode_without_key_gives_none() -> None:
    assert make_record(key=None).key is None


def test_encode_value_is_json_with_field_aliases() -> None:
    value = json.loads(value_of(make_record()))
    assert "from" in value
    assert "from_" not in value
    assert value["from"] == {
        "raw": "030 1234567",
        "e164": "+49301234567",
        "kind": "external",
        "extension": None,
    }
    assert value["to"]["kind"] == "internal"
    assert value["to"]["extension"] == "101"
    assert value["call_id"] == "generic:call-0001"
    assert value["direction"] == "inbound"
    assert value["status"] == "answered"
    assert value["counterpart"] == "+49301234567"
    assert value["started_at"] == "2026-03-02T09:00:00Z"
    assert value["talk_s"] == 180.0
    assert value["raw"] == {"id": "call-0001", "from": "030 1234567", "to": "101"}


def test_decode_round_trip_gives_an_equal_model() -> None:
    record = make_record(subject="generic:call-0001")
    envelope, data = decode(record.headers, record.value)
    assert data == make_call()
    assert isinstance(data, CallRecorded)
    assert envelope.id == EVENT_ID
    assert envelope.source == SOURCE
    assert envelope.type == "switchboard.call.recorded.v1"
    assert envelope.time == datetime(2026, 3, 2, 9, 3, 7, tzinfo=UTC)
    assert envelope.subject == "generic:call-0001"
    assert envelope.extensions == {}


def test_decode_accepts_aiokafka_header_tuples() -> None:
    record = make_record()
    envelope, data = decode(as_aiokafka(record.headers), record.value)
    assert data == make_call()
    assert envelope.id == EVENT_ID
    assert envelope.type == CALLS_RECORDED.ce_type


def test_decode_keeps_unknown_ce_headers_as_extensions() -> None:
    record = make_record()
    headers = [*as_aiokafka(record.headers), ("ce_traceparent", b"00-abc-def-01")]
    envelope, _ = decode(headers, record.value)
    assert envelope.extensions == {"traceparent": "00-abc-def-01"}


def test_decode_other_topic_round_trip() -> None:
    event = ContactPoint(point="+49301234567", type="phone", contact_id="c-1", company_id=None)
    record = encode(
        CRM_CONTACT_POINTS, event, id="cp-1", source="switchboard/crm-store", key=event.point
    )
    envelope, data = decode(as_aiokafka(record.headers), record.value)
    assert data == event
    assert envelope.type == "switchboard.crm.contact-point.v1"


def test_deterministic_id_is_stable_and_a_uuid() -> None:
    first = deterministic_id("calls.recorded.v1", "generic:call-0001")
    assert first == deterministic_id("calls.recorded.v1", "generic:call-0001")
    assert uuid.UUID(first).version == 5


@given(st.lists(st.text(), min_size=1, max_size=4))
def test_deterministic_id_is_uuid5_over_the_joined_parts(parts: list[str]) -> None:
    expected = uuid.uuid5(uuid.UUID("6f1c2a8e-3b0d-5c6e-9a51-7d2f4b8e0c13"), "|".join(parts))
    assert deterministic_id(*parts) == str(expected)


@pytest.mark.parametrize(
    "other",
    [
        ("calls.recorded.v1", "generic:call-0002"),
        ("ingest.rejected.v1", "generic:call-0001"),
        ("calls.recorded.v1",),
        ("calls.recorded.v1", "generic:call-0001", "extra"),
    ],
)
def test_deterministic_id_differs_for_different_parts(other: tuple[str, ...]) -> None:
    assert deterministic_id(*other) != deterministic_id("calls.recorded.v1", "generic:call-0001")


@pytest.mark.parametrize("missing", ["ce_specversion", "ce_id", "ce_source", "ce_type"])
def test_decode_missing_header_is_an_error_naming_it(missing: str) -> None:
    record = make_record()
    headers = {k: v for k, v in record.headers.items() if k != missing}
    with pytest.raises(CloudEventError, match=missing):
        decode(headers, record.value)


def test_decode_empty_header_counts_as_missing() -> None:
    record = make_record()
    with pytest.raises(CloudEventError, match="ce_id"):
        decode({**record.headers, "ce_id": ""}, record.value)


def test_decode_no_headers_at_all() -> None:
    with pytest.raises(CloudEventError, match="missing CloudEvents headers"):
        decode([], make_record().value)


def test_decode_unknown_ce_type() -> None:
    record = make_record()
    headers = {**record.headers, "ce_type": "switchboard.call.recorded.v9"}
    with pytest.raises(CloudEventError, match="unknown ce_type"):
        decode(headers, record.value)


@pytest.mark.parametrize("version", ["0.3", "2.0", "1"])
def test_decode_bad_specversion(version: str) -> None:
    record = make_record()
    with pytest.raises(CloudEventError, match="ce_specversion"):
        decode({**record.headers, "ce_specversion": version}, record.value)


def test_decode_bad_ce_time() -> None:
    record = make_record()
    with pytest.raises(CloudEventError, match="ce_time"):
        decode_envelope({**record.headers, "ce_time": "yesterday"})


@pytest.mark.parametrize("value", [b"not json", b'{"call_id": ', b"\xff\xfe"])
def test_decode_non_json_value(value: bytes) -> None:
    with pytest.raises(CloudEventError, match="not JSON"):
        decode(make_record().headers, value)


def test_decode_missing_value() -> None:
    with pytest.raises(CloudEventError, match="no value"):
        decode(make_record().headers, None)


def test_decode_value_failing_validation() -> None:
    record = make_record()
    payload = json.loads(value_of(record))
    payload["status"] = "exploded"
    with pytest.raises(CloudEventError, match="invalid CallRecorded"):
        decode(record.headers, json.dumps(payload).encode())


def test_decode_value_missing_required_field() -> None:
    record = make_record()
    payload = json.loads(value_of(record))
    del payload["from"]
    with pytest.raises(CloudEventError, match="invalid CallRecorded"):
        decode(record.headers, json.dumps(payload).encode())


def test_cloud_event_error_is_a_value_error() -> None:
    assert issubclass(CloudEventError, ValueError)


def test_encode_refuses_a_model_of_another_topic() -> None:
    rejected = IngestRejected(
        source="ingest-calls/generic",
        reason="invalid_payload",
        body="{}",
        received_at=STARTED,
    )
    with pytest.raises(TypeError, match=r"calls\.recorded\.v1 carries CallRecorded"):
        encode(CALLS_RECORDED, rejected, id="x", source=SOURCE, key=None)
    with pytest.raises(TypeError, match="IngestRejected"):
        encode(INGEST_REJECTED, make_call(), id="x", source=SOURCE, key=None)
