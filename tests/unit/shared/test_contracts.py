"""The pinned contract: topics and ce_types from DESIGN.md, schema snapshots, AsyncAPI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pydantic
import pytest
import yaml
from pydantic import BaseModel

from switchboard_shared import schemas, topics
from switchboard_shared.cloudevents import KafkaRecord, decode, encode
from switchboard_shared.email_address import EmailAddress, parse_address, parse_address_list
from switchboard_shared.events import (
    ActivityChanged,
    ActivityKind,
    ActivityState,
    Attachment,
    CallDirection,
    CallProgress,
    CallRecorded,
    CallState,
    CallStatus,
    CelEvent,
    ContactPoint,
    Disposition,
    Event,
    Feedback,
    IngestRejected,
    InteractionClassified,
    InteractionKind,
    InteractionLinked,
    MailDirection,
    MailReceived,
    Part,
    Reason,
    Reputation,
    ReputationReport,
    SettingsChanged,
    Tag,
)
from switchboard_shared.phone import PhoneNumber, PhonePolicy, normalise_phone

# DESIGN.md, "Events on Kafka": topic -> ce_type. Copied by hand on purpose: changing a name
# here or in topics.py alone must fail.
DESIGN_TOPICS = {
    "calls.recorded.v1": "switchboard.call.recorded.v1",
    "calls.progress.v1": "switchboard.call.progress.v1",
    "calls.cel.v1": "switchboard.call.cel.v1",
    "mail.received.v1": "switchboard.mail.received.v1",
    "ingest.rejected.v1": "switchboard.ingest.rejected.v1",
    "interactions.classified.v1": "switchboard.interaction.classified.v1",
    "crm.interactions.v1": "switchboard.crm.interaction.linked.v1",
    "crm.activities.v1": "switchboard.crm.activity.changed.v1",
    "crm.contact-points.v1": "switchboard.crm.contact-point.v1",
    "crm.feedback.v1": "switchboard.crm.feedback.v1",
    # The classifier's own compacted topic: reputation that outlives crm.feedback.v1.
    "classifier.knowledge.v1": "switchboard.classifier.reputation.v1",
    # "Additions for the second round": the settings an administrator edits.
    "crm.settings.v1": "switchboard.crm.settings.v1",
}
# DESIGN.md, "Additions for the second round": imported history -> the live topic it mirrors.
HISTORY_TOPICS = {
    "calls.recorded.history.v1": "calls.recorded.v1",
    "mail.received.history.v1": "mail.received.v1",
    "interactions.classified.history.v1": "interactions.classified.v1",
}
AT = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
DE = PhonePolicy(default_region="DE")


def value_of(record: KafkaRecord) -> bytes:
    assert record.value is not None, "an event record always has a value"
    return record.value


def _call() -> CallRecorded:
    caller = normalise_phone("+49 30 1234567", DE)
    return CallRecorded(
        call_id="generic:c-1",
        provider="generic",
        direction=CallDirection.INBOUND,
        status=CallStatus.NO_ANSWER,
        started_at=AT,
        ended_at=AT,
        ring_s=20.0,
        talk_s=0.0,
        from_=caller,
        to=normalise_phone("101", DE),
        counterpart=caller.e164,
    )


def _mail() -> MailReceived:
    return MailReceived(
        message_id="<m-1@example.com>",
        mailbox="sales@ourco.example",
        direction=MailDirection.INBOUND,
        from_=parse_address("Jane Doe <Jane.Doe@Example.com>"),
        to=parse_address_list("sales@ourco.example"),
        subject="Quote",
        attachments=[Attachment(name="q.pdf", type="application/pdf", size=10, sha256="0" * 64)],
        size_bytes=2048,
        counterpart="jane.doe@example.com",
    )


SAMPLES: dict[str, Event] = {
    "calls.recorded.v1": _call(),
    "calls.progress.v1": CallProgress(
        call_id="generic:c-1",
        provider="generic",
        direction=CallDirection.INBOUND,
        state=CallState.RINGING,
        at=AT,
        from_=normalise_phone("+49 30 1234567", DE),
        to=normalise_phone("101", DE),
    ),
    "calls.cel.v1": CelEvent(
        event_name="CHAN_START",
        event_time=AT,
        unique_id="1772442000.1",
        linked_id="1772442000.1",
        channel="PJSIP/trunk-00000001",
        caller_id_num="+4930123456",
        exten="+4930555000",
        context="from-trunk",
    ),
    "mail.received.v1": _mail(),
    "ingest.rejected.v1": IngestRejected(
        source="ingest-calls/generic", reason="invalid_payload", body="{}", received_at=AT
    ),
    "interactions.classified.v1": InteractionClassified(
        interaction_id="e-1",
        kind=InteractionKind.CALL,
        occurred_at=AT,
        counterpart="+49301234567",
        call=_call(),
        tags=[Tag.MISSED],
        disposition=Disposition.CALLBACK,
        reasons=[Reason(rule="call.missed_inbound", detail="inbound call no_answer")],
        classifier_version="0.1.0+calls-1",
    ),
    "crm.interactions.v1": InteractionLinked(
        interaction_id="e-1",
        kind=InteractionKind.CALL,
        occurred_at=AT,
        direction="inbound",
        disposition=Disposition.CALLBACK,
    ),
    "crm.activities.v1": ActivityChanged(
        activity_id="a-1",
        kind=ActivityKind.CALLBACK,
        state=ActivityState.OPEN,
        change="opened",
        changed_at=AT,
    ),
    "crm.contact-points.v1": ContactPoint(point="+49301234567", type="phone", contact_id="c-1"),
    "crm.feedback.v1": Feedback(
        interaction_id="e-1", preset="wrong_number", overturns_classifier=True, at=AT
    ),
    "classifier.knowledge.v1": Reputation(
        point="+4930123456",
        reports=[
            ReputationReport(
                id="f-1:wrong_number", label="wrong_number", manager="m-1", at=AT, overturn=False
            )
        ],
        retracted=["f-0:wrong_number"],
        counts={"wrong_number": 1},
        last_seen=AT,
    ),
    "crm.settings.v1": SettingsChanged(
        group="outcomes",
        values={"min_talk_min": 5},
        version=2,
        changed_by="manager:m-1",
        changed_at=AT,
    ),
}


def test_schema_snapshots_and_asyncapi_are_up_to_date() -> None:
    stale = schemas.stale()
    assert not stale, (
        "stale contract snapshots: "
        + ", ".join(str(p) for p in stale)
        + " - an event model changed; review the change and run `make schemas`"
    )


def test_every_topic_has_a_committed_schema_snapshot() -> None:
    names = {p.name for p in schemas.SCHEMA_DIR.glob("*.json")}
    assert names == {f"{name}.json" for name in DESIGN_TOPICS}
    for name, ce_type in DESIGN_TOPICS.items():
        snapshot = json.loads((schemas.SCHEMA_DIR / f"{name}.json").read_text())
        assert snapshot["$id"] == f"urn:switchboard:{ce_type}"


def test_topics_match_design() -> None:
    assert {t.name: t.ce_type for t in topics.ALL if t.history_of is None} == DESIGN_TOPICS


def test_history_topics_mirror_their_live_topics() -> None:
    history = {t.name: t.history_of for t in topics.ALL if t.history_of is not None}
    assert history == HISTORY_TOPICS
    for name, live in HISTORY_TOPICS.items():
        mirror, original = topics.BY_NAME[name], topics.BY_NAME[live]
        assert (mirror.ce_type, mirror.model) == (original.ce_type, original.model)
        assert topics.history_of(original) is mirror
        assert topics.BY_TYPE[mirror.ce_type] is original  # a type names its live topic
        assert mirror in topics.CONSUMED


@pytest.mark.parametrize(("name", "ce_type"), DESIGN_TOPICS.items())
def test_topic_registry_lookup(name: str, ce_type: str) -> None:
    assert topics.BY_NAME[name].ce_type == ce_type
    assert topics.BY_TYPE[ce_type].name == name


def test_only_the_latest_value_topics_are_compacted() -> None:
    assert topics.BY_NAME["crm.contact-points.v1"].compacted is True
    assert topics.BY_NAME["crm.settings.v1"].compacted is True
    assert [t.name for t in topics.ALL if t.compacted] == [
        "crm.contact-points.v1",
        "classifier.knowledge.v1",
        "crm.settings.v1",
    ]


def test_samples_cover_every_topic_model() -> None:
    assert set(SAMPLES) == set(DESIGN_TOPICS)
    for name, sample in SAMPLES.items():
        assert type(sample) is topics.BY_NAME[name].model


def _nested_models(model: type[BaseModel], seen: set[type[BaseModel]]) -> None:
    if model in seen:
        return
    seen.add(model)
    for info in model.model_fields.values():
        stack: list[Any] = [info.annotation]
        while stack:
            annotation = stack.pop()
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                _nested_models(annotation, seen)
            stack.extend(getattr(annotation, "__args__", ()))


def _all_models() -> list[type[BaseModel]]:
    seen: set[type[BaseModel]] = set()
    for topic in topics.ALL:
        _nested_models(topic.model, seen)
    return sorted(seen, key=lambda m: m.__name__)


def test_nested_models_are_found() -> None:
    found = set(_all_models())
    assert {PhoneNumber, EmailAddress, Attachment, Reason, CallRecorded, MailReceived} <= found


@pytest.mark.parametrize("model", _all_models(), ids=lambda m: m.__name__)
def test_every_model_is_frozen(model: type[BaseModel]) -> None:
    assert model.model_config.get("frozen") is True


@pytest.mark.parametrize("name", DESIGN_TOPICS)
def test_event_instances_refuse_mutation(name: str) -> None:
    sample = SAMPLES[name]
    field = next(iter(type(sample).model_fields))
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        setattr(sample, field, "changed")


def test_nested_parts_refuse_mutation() -> None:
    call = _call()
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        call.from_.e164 = "+10000000000"  # type: ignore[misc]
    reason = Reason(rule="r")
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        reason.rule = "other"  # type: ignore[misc]


def test_base_classes_ignore_unknown_fields() -> None:
    assert Event.model_config.get("extra") == "ignore"
    assert Part.model_config.get("extra") == "ignore"


@pytest.mark.parametrize("name", DESIGN_TOPICS)
def test_unknown_fields_are_ignored_on_decode(name: str) -> None:
    """A v1 consumer keeps working when a producer adds an optional field."""
    topic = topics.BY_NAME[name]
    sample = SAMPLES[name]
    record = encode(topic, sample, id="e-1", source="test", key=None, time=AT)
    payload = json.loads(value_of(record))
    payload["added_in_a_later_v1"] = {"anything": [1, 2, 3]}
    _, data = decode(record.headers, json.dumps(payload).encode())
    assert data == sample


def test_unknown_nested_fields_are_ignored_on_decode() -> None:
    record = encode(topics.CALLS_RECORDED, _call(), id="e-1", source="test", key=None, time=AT)
    payload = json.loads(value_of(record))
    payload["from"]["carrier"] = "Telekom"
    _, data = decode(record.headers, json.dumps(payload).encode())
    assert data == _call()


def test_all_topic_names_include_dlqs_of_consumed_topics() -> None:
    names = topics.all_topic_names()
    assert set(DESIGN_TOPICS) <= set(names)
    for consumed in ("calls.recorded.v1", "mail.received.v1", "interactions.classified.v1"):
        assert f"{consumed}.dlq" in names
    assert {t.dlq for t in topics.CONSUMED} <= set(names)
    assert len(names) == len(set(names))
    named = set(DESIGN_TOPICS) | set(HISTORY_TOPICS)
    assert all(n.endswith(".dlq") for n in names if n not in named)


def test_dlq_name() -> None:
    assert topics.CALLS_RECORDED.dlq == "calls.recorded.v1.dlq"


def _asyncapi() -> dict[str, Any]:
    document = yaml.safe_load(schemas.ASYNCAPI_PATH.read_text())
    assert isinstance(document, dict)
    return document


def test_asyncapi_is_version_3() -> None:
    document = _asyncapi()
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"] == "Switchboard events"


def test_asyncapi_has_a_channel_for_every_topic() -> None:
    channels = _asyncapi()["channels"]
    assert set(channels) == set(DESIGN_TOPICS) | set(HISTORY_TOPICS)
    for name, ce_type in DESIGN_TOPICS.items():
        channel = channels[name]
        assert channel["address"] == name
        assert f"ce_type={ce_type}" in channel["description"]
