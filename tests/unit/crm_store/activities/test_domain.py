"""Activity decisions and access rules, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_store.activities.domain import (
    ActivityView,
    Close,
    Fold,
    ManagerView,
    Open,
    StatusStep,
    can_see_activity,
    can_set_status,
    channel_of,
    choose_assignee,
    closes_without_identifying,
    decide,
    identification_closes,
    is_real_call_with_client,
    is_real_conversation,
    overturns_classifier,
    preset_applies,
    preset_offered,
    related_counterparts,
    takes_on_status,
    undo_refusal,
)
from crm_store.config import DuePolicy
from crm_store.core import Principal, Role
from switchboard_shared.events import ActivityKind, ActivityState, InteractionClassified

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
CLIENT = "+14155550123"
OTHER = "+14155550999"


def call(
    disposition: str,
    *,
    status: str = "no_answer",
    direction: str = "inbound",
    counterpart: str | None = CLIENT,
    at: datetime = T0,
    agent: str | None = "101",
    call_id: str = "twilio:CA1",
    linked_id: str | None = None,
    tags: tuple[str, ...] = (),
    talk_s: float | None = 90.0,
    ended_at: datetime | None = None,
) -> InteractionClassified:
    external = {"raw": counterpart or "anonymous", "e164": counterpart, "kind": "external"}
    if counterpart is None:
        external = {"raw": "anonymous", "e164": None, "kind": "withheld"}
    ours = {"raw": "101", "e164": None, "kind": "internal", "extension": "101"}
    legs = (external, ours) if direction == "inbound" else (ours, external)
    data: dict[str, Any] = {
        "interaction_id": f"ce-{call_id}",
        "kind": "call",
        "occurred_at": at,
        "counterpart": counterpart,
        "disposition": disposition,
        "tags": list(tags),
        "classifier_version": "test",
        "call": {
            "call_id": call_id,
            "provider": "twilio",
            "direction": direction,
            "status": status,
            "started_at": at,
            "from": legs[0],
            "to": legs[1],
            "counterpart": counterpart,
            "agent": agent,
            "linked_id": linked_id,
            "answered_at": at if status == "answered" else None,
            "ended_at": ended_at,
            "talk_s": talk_s if status == "answered" else None,
        },
    }
    return InteractionClassified.model_validate(data)


def mail(
    disposition: str,
    *,
    direction: str = "inbound",
    counterpart: str = "ann@client.example",
    thread_id: str | None = "<t1@client.example>",
    to: tuple[str, ...] = ("sales@our.example",),
    at: datetime = T0,
    message_id: str = "<m1@client.example>",
    tags: tuple[str, ...] = (),
    spoofed_sender: bool = False,
) -> InteractionClassified:
    def address(a: str) -> dict[str, Any]:
        return {"raw": a, "address": a, "name": None, "valid": True}

    sender = counterpart if direction == "inbound" else "sales@our.example"
    data: dict[str, Any] = {
        "interaction_id": f"ce-{message_id}",
        "kind": "mail",
        "occurred_at": at,
        "counterpart": counterpart,
        "disposition": disposition,
        "tags": list(tags),
        "classifier_version": "test",
        "mail": {
            "spoofed_sender": spoofed_sender,
            "message_id": message_id,
            "mailbox": "sales@our.example",
            "direction": direction,
            "from": address(sender),
            "to": [address(a) for a in to],
            "thread_id": thread_id,
            "size_bytes": 100,
            "counterpart": counterpart,
        },
    }
    return InteractionClassified.model_validate(data)


def open_activity(
    kind: ActivityKind,
    *,
    id: str = "a1",
    counterpart: str | None = CLIENT,
    at: datetime = T0 - timedelta(hours=1),
    thread_id: str | None = None,
    call_keys: frozenset[str] = frozenset(),
) -> ActivityView:
    return ActivityView(id, kind, counterpart, at, thread_id, call_keys=call_keys)


def test_missed_call_opens_a_callback_with_the_agent_as_assignee() -> None:
    decisions = decide(call("callback"), [], assignee_id="m1")
    assert decisions == [Open(ActivityKind.CALLBACK, CLIENT, assignee_id="m1")]


def test_repeated_missed_call_folds_into_the_open_callback() -> None:
    existing = open_activity(ActivityKind.CALLBACK)
    assert decide(call("callback"), [existing]) == [Fold("a1")]


def test_a_callback_of_another_number_is_not_folded_into() -> None:
    existing = open_activity(ActivityKind.CALLBACK, counterpart=OTHER)
    assert decide(call("callback"), [existing]) == [Open(ActivityKind.CALLBACK, CLIENT)]


def test_withheld_missed_calls_each_open_their_own_callback() -> None:
    existing = open_activity(ActivityKind.CALLBACK, counterpart=None)
    decisions = decide(call("callback", counterpart=None), [existing])
    assert decisions == [Open(ActivityKind.CALLBACK, None)]


@pytest.mark.parametrize("direction", ["inbound", "outbound"])
def test_answered_call_closes_the_counterparts_callback(direction: str) -> None:
    existing = open_activity(ActivityKind.CALLBACK)
    event = call("needs_status", status="answered", direction=direction, call_id="twilio:CA9")
    decisions = decide(event, [existing])
    assert decisions[0] == Close("a1", f"answered {direction} call twilio:CA9")
    assert decisions[1:] == [Open(ActivityKind.LOG_OUTCOME, CLIENT)]


def test_answered_outbound_logged_call_closes_the_callback_and_opens_nothing() -> None:
    existing = open_activity(ActivityKind.CALLBACK)
    event = call("logged", status="answered", direction="outbound")
    assert decide(event, [existing]) == [Close("a1", "answered outbound call twilio:CA1")]


def test_unanswered_outbound_attempt_closes_nothing() -> None:
    existing = open_activity(ActivityKind.CALLBACK)
    assert decide(call("logged", status="no_answer", direction="outbound"), [existing]) == []


def test_an_older_answered_call_delivered_late_does_not_close_a_newer_callback() -> None:
    existing = open_activity(ActivityKind.CALLBACK, at=T0 + timedelta(minutes=5))
    event = call("needs_status", status="answered")
    assert decide(event, [existing]) == [Open(ActivityKind.LOG_OUTCOME, CLIENT)]


def test_answered_call_does_not_close_other_kinds() -> None:
    existing = open_activity(ActivityKind.LOG_OUTCOME)
    assert decide(call("logged", status="answered", direction="outbound"), [existing]) == []


def test_auto_closed_interaction_opens_nothing() -> None:
    assert decide(call("auto_closed"), []) == []
    assert decide(mail("auto_closed"), []) == []


def test_needs_status_opens_a_log_outcome_each_time() -> None:
    existing = open_activity(ActivityKind.LOG_OUTCOME)
    decisions = decide(call("needs_status", status="answered"), [existing])
    assert decisions == [Open(ActivityKind.LOG_OUTCOME, CLIENT)]


def test_mail_needing_a_reply_opens_one_per_thread() -> None:
    event = mail("reply_needed")
    assert decide(event, []) == [
        Open(ActivityKind.REPLY, "ann@client.example", "<t1@client.example>")
    ]
    same_thread = open_activity(
        ActivityKind.REPLY, counterpart="bob@client.example", thread_id="<t1@client.example>"
    )
    assert decide(event, [same_thread]) == [Fold("a1")]
    other_thread = open_activity(
        ActivityKind.REPLY, counterpart="ann@client.example", thread_id="<t2@client.example>"
    )
    assert decide(event, [other_thread]) == [
        Open(ActivityKind.REPLY, "ann@client.example", "<t1@client.example>")
    ]


def test_outbound_mail_closes_replies_in_the_thread_or_to_the_address() -> None:
    in_thread = open_activity(
        ActivityKind.REPLY,
        id="r1",
        counterpart="bob@client.example",
        thread_id="<t1@client.example>",
    )
    to_address = open_activity(
        ActivityKind.REPLY, id="r2", counterpart="cy@client.example", thread_id="<t5@x>"
    )
    unrelated = open_activity(
        ActivityKind.REPLY, id="r3", counterpart="dee@client.example", thread_id="<t6@x>"
    )
    event = mail(
        "logged",
        direction="outbound",
        counterpart="ann@client.example",
        to=("ann@client.example", "cy@client.example"),
        message_id="<out1@our.example>",
    )
    decisions = decide(event, [in_thread, to_address, unrelated])
    assert decisions == [
        Close("r1", "outbound mail <out1@our.example>"),
        Close("r2", "outbound mail <out1@our.example>"),
    ]


def test_outbound_auto_reply_closes_nothing() -> None:
    existing = open_activity(
        ActivityKind.REPLY, counterpart="ann@client.example", thread_id="<t1@client.example>"
    )
    assert decide(mail("auto_closed", direction="outbound"), [existing]) == []


def test_a_spoofed_sender_message_closes_nothing() -> None:
    """A forged From: our manager, delivered from outside: the client's reply stays open."""
    existing = open_activity(
        ActivityKind.REPLY, counterpart="ann@client.example", thread_id="<t1@client.example>"
    )
    forged = mail(
        "auto_closed",
        counterpart="sales@our.example",
        to=("ann@client.example",),
        tags=("spoofed_sender",),
        spoofed_sender=True,
    )
    assert decide(forged, [existing]) == []
    # nor when an older classifier or a hand-made rules file still called it our act
    as_outbound = mail(
        "logged",
        direction="outbound",
        to=("ann@client.example",),
        tags=("spoofed_sender",),
        message_id="<forged@our.example>",
    )
    assert decide(as_outbound, [existing]) == []
    flagged_only = mail("logged", direction="outbound", spoofed_sender=True)
    assert decide(flagged_only, [existing]) == []


