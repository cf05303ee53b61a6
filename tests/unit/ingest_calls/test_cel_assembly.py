"""Grouping CEL events into calls: waiting for every LINKEDID_END, giving up, and the bounds."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from ingest_calls.domain import cel
from ingest_calls.domain.cel_assembly import Added, Assembly, Why
from ingest_calls.domain.errors import InvalidPayload
from support.cel_traces import SCENARIOS, Pbx
from switchboard_shared.events import CelEvent

UTC = ZoneInfo("UTC")


def trace(name: str, **pbx: object) -> list[CelEvent]:
    events, _ = SCENARIOS[name](Pbx(**pbx))  # type: ignore[arg-type]
    return cel.parse_batch(events.events, UTC, "test")


def feed(
    assembly: Assembly, events: list[CelEvent], now: float = 0.0, partition: int = 0
) -> list[Added]:
    return [
        assembly.add(e, cel.event_id(e), (partition, offset), now)
        for offset, e in enumerate(events)
    ]


def test_a_call_waits_for_every_linkedid_end_and_settles() -> None:
    events = trace("attended_transfer")
    assembly = Assembly(settle_s=2.0)
    last_end = max(i for i, e in enumerate(events) if e.event_name == "LINKEDID_END")
    feed(assembly, events[:last_end], now=0.0)
    assert assembly.ready(30.0) == []  # one linkedid ended, the other not
    feed(assembly, events[last_end:], now=30.0)
    assert assembly.ready(31.0) == []  # settling: a merging event may still be on its way
    [ready] = assembly.ready(32.0)
    assert ready.why is Why.COMPLETE
    assert len(ready.events) == len(events)
    assert assembly.held == 0


def test_the_oldest_held_event_bounds_the_commit_per_partition() -> None:
    first = trace("busy", epoch=1)
    second = trace("no_answer", epoch=2)
    assembly = Assembly()
    feed(assembly, first, partition=0)
    feed(assembly, second[:3], partition=1)
    assert assembly.oldest_held() == {0: 0, 1: 0}
    assert [r.why for r in assembly.ready(10.0)] == [Why.COMPLETE]
    assert assembly.oldest_held() == {1: 0}  # the finished call no longer holds partition 0


def test_a_lost_linkedid_end_is_waited_for_a_minute_once_every_channel_ended() -> None:
    events = [e for e in trace("busy") if e.event_name != "LINKEDID_END"]
    assembly = Assembly(lost_end_s=60.0)
    feed(assembly, events)
    assert assembly.ready(59.0) == []
    assert [r.why for r in assembly.ready(60.0)] == [Why.LOST_END]


def test_a_call_that_goes_quiet_is_given_up_after_the_timeout() -> None:
    events = trace("direct_answered")
    assembly = Assembly(timeout_s=3600.0)
    feed(assembly, events[:6])  # channels still up: a long conversation, or lost events
    assert assembly.ready(3599.0) == []
    assert [r.why for r in assembly.ready(3600.0)] == [Why.TIMED_OUT]


def test_events_after_the_call_was_emitted_do_not_open_a_second_call() -> None:
    events = trace("busy")
    assembly = Assembly()
    feed(assembly, events)
    assert len(assembly.ready(10.0)) == 1
    assert feed(assembly, events[-2:]) == [Added.LATE, Added.LATE]
    assert assembly.held == 0


def test_repeats_are_dropped() -> None:
    events = trace("busy")
    assembly = Assembly()
    assert set(feed(assembly, events[:4])) == {Added.HELD}
    assert set(feed(assembly, events[:4])) == {Added.DUPLICATE}


def test_too_many_calls_held_gives_up_the_quietest_first() -> None:
    assembly = Assembly(max_calls=2)
    calls = [trace("busy", epoch=epoch, tag=f"{epoch:x}")[:2] for epoch in (1, 2, 3)]
    for now, events in enumerate(calls):
        feed(assembly, events, now=float(now))
    [evicted] = assembly.forced()
    assert evicted.why is Why.EVICTED
    assert {e.linked_id for e in evicted.events} == {calls[0][0].linked_id}
    assert assembly.held == 2


def test_too_many_events_held_in_all_gives_up_the_quietest_calls() -> None:
    assembly = Assembly(max_events_held=10)
    calls = [trace("busy", epoch=epoch, tag=f"{epoch:x}")[:4] for epoch in (1, 2, 3)]
    for now, events in enumerate(calls):
        feed(assembly, events, now=float(now))
    [evicted] = assembly.forced()
    assert evicted.why is Why.EVICTED
    assert {e.linked_id for e in evicted.events} == {calls[0][0].linked_id}
    assert assembly.held == 2
    feed(assembly, trace("busy", epoch=4, tag="4")[:3], now=9.0)
    assert [len(r.events) for r in assembly.forced()] == [4]  # the next quietest


def test_a_call_past_its_event_bound_is_emitted_and_its_flood_dropped() -> None:
    events = trace("direct_answered")
    assembly = Assembly(max_events=5)
    outcomes = feed(assembly, events)
    assert outcomes[:5] == [Added.HELD] * 5
    [ready] = assembly.forced()
    assert (ready.why, len(ready.events)) == (Why.OVERFLOW, 5)
    assert set(outcomes[5:]) == {Added.LATE}


def test_linkedids_sharing_nothing_stay_apart_and_sharing_a_bridge_merge() -> None:
    events = trace("attended_transfer")
    assembly = Assembly()
    feed(assembly, events)
    assert assembly.held == 1
    apart = Assembly()
    feed(apart, trace("busy", epoch=7) + trace("busy", epoch=8, tag="8"))
    assert apart.held == 2


def test_a_cel_row_from_the_sql_table_reads_as_the_ami_event() -> None:
    row = {
        "eventtype": "CHAN_START",
        "eventtime": "2021-08-23 15:06:41.605534-04",
        "cid_name": "Anastasia",
        "cid_num": "1011",
        "exten": "2002",
        "context": "inside",
        "channame": "PJSIP/Ogrp1Zgu-00000007",
        "uniqueid": "1629745601.28",
        "linkedid": "1629745601.28",
        "id": 42,
    }
    event = cel.to_event(row, UTC, "import")
    assert (event.event_name, event.caller_id_num, event.channel) == (
        "CHAN_START",
        "1011",
        "PJSIP/Ogrp1Zgu-00000007",
    )
    assert event.event_time.isoformat() == "2021-08-23T19:06:41.605534+00:00"


@pytest.mark.parametrize(
    ("when", "zone", "utc"),
    [
        ("1772442000.250000", "UTC", "2026-03-02T09:00:00.250000+00:00"),
        ("2026-03-02 10:00:00", "Europe/Berlin", "2026-03-02T09:00:00+00:00"),
        ("2026-03-02T09:00:00Z", "Europe/Berlin", "2026-03-02T09:00:00+00:00"),
    ],
)
def test_event_time_is_unix_seconds_or_a_local_date(when: str, zone: str, utc: str) -> None:
    assert cel.parse_time(when, ZoneInfo(zone)).isoformat() == utc


def test_hostile_cel_input_is_bounded() -> None:
    good = SCENARIOS["busy"](None)[0].events[0]
    long = cel.to_event({**good, "AppData": "x" * 100_000, "Extra": "{" * 10_000}, UTC, "t")
    assert (len(long.app_data), len(long.extra)) == (1024, 4096)
    with pytest.raises(InvalidPayload, match="UniqueID: longer than 150"):
        cel.to_event({**good, "UniqueID": "1" * 151}, UTC, "t")
    with pytest.raises(InvalidPayload, match="more than 64 fields"):
        cel.to_event({**good, **{f"X{i}": "" for i in range(64)}}, UTC, "t")
    with pytest.raises(InvalidPayload, match="more than 5000 CEL events"):
        cel.parse_batch([good] * 5001, UTC, "t")
    with pytest.raises(InvalidPayload, match=r"\[1\]\.EventTime"):
        cel.parse_batch([good, {**good, "EventTime": "yesterday"}], UTC, "t")
    with pytest.raises(InvalidPayload, match="expected a string"):
        cel.parse_batch([{**good, "Channel": {"a": 1}}], UTC, "t")


def test_the_same_record_has_the_same_id_whichever_door_brought_it() -> None:
    good = SCENARIOS["busy"](None)[0].events[0]
    pushed = cel.to_event(good, UTC, "push")
    read = cel.to_event({k.lower(): v for k, v in good.items()}, UTC, "pbx.example:5038")
    assert cel.event_id(pushed) == cel.event_id(read)
    assert cel.event_id(pushed) != cel.event_id(pushed.model_copy(update={"exten": "9"}))
