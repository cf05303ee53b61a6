"""Who gets a call's activity, for calls shaped the way the CEL assembler emits them (the
scenarios of `support.cel_traces`, assembled by ingest-calls): a transferred call's outcome goes
to whoever talked last, a missed group call to the client's owner or the group's owner."""

from __future__ import annotations

import pytest

from crm_store.activities.assignment import assign, last_talker, talkers
from crm_store.activities.domain import ManagerView, Open, decide
from support.cel_interactions import assembled, classified
from switchboard_shared.events import ActivityKind, CallRecorded, ParticipantRole

ANNA = ManagerView("m-anna", "anna@our.example", ("101",))
BEN = ManagerView("m-ben", "ben@our.example", ("102",))
CARL = ManagerView("m-carl", "carl@our.example", ("103",), phones=("+491701234567",))
GRETA = ManagerView("m-greta", "Greta@Our.example", ())
OWEN = ManagerView("m-owner", "owen@our.example", ())
TEAM = [ANNA, BEN, CARL, GRETA, OWEN]
GROUPS = {"600": "greta@our.example", "700": "m-carl"}


def who(
    call: CallRecorded, *, owner: str | None = None, managers: list[ManagerView] = TEAM
) -> str | None:
    return assign(classified(call), managers, client_owner=owner, group_owners=GROUPS)


@pytest.mark.parametrize("name", ["blind_transfer", "attended_transfer"])
def test_a_transferred_call_goes_to_whoever_talked_last(name: str) -> None:
    call = assembled(name)
    assert [(p.extension, p.role) for p in talkers(call)] == [
        ("101", ParticipantRole.ANSWERED),
        ("102", ParticipantRole.TRANSFERRED_TO),
    ]
    assert who(call) == BEN.id
    assert who(call, owner="m-someone") == BEN.id  # who talked beats the client's owner


def test_the_last_talker_wins_even_when_an_earlier_one_talked_longer() -> None:
    """101 talks ten minutes and hands the client to 102 for a short word: 102 ended the call
    and knows how it ended."""
    call = assembled("attended_transfer")
    first, second = talkers(call)
    longer = first.model_copy(update={"talk_s": 600.0})
    shorter = second.model_copy(update={"talk_s": 5.0})
    call = call.model_copy(update={"participants": [call.participants[0], longer, shorter]})
    assert last_talker(call) == shorter
    assert who(call) == BEN.id


def test_parties_connected_at_the_same_moment_go_by_longest_talk() -> None:
    call = assembled("attended_transfer")
    first, second = talkers(call)
    same = second.model_copy(update={"answered_at": first.answered_at, "talk_s": 10.0})
    call = call.model_copy(update={"participants": [call.participants[0], first, same]})
    assert first.talk_s > same.talk_s
    assert last_talker(call) == first
    assert who(call) == ANNA.id


def test_a_last_talker_who_is_nobody_s_hands_it_to_the_one_before() -> None:
    """102 is not a manager's extension (a desk phone of the front office): 101 handed the
    client on and gets the outcome."""
    assert who(assembled("blind_transfer"), managers=[ANNA, GRETA]) == ANNA.id
    assert who(assembled("blind_transfer"), managers=[GRETA], owner="m-owner") == "m-owner"
    assert who(assembled("blind_transfer"), managers=[GRETA]) is None


def test_an_inactive_manager_gets_nothing() -> None:
    gone = ManagerView("m-ben", "ben@our.example", ("102",), active=False)
    assert who(assembled("attended_transfer"), managers=[ANNA, gone]) == ANNA.id


def test_answered_by_a_colleague_in_a_group_or_queue_or_by_pickup() -> None:
    assert who(assembled("ring_group"), owner="m-owner") == BEN.id
    assert who(assembled("queue"), owner="m-owner") == BEN.id
    assert who(assembled("pickup")) == CARL.id
    assert who(assembled("direct_answered")) == ANNA.id


def test_a_follow_me_answered_on_a_mobile_goes_to_the_manager_listing_it() -> None:
    call = assembled("follow_me")
    [party] = talkers(call)
    assert (party.extension, party.number) == (None, "+491701234567")
    assert who(call) == CARL.id


def test_an_outbound_call_goes_to_the_manager_who_placed_it() -> None:
    """The client is the one who talked: nobody's, so the caller's extension decides."""
    call = assembled("outbound_trunk")
    assert [p.extension for p in talkers(call)] == [None]
    assert who(call, owner="m-owner") == ANNA.id


def test_a_missed_group_call_goes_to_the_client_s_owner_first() -> None:
    call = assembled("ring_group_missed")
    assert call.requested == "600"
    assert who(call, owner=OWEN.id) == OWEN.id


def test_a_client_owner_who_left_hands_a_missed_group_call_to_the_group_s_owner() -> None:
    call = assembled("ring_group_missed")
    assert who(call, owner=OWEN.id, managers=[ANNA, GRETA]) == GRETA.id
    unowned_group = call.model_copy(update={"requested": "650"})
    assert who(unowned_group, owner=OWEN.id, managers=[ANNA]) == OWEN.id  # as before


def test_a_missed_group_call_of_an_unowned_client_goes_to_the_group_s_owner() -> None:
    call = assembled("ring_group_missed")
    assert who(call) == GRETA.id  # named by e-mail, whatever its case
    queue = call.model_copy(update={"requested": "700"})
    assert who(queue) == CARL.id  # named by id


def test_a_missed_group_call_without_a_group_owner_is_everyone_s() -> None:
    call = assembled("ring_group_missed")
    assert who(call.model_copy(update={"requested": "650"})) is None
    assert who(call, managers=[ANNA, BEN]) is None  # the group's owner left
    # Nobody in the group answered, so none of the rung phones is anyone's to call back.
    assert [p.role for p in call.participants[1:]] == [ParticipantRole.RUNG] * 2


def test_a_missed_call_to_one_manager_s_extension_stays_theirs() -> None:
    assert who(assembled("no_answer"), owner="m-owner") == ANNA.id
    assert who(assembled("voicemail"), owner="m-owner") == ANNA.id
    assert who(assembled("no_answer"), managers=[BEN], owner="m-owner") == "m-owner"


def test_a_missed_group_call_asks_for_one_callback_not_one_per_phone() -> None:
    event = classified(assembled("ring_group_missed"))
    assignee = assign(event, TEAM, group_owners=GROUPS)
    assert decide(event, [], assignee_id=assignee) == [
        Open(ActivityKind.CALLBACK, event.counterpart, assignee_id=GRETA.id)
    ]


def test_calls_reported_as_legs_keep_the_extension_then_the_owner() -> None:
    """No participants, no `requested` (a provider reporting legs): the extension that took or
    missed the leg, else the client's owner."""
    call = assembled("no_answer").model_copy(
        update={"participants": [], "requested": None, "agent": "102"}
    )
    assert who(call, owner="m-owner") == BEN.id
    assert who(call.model_copy(update={"agent": None}), owner="m-owner") == "m-owner"
    answered = assembled("attended_transfer").model_copy(update={"participants": []})
    assert answered.agent == "102"
    assert who(answered.model_copy(update={"agent": "101"})) == ANNA.id


def test_a_talker_without_a_connect_time_is_not_counted() -> None:
    call = assembled("attended_transfer")
    first, second = talkers(call)
    odd = second.model_copy(update={"answered_at": None})
    call = call.model_copy(update={"participants": [call.participants[0], first, odd]})
    assert talkers(call) == [first]
    assert who(call) == ANNA.id