def test_a_spoofed_sender_message_asks_nothing() -> None:
    forged = mail(
        "reply_needed",
        counterpart="sales@our.example",
        spoofed_sender=True,
        message_id="<forged2@our.example>",
    )
    assert decide(forged, [], unknown_counterpart=True) == []
    assert not is_real_conversation(forged)


def test_related_counterparts_of_outbound_mail_include_every_recipient() -> None:
    event = mail("logged", direction="outbound", to=("ann@client.example", "cy@client.example"))
    assert related_counterparts(event) == ["ann@client.example", "cy@client.example"]
    assert related_counterparts(call("callback", counterpart=None)) == []


def test_assignee_is_the_manager_owning_the_extension_or_the_mailbox() -> None:
    managers = [
        ManagerView("m1", "alice@our.example", ("100",)),
        ManagerView("m2", "bob@our.example", ("101", "102")),
        ManagerView("m3", "sales@our.example", ("103",), active=False),
    ]
    assert choose_assignee(call("callback", agent="101"), managers) == "m2"
    assert choose_assignee(call("callback", agent="999"), managers) is None
    assert choose_assignee(call("callback", agent=None), managers) is None
    assert choose_assignee(mail("reply_needed"), managers) is None  # m3 is inactive
    managers.append(ManagerView("m4", "Sales@our.example"))
    assert choose_assignee(mail("reply_needed"), managers) == "m4"


