"""Whatever CEL events an authenticated sender makes up, the assembler builds bounded calls and
never fails: events out of order, bridges never entered or never left, junk in `Extra`, channels
that change linkedid, times at the ends of the calendar."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest_calls.domain import asterisk, cel
from ingest_calls.domain.cel_assembly import MAX_LINKED_PER_CALL, calls_from
from ingest_calls.domain.errors import InvalidPayload
from switchboard_shared.events import CelEvent, ParticipantRole
from switchboard_shared.phone import PhonePolicy

RULES = asterisk.rules_from({})
POLICY = PhonePolicy("DE")
NAMES = [
    "CHAN_START", "CHAN_END", "ANSWER", "HANGUP", "APP_START", "APP_END", "BRIDGE_ENTER",
    "BRIDGE_EXIT", "BLINDTRANSFER", "ATTENDEDTRANSFER", "PICKUP", "FORWARD", "LOCAL_OPTIMIZE",
    "LINKEDID_END", "PARK_START", "USER_DEFINED", "WHATEVER",
]  # fmt: skip
CHANNELS = [
    "PJSIP/101-00000001", "PJSIP/102-00000002", "PJSIP/trunk-00000003", "Local/101@q-0001;1",
    "Local/101@q-0001;2", "PJSIP/103-00000004<ZOMBIE>", "", "Local/;1", "SIP/", "x",
]  # fmt: skip
IDS = ["1.1", "1.2", "1.3", "2.1", "2.2"]
EXTRAS = st.one_of(
    st.just(""),
    st.text(max_size=30),
    st.sampled_from(["{", "[]", "null", '{"bridge_id": null}', '{"dialstatus": 3}']),
    st.fixed_dictionaries(
        {},
        optional={
            "bridge_id": st.sampled_from(["b1", "b2", "b3", ""]),
            "bridge1_id": st.sampled_from(["b1", "b2"]),
            "bridge_technology": st.sampled_from(["simple_bridge", "holding_bridge", ""]),
            "dialstatus": st.sampled_from(["ANSWER", "BUSY", "CANCEL", "NOANSWER", "", "X"]),
            "transferee_channel_uniqueid": st.sampled_from(IDS),
            "transfer_target_channel_uniqueid": st.sampled_from(IDS),
            "pickup_channel": st.sampled_from(CHANNELS),
            "extension": st.text(max_size=10),
        },
    ).map(json.dumps),
)
EDGE = [datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC)]
TIMES = st.one_of(
    st.integers(0, 600).map(lambda s: datetime(2026, 3, 2, 9, tzinfo=UTC) + timedelta(seconds=s)),
    st.sampled_from(EDGE),
)


@st.composite
def events(draw: st.DrawFn) -> CelEvent:
    return CelEvent(
        event_name=draw(st.sampled_from(NAMES)),
        event_time=draw(TIMES),
        unique_id=draw(st.sampled_from(IDS)),
        linked_id=draw(st.sampled_from(IDS)),
        channel=draw(st.sampled_from(CHANNELS)),
        caller_id_num=draw(st.sampled_from(["", "101", "+493012345678", "anonymous", "*8"])),
        exten=draw(st.sampled_from(["", "s", "101", "600", "+4930555000", "h"])),
        context=draw(st.sampled_from(["", "from-trunk", "from-internal"])),
        application=draw(st.sampled_from(["", "Dial", "Queue", "VoiceMail"])),
        app_data=draw(st.sampled_from(["", "PJSIP/101", "PJSIP/0301234@trunk,30", "&&,"])),
        extra=draw(EXTRAS),
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events(), max_size=60))
def test_any_events_give_bounded_calls(batch: list[CelEvent]) -> None:
    calls = calls_from(batch, RULES, POLICY, "DE")
    assert len(calls) <= len({e.linked_id for e in batch})
    for call in calls:
        roles = [p.role for p in call.participants]
        assert roles[:1] == [ParticipantRole.CALLER]
        assert ParticipantRole.CALLER not in roles[1:]
        assert all(p.ring_s >= 0 and p.talk_s >= 0 for p in call.participants)
        assert call.talk_s is None or call.talk_s >= 0
        assert len(call.raw["linked_ids"]) <= MAX_LINKED_PER_CALL
        assert call.call_id == f"asterisk:{min(call.raw['linked_ids'])}"


FIELD_VALUES = st.one_of(
    st.sampled_from(["0001-01-01 00:00:00", "9999-12-31T23:59:59-14:00", "1772442000.5",
                     "2026-03-02 10:00:00", "2026-03-02 10:00:00.1-04", "1.2"]),
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=300),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers()),
)  # fmt: skip


BASE = {
    "EventName": "CHAN_START",
    "EventTime": "1772442000.5",
    "UniqueID": "1.1",
    "LinkedID": "1.1",
}


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            ["EventName", "EventTime", "UniqueID", "LinkedID", "Channel", "Extra", "eventtime",
             "AppData", "CallerIDnum", "Other"]
        ),
        FIELD_VALUES,
    )
)  # fmt: skip
def test_any_object_is_an_event_or_a_named_refusal(changes: dict[str, Any]) -> None:
    item = {**BASE, **changes}
    refused: InvalidPayload | None = None
    try:
        event = cel.to_event(item, ZoneInfo("Europe/Berlin"), "push")
    except InvalidPayload as exc:
        refused = exc
    if refused is not None:
        assert refused.field  # the sender is told which field
        return
    assert event.event_time.tzinfo is not None
    assert event.unique_id.strip()
    assert event.linked_id.strip()
