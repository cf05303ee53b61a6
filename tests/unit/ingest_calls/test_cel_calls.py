"""Asterisk CEL sequences assembled into one call each: who called, was rung, answered, talked."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from ingest_calls.domain import asterisk, cel
from ingest_calls.domain.cel_assembly import calls_from
from support.cel_traces import SCENARIOS, Expect, Pbx
from switchboard_shared.events import CallRecorded, CelEvent
from switchboard_shared.phone import PhonePolicy

DE = PhonePolicy(default_region="DE")
RULES = asterisk.rules_from({})


def events_of(name: str) -> tuple[list[CelEvent], Expect]:
    pbx, expect = SCENARIOS[name](None)
    return cel.parse_batch(pbx.events, ZoneInfo("UTC"), "test"), expect


def assembled(events: list[CelEvent]) -> CallRecorded:
    calls = calls_from(events, RULES, DE, "DE")
    assert len(calls) == 1, [c.call_id for c in calls]
    return calls[0]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_one_call_per_scenario_with_its_participants(name: str) -> None:
    events, expect = events_of(name)
    call = assembled(events)
    assert call.status.value == expect.status
    assert call.direction.value == expect.direction
    assert call.from_.raw == expect.caller
    assert call.to.raw == expect.to
    assert call.requested == expect.requested
    caller, *others = call.participants
    assert caller.role.value == "caller"
    assert caller.number == expect.caller
    seen = tuple((p.extension or p.number, p.role.value, p.talk_s > 0) for p in others)
    assert seen == expect.parties
    assert [t.kind.value for t in call.transfers] == list(expect.transfers)
    parties_talk_s = expect.talk_s if expect.parties_talk_s is None else expect.parties_talk_s
    assert sum(p.talk_s for p in others) == pytest.approx(parties_talk_s, abs=0.01)
    assert call.raw["complete"] is True
    if expect.status == "answered":
        assert call.answered_at is not None
        assert call.talk_s == pytest.approx(expect.talk_s, abs=0.01)
    else:
        assert call.answered_at is None
        assert call.talk_s == 0


def test_ring_group_answered_by_a_colleague_is_one_answered_call() -> None:
    call = assembled(events_of("ring_group")[0])
    assert call.agent == "102"
    assert call.counterpart == "+493012345678"
    assert call.call_id == f"asterisk:{call.linked_id}"
    rung = [p for p in call.participants if p.role.value == "rung"]
    assert [p.extension for p in rung] == ["101"]
    assert rung[0].ring_s == pytest.approx(8.0)


def test_a_transferred_call_names_who_talked_last_and_longest() -> None:
    call = assembled(events_of("attended_transfer")[0])
    talked = {p.extension: p.talk_s for p in call.participants if p.role.value != "caller"}
    assert talked == {"101": pytest.approx(50.0), "102": pytest.approx(200.0)}
    assert call.agent == "102"
    transfer = call.transfers[0]
    assert (transfer.by, transfer.to) == ("101", "102")


def test_the_consultation_channel_of_the_transferring_phone_is_folded_into_it() -> None:
    events, _ = events_of("attended_transfer")
    call = assembled(events)
    assert len({e.linked_id for e in events}) == 2
    assert [p.extension for p in call.participants] == [None, "101", "102"]


def test_order_of_arrival_across_linkedids_does_not_matter() -> None:
    events, _ = events_of("attended_transfer")
    by_linked = sorted(events, key=lambda e: e.linked_id != events[-1].linked_id)
    assert assembled(by_linked) == assembled(events)


def test_duplicate_events_are_counted_once() -> None:
    events, _ = events_of("direct_answered")
    assert assembled(events + events[:5]) == assembled(events)


def test_a_call_whose_linkedid_end_was_lost_is_still_emitted_as_incomplete() -> None:
    events, _ = events_of("no_answer")
    call = assembled([e for e in events if e.event_name != "LINKEDID_END"])
    assert call.status.value == "no_answer"
    assert call.raw["complete"] is False


def test_two_calls_in_one_list_are_two_calls() -> None:
    first, _ = events_of("busy")
    pbx, _ = SCENARIOS["direct_answered"](None)
    pbx_events = cel.parse_batch(pbx.events, ZoneInfo("UTC"), "test")
    other = [
        e.model_copy(update={"unique_id": "9" + e.unique_id, "linked_id": "9" + e.linked_id})
        for e in pbx_events
    ]
    calls = calls_from(first + other, RULES, DE, "DE")
    assert sorted(c.status.value for c in calls) == ["answered", "busy"]


def test_events_without_a_real_channel_make_no_call() -> None:
    events, _ = events_of("queue")
    only_local = [e for e in events if e.channel.startswith("Local/")]
    assert calls_from(only_local, RULES, DE, "DE") == []


def test_a_group_through_a_queue_retrying_members_behind_nested_local_channels() -> None:
    """Shaped like Wazo's group calls: endpoints named by random ids, members rung through
    Local channels (one through a second Local), the queue ringing every member again after
    5 s; the caller gives up. Each line is one participant, with both rounds of ringing."""
    pbx = Pbx()
    caller = pbx.start("PJSIP/Ogrp1Zgu", "1011", "Anastasia", exten="2002", context="inside")
    pbx.app(caller, "Queue", "romanov,ir", exten="s")
    phones = []
    for _round in range(2):
        a1, a2 = pbx.local("a545ea83", "usersharedlines", caller)
        b1, b2 = pbx.local("3925098f", "usersharedlines", caller)
        pbx.app(a2, "Dial", "sccp/fkwk2z0g")
        sccp = pbx.start("SCCP/fkwk2z0g", "1014", "Nikolai", linked_to=caller)
        pbx.app(b2, "Dial", "Local/TokxAXWb@wait_for_registration")
        c1, c2 = pbx.local("TokxAXWb", "wait_for_registration", caller)
        pjsip = pbx.start("PJSIP/TokxAXWb", "1015", "Olga", linked_to=caller)
        phones.append((sccp, pjsip))
        pbx.wait(5)
        for chan in (a1, b1, sccp, c1, a2, c2, b2, pjsip):
            pbx.hangup(chan, cause=0, dialstatus="CANCEL" if chan in (a2, b2) else "")
    pbx.wait(5)
    pbx.hangup(caller, cause=16)
    events = cel.parse_batch(pbx.events, ZoneInfo("UTC"), "test")
    call = assembled(events)
    assert (call.status.value, call.direction.value, call.requested) == (
        "no_answer",
        "internal",
        "2002",
    )
    assert [(p.extension, p.name, p.role.value, p.ring_s) for p in call.participants] == [
        ("1011", "Anastasia", "caller", 15.0),
        ("1014", "Nikolai", "rung", 10.0),
        ("1015", "Olga", "rung", 10.0),
    ]
    assert call.agent is None


def test_sharing_a_holding_bridge_is_not_talking() -> None:
    """A caller parked (a holding bridge) with another channel waiting there did not talk
    to it; the call was not answered."""
    pbx = Pbx()
    caller = pbx.start("PJSIP/trunk", "+493012345678", exten="+4930555000", context="from-trunk")
    pbx.app(caller, "Dial", "PJSIP/101", exten="101")
    phone = pbx.start("PJSIP/101", "101", "Alice", linked_to=caller)
    pbx.answer(phone)
    bridge = pbx.bridge(caller, phone, technology="holding_bridge")
    pbx.wait(30)
    pbx.leave(phone, bridge, technology="holding_bridge")
    pbx.hangup(phone)
    pbx.leave(caller, bridge, technology="holding_bridge")
    pbx.hangup(caller, dialstatus="ANSWER")
    call = assembled(cel.parse_batch(pbx.events, ZoneInfo("UTC"), "test"))
    assert call.status.value == "no_answer"
    assert [p.role.value for p in call.participants] == ["caller", "rung"]


def test_answered_through_two_local_channels_the_outer_one_optimised_away() -> None:
    """Shaped like a group member reached through two Local channels (Wazo's user line, then
    its mobile push): the member answers in the inner bridge; the outer Local pair is optimised
    away, so the inner Local takes its place in the caller's bridge."""
    pbx = Pbx()
    caller = pbx.start("PJSIP/Ogrp1Zgu", "1011", "Anastasia", exten="2002", context="inside")
    pbx.app(caller, "Queue", "romanov,ir", exten="s")
    outer1, outer2 = pbx.local("3925098f", "usersharedlines", caller)
    pbx.app(outer2, "Dial", "Local/TokxAXWb@wait_for_registration")
    inner1, inner2 = pbx.local("TokxAXWb", "wait_for_registration", caller)
    phone = pbx.start("PJSIP/TokxAXWb", "1015", "Olga", linked_to=caller)
    pbx.wait(2)
    for chan in (phone, inner2, inner1, outer2, outer1):
        pbx.answer(chan)
    middle = pbx.bridge(inner1, outer2)
    member = pbx.bridge(phone, inner2)
    pbx.answer(caller)
    front = pbx.bridge(outer1, caller)
    pbx.leave(inner1, middle)
    pbx.leave(outer1, front)
    pbx.enter(inner1, front)  # LOCAL_OPTIMIZE of the outer pair
    pbx.leave(outer2, middle)
    pbx.hangup(outer2, dialstatus="ANSWER")
    pbx.hangup(outer1)
    pbx.wait(4)
    pbx.leave(phone, member)
    pbx.hangup(phone)
    pbx.leave(inner2, member)
    pbx.hangup(inner2)
    pbx.leave(inner1, front)
    pbx.leave(caller, front)
    pbx.hangup(caller, dialstatus="ANSWER")
    pbx.hangup(inner1)
    call = assembled(cel.parse_batch(pbx.events, ZoneInfo("UTC"), "test"))
    assert (call.status.value, call.requested, call.agent) == ("answered", "2002", "1015")
    assert [(p.extension, p.role.value, p.talk_s) for p in call.participants] == [
        ("1011", "caller", 4.0),
        ("1015", "answered", 4.0),
    ]