def test_mail_to_one_of_a_managers_other_addresses_is_theirs() -> None:
    managers = [ManagerView("m1", "alice@our.example", aliases=("Sales@Our.Example",))]
    assert choose_assignee(mail("reply_needed"), managers) == "m1"
    assert choose_assignee(mail("reply_needed"), [ManagerView("m2", "bob@our.example")]) is None


def test_visibility_and_status_rights_by_role() -> None:
    manager = Principal(Role.MANAGER, "m1")
    assert can_see_activity(manager, "m1")
    assert can_see_activity(manager, None)
    assert not can_see_activity(manager, "m2")
    assert can_see_activity(Principal(Role.VIEWER), "m2")
    assert not can_set_status(Principal(Role.VIEWER), "m2")
    assert not can_see_activity(Principal(Role.OPERATOR), None)
    assert can_set_status(Principal(Role.SUPERVISOR), "m2")
    assert takes_on_status(manager, None) == "m1"
    assert takes_on_status(manager, "m1") == "m1"
    assert takes_on_status(Principal(Role.ADMIN), None) is None


def test_presets_apply_by_kind_and_overturn_by_disposition() -> None:
    assert preset_applies(["callback", "log_outcome"], "callback")
    assert not preset_applies(["callback"], "reply")
    assert overturns_classifier(["needs_status", "callback"], "callback")
    assert not overturns_classifier(["needs_status", "callback"], "reply_needed")
    assert not overturns_classifier(["callback"], None)


# -- legs of one call (same linked_id), in any arrival order ---------------------------------


def test_a_missed_leg_of_a_call_a_colleague_answered_opens_nothing() -> None:
    missed = call("callback", call_id="ast:leg2", linked_id="L1", agent="102")
    assert decide(missed, [], answered_elsewhere=True) == []


def test_the_answered_leg_cancels_a_callback_holding_only_that_call() -> None:
    callback = open_activity(ActivityKind.CALLBACK, at=T0, call_keys=frozenset({"twilio:L1"}))
    answered = call(
        "needs_status",
        status="answered",
        call_id="ast:leg1",
        linked_id="L1",
        at=T0 - timedelta(seconds=2),  # the answered leg started first: no time rule applies
    )
    [cancel, log_outcome] = decide(answered, [callback])
    assert cancel == Close(
        "a1", "answered by a colleague: answered inbound call ast:leg1", ActivityState.CANCELED
    )
    assert log_outcome == Open(ActivityKind.LOG_OUTCOME, CLIENT)


def test_the_answered_leg_closes_a_callback_that_also_holds_other_missed_calls() -> None:
    callback = open_activity(
        ActivityKind.CALLBACK,
        at=T0 + timedelta(seconds=5),
        call_keys=frozenset({"twilio:L0", "twilio:L1"}),
    )
    answered = call("logged", status="answered", linked_id="L1", direction="outbound")
    assert decide(answered, [callback]) == [Close("a1", "answered outbound call twilio:CA1")]


def test_more_missed_legs_of_one_call_fold_without_counting_twice() -> None:
    callback = open_activity(ActivityKind.CALLBACK, call_keys=frozenset({"twilio:L1"}))
    leg = call("callback", call_id="ast:leg3", linked_id="L1")
    assert decide(leg, [callback]) == [Fold("a1", same_call=True)]
    another_call = call("callback", call_id="ast:other", linked_id="L2")
    assert decide(another_call, [callback]) == [Fold("a1")]


def test_a_withheld_callers_missed_leg_is_canceled_by_its_answered_leg() -> None:
    callback = open_activity(
        ActivityKind.CALLBACK, counterpart=None, call_keys=frozenset({"twilio:L7"})
    )
    answered = call("needs_status", status="answered", counterpart=None, linked_id="L7")
    assert decide(answered, [callback])[0].state is ActivityState.CANCELED  # type: ignore[union-attr]


# -- identify_contact --------------------------------------------------------------------------


def test_a_conversation_with_an_unknown_counterpart_asks_to_identify_it() -> None:
    event = call("needs_status", status="answered")
    assert decide(event, [], unknown_counterpart=True) == [
        Open(ActivityKind.LOG_OUTCOME, CLIENT),
        Open(ActivityKind.IDENTIFY_CONTACT, CLIENT),
    ]
    existing = open_activity(ActivityKind.IDENTIFY_CONTACT)
    assert decide(event, [existing], unknown_counterpart=True)[1:] == [Fold("a1")]
    assert decide(event, [], unknown_counterpart=False) == [Open(ActivityKind.LOG_OUTCOME, CLIENT)]


@pytest.mark.parametrize(
    ("event", "real"),
    [
        (call("needs_status", status="answered"), True),
        (mail("reply_needed"), True),
        (call("callback"), False),  # a missed call is no conversation (yet)
        (call("needs_status", status="answered", tags=("spam",)), False),
        (call("needs_status", status="answered", counterpart=None), False),
        (mail("auto_closed"), False),
    ],
)
def test_what_counts_as_a_real_conversation(event: InteractionClassified, real: bool) -> None:
    assert is_real_conversation(event) is real


def test_identifying_a_point_closes_its_identify_contact_activities() -> None:
    activities = [
        open_activity(ActivityKind.IDENTIFY_CONTACT, id="i1"),
        open_activity(ActivityKind.IDENTIFY_CONTACT, id="i2", counterpart=OTHER),
        open_activity(ActivityKind.CALLBACK, id="c1"),
    ]
    assert identification_closes(activities, [CLIENT], "contact-7") == [
        Close("i1", "identified as contact contact-7")
    ]


def test_due_dates_per_kind() -> None:
    policy = DuePolicy({ActivityKind.CALLBACK: 2.0})
    assert policy.due_at(ActivityKind.CALLBACK, T0) == T0 + timedelta(hours=2)
    assert policy.due_at(ActivityKind.REPLY, T0) is None
    assert DuePolicy().due_at(ActivityKind.REPLY, T0) == T0 + timedelta(hours=24)


# A callback closes only on a real conversation with the client: over the short-call threshold
# (or, with no duration reported, the client dialling us), never on a voicemail box or a
# 5-second call that reached nobody.


@pytest.mark.parametrize("direction", ["inbound", "outbound"])
def test_a_five_second_answered_call_does_not_close_a_callback(direction: str) -> None:
    existing = open_activity(ActivityKind.CALLBACK)
    event = call("auto_closed", status="answered", direction=direction, talk_s=5.0)
    assert decide(event, [existing], min_talk_s=10.0) == []


def test_a_call_just_at_the_threshold_is_still_short() -> None:
    existing = open_activity(ActivityKind.CALLBACK)
    event = call("logged", status="answered", direction="outbound", talk_s=10.0)
    assert decide(event, [existing], min_talk_s=10.0) == []
    longer = call("logged", status="answered", direction="outbound", talk_s=10.5)
    assert decide(longer, [existing], min_talk_s=10.0) == [
        Close("a1", "answered outbound call twilio:CA1")
    ]


def test_an_answered_call_tagged_voicemail_does_not_close_a_callback() -> None:
    existing = open_activity(ActivityKind.CALLBACK)
    event = call(
        "logged", status="answered", direction="outbound", talk_s=40.0, tags=("voicemail",)
    )
    assert decide(event, [existing]) == []


def test_a_voicemail_status_call_does_not_close_a_callback() -> None:
    existing = open_activity(ActivityKind.CALLBACK)
    event = call("logged", status="voicemail", direction="outbound", talk_s=None)
    assert decide(event, [existing]) == []


def test_without_talk_seconds_the_answer_and_end_times_tell_the_length() -> None:
    existing = open_activity(ActivityKind.CALLBACK)
    short = call(
        "logged",
        status="answered",
        direction="outbound",
        talk_s=None,
        ended_at=T0 + timedelta(seconds=4),
    )
    assert decide(short, [existing], min_talk_s=10.0) == []
    long = call(
        "logged",
        status="answered",
        direction="outbound",
        talk_s=None,
        ended_at=T0 + timedelta(minutes=3),
    )
    assert decide(long, [existing], min_talk_s=10.0) == [
        Close("a1", "answered outbound call twilio:CA1")
    ]


def test_with_no_duration_at_all_only_the_clients_own_call_closes() -> None:
    existing = open_activity(ActivityKind.CALLBACK)
    inbound = call("needs_status", status="answered", talk_s=None)
    assert decide(inbound, [existing])[0] == Close("a1", "answered inbound call twilio:CA1")
    outbound = call("logged", status="answered", direction="outbound", talk_s=None)
    assert decide(outbound, [existing]) == []  # perhaps a voicemail box: nobody was reached


@pytest.mark.parametrize(
    ("talk_s", "ended", "real"),
    [
        (5.0, None, False),
        (10.0, None, False),
        (11.0, None, True),
        (None, 3, False),
        (None, 30, True),
    ],
)
def test_is_a_real_call_with_the_client(
    talk_s: float | None, ended: int | None, real: bool
) -> None:
    ended_at = T0 + timedelta(seconds=ended) if ended is not None else None
    event = call(
        "logged", status="answered", direction="outbound", talk_s=talk_s, ended_at=ended_at
    )
    assert is_real_call_with_client(event, min_talk_s=10.0) is real


def test_a_short_answered_leg_leaves_a_callback_holding_other_missed_calls_open() -> None:
    callback = open_activity(
        ActivityKind.CALLBACK,
        at=T0 + timedelta(seconds=5),
        call_keys=frozenset({"twilio:L0", "twilio:L1"}),
    )
    answered = call("logged", status="answered", linked_id="L1", direction="outbound", talk_s=4)
    assert decide(answered, [callback]) == []


# "Who is this?" closes when its number or address is given to a contact. A preset may close it
# only by saying there is nobody to identify (spam, a wrong number): "Completed" would drop the
# person with no contact made.


@pytest.mark.parametrize(
    ("closes", "overturns", "refused"),
    [
        (True, (), True),  # completed
        (False, (), False),  # taken into work
        (True, ("needs_status", "callback"), False),  # wrong number
        (True, ("needs_status", "callback", "reply_needed"), False),  # spam
    ],
)
def test_a_preset_closes_an_identify_item_only_when_nobody_is_there_to_identify(
    closes: bool, overturns: tuple[str, ...], refused: bool
) -> None:
    why = closes_without_identifying(ActivityKind.IDENTIFY_CONTACT, closes, overturns)
    assert (why is not None) is refused
    assert closes_without_identifying(ActivityKind.CALLBACK, closes, overturns) is None


def test_a_cards_channel_is_its_last_interactions_else_the_counterparts_kind() -> None:
    assert channel_of("call", "ann@client.example") == "call"
    assert channel_of("mail", CLIENT) == "mail"
    assert channel_of(None, "ann@client.example") == "mail"
    assert channel_of(None, CLIENT) == "call"
    assert channel_of(None, None) == "call"  # a withheld caller


def test_presets_are_offered_on_the_channels_they_name() -> None:
    assert preset_offered(["call"], "call")
    assert not preset_offered(["call"], "mail")  # no "Wrong number" on an e-mail
    assert preset_offered(["call", "mail"], "mail")


# Undo: the person who clicked, within the window, while the item is as the click left it.

STEP = StatusStep(actor="manager:m1", at=T0, preset="spam", state="done")


def refusal(step: StatusStep | None = STEP, **overrides: Any) -> str | None:
    facts: dict[str, Any] = {
        "actor": "manager:m1",
        "now": T0 + timedelta(minutes=2),
        "window_s": 300.0,
        "state": "done",
        "preset": "spam",
    }
    return undo_refusal(step, **(facts | overrides))


def test_the_clicker_undoes_within_the_window() -> None:
    assert refusal() is None
    assert refusal(now=T0 + timedelta(minutes=5)) is None


@pytest.mark.parametrize(
    ("step", "overrides", "why"),
    [
        (None, {}, "no status change"),
        (STEP, {"actor": "manager:m2"}, "only the person"),
        (STEP, {"now": T0 + timedelta(minutes=5, seconds=1)}, "5 minutes to undo have passed"),
        (STEP, {"state": "open", "preset": "spam"}, "changed after"),
        (STEP, {"preset": "completed"}, "changed after"),
    ],
)
def test_undo_is_refused_with_a_reason(
    step: StatusStep | None, overrides: dict[str, Any], why: str
) -> None:
    assert why in (refusal(step, **overrides) or "")
