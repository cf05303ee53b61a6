"""Every call rule of the default rules file, and the cases users of other CRMs complain about."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from classifier.knowledge import Knowledge, Report
from classifier.rules import LegContext, NoKnowledge, RuleSet, classify_call
from switchboard_shared.events import CallRecorded, Disposition, Tag
from switchboard_shared.rules.calls import call_facts

from .conftest import CLIENT_E164, STARTED, STRANGER_E164, CallFactory, wrong_number_report

D, T = Disposition, Tag
NOT_ANSWERED = ["no_answer", "busy", "canceled", "failed"]
STRANGER = "+1 415 555 9876"


def judge(
    call: CallRecorded,
    rules: RuleSet,
    knowledge: Knowledge | None = None,
    legs: LegContext | None = None,
) -> tuple[Disposition, list[Tag], str, str]:
    verdict = classify_call(call, rules, knowledge or NoKnowledge(), legs or LegContext())
    [reason] = verdict.reasons
    return verdict.disposition, list(verdict.tags), reason.rule, reason.detail


@pytest.mark.parametrize("status", ["answered", *NOT_ANSWERED, "voicemail"])
def test_internal_calls_need_nobody(make_call: CallFactory, rules: RuleSet, status: str) -> None:
    call = make_call("internal", status, other="102")
    assert judge(call, rules)[:3] == (D.AUTO_CLOSED, [T.INTERNAL], "call.internal")


@pytest.mark.parametrize("direction", ["inbound", "outbound"])
def test_the_companys_own_numbers_are_never_a_client(
    make_call: CallFactory, custom_rules: Callable[..., RuleSet], direction: str
) -> None:
    """A colleague calls from the office line or a listed mobile: not a client, not missed."""
    rules = custom_rules(numbers={"own": ["(415) 555-0100", "+49 30 1234567"]})
    for status in ("answered", "no_answer"):
        call = make_call(direction, status, other="+14155550100")
        disposition, tags, rule, detail = judge(call, rules)
        assert (disposition, tags, rule) == (D.AUTO_CLOSED, [T.INTERNAL], "call.own_number")
        assert detail == f"{direction} call with one of our own numbers"
    # A national number in another format of a listed DID is the same number.
    assert judge(make_call(direction, other="030 1234567"), rules)[2] != "call.own_number"
    assert judge(make_call(direction, other="+49 30 1234567"), rules)[2] == "call.own_number"


def test_spam_numbers_and_prefixes(
    make_call: CallFactory, custom_rules: Callable[..., RuleSet], knowledge: Knowledge
) -> None:
    rules = custom_rules(numbers={"spam": ["+1 415 555 9876"], "spam_prefixes": ["+1900"]})
    assert judge(make_call(other=STRANGER), rules)[:3] == (
        D.AUTO_CLOSED,
        [T.SPAM],
        "call.spam_listed",
    )
    premium = make_call("inbound", "no_answer", other="+1 900 555 0199")
    assert judge(premium, rules)[:3] == (D.AUTO_CLOSED, [T.SPAM], "call.spam_listed")
    assert judge(make_call(other=CLIENT_E164), rules, knowledge)[2] == "call.conversation"


def test_numbers_managers_reported_as_spam(make_call: CallFactory, rules: RuleSet) -> None:
    known = Knowledge()
    for manager in ("m1", "m2"):
        known.add_report(
            Report(f"s-{manager}", STRANGER_E164, "spam", manager, STARTED, overturn=False)
        )
    disposition, tags, rule, detail = judge(
        make_call("inbound", "no_answer", other=STRANGER), rules, known
    )
    assert (disposition, tags, rule) == (D.AUTO_CLOSED, [T.SPAM], "call.spam_reported")
    assert detail == "2 manager report(s) of spam, the latest on 2026-03-02"


class TestRingGroup:
    """A colleague answered in the ring group: the legs that rang elsewhere open nothing."""

    @pytest.mark.parametrize("status", NOT_ANSWERED)
    def test_unanswered_leg_when_a_sibling_answered(
        self, make_call: CallFactory, rules: RuleSet, status: str
    ) -> None:
        leg = make_call("inbound", status, linked_id="L1", agent="102")
        disposition, tags, rule, detail = judge(leg, rules, legs=LegContext(sibling_answered=True))
        assert (disposition, tags, rule) == (D.AUTO_CLOSED, [], "call.answered_elsewhere")
        assert detail == f"this leg was {status}; a colleague answered the call on another leg"

    @pytest.mark.parametrize(
        "cause", ["ANSWERED_ELSEWHERE", "answered elsewhere", "26", "Call completed elsewhere"]
    )
    def test_hangup_cause_says_answered_elsewhere(
        self, make_call: CallFactory, rules: RuleSet, cause: str
    ) -> None:
        leg = make_call("inbound", "canceled", linked_id="L1", hangup_cause=cause)
        assert judge(leg, rules)[2] == "call.answered_elsewhere"

    def test_other_causes_do_not(self, make_call: CallFactory, rules: RuleSet) -> None:
        leg = make_call("inbound", "no_answer", hangup_cause="NO_ANSWER")
        assert judge(leg, rules)[:3] == (D.CALLBACK, [T.MISSED], "call.missed_inbound")

    def test_a_missed_call_asks_for_one_callback_not_one_per_leg(
        self, make_call: CallFactory, rules: RuleSet
    ) -> None:
        leg = make_call("inbound", "no_answer", linked_id="L1", agent="103")
        assert judge(leg, rules, legs=LegContext(sibling_missed=True))[:3] == (
            D.AUTO_CLOSED,
            [T.MISSED],
            "call.missed_leg_repeat",
        )

    def test_the_answered_leg_is_a_conversation(
        self, make_call: CallFactory, rules: RuleSet
    ) -> None:
        leg = make_call("inbound", "answered", linked_id="L1", talk_s=180)
        context = LegContext(sibling_missed=True)
        assert judge(leg, rules, legs=context)[:3] == (D.NEEDS_STATUS, [], "call.conversation")


class TestWrongNumberReputation:
    def test_a_number_a_manager_marked_before(self, make_call: CallFactory, rules: RuleSet) -> None:
        known = Knowledge()
        known.add_report(wrong_number_report(STRANGER_E164, "m1", days_ago=40))
        call = make_call(other=STRANGER, talk_s=300)
        disposition, tags, rule, detail = judge(call, rules, known)
        assert (disposition, tags, rule) == (
            D.AUTO_CLOSED,
            [T.WRONG_NUMBER],
            "call.wrong_number_known",
        )
        assert detail == (
            "1 manager report(s) of a wrong number, the latest on 2026-01-21; the call was answered"
        )
        missed = make_call("inbound", "no_answer", other=STRANGER)
        assert judge(missed, rules, known)[2] == "call.wrong_number_known"

    def test_managers_count_once_each(self, make_call: CallFactory, rules: RuleSet) -> None:
        known = Knowledge()
        for days in (3, 2, 1):
            known.add_report(wrong_number_report(STRANGER_E164, "m1", days_ago=days))
        facts = call_facts(make_call(other=STRANGER), rules, known)
        assert facts["wrong_number_reports"] == 1
        assert facts["wrong_number_last"] == "2026-03-01"

    def test_an_overturn_lowers_the_reputation(
        self, make_call: CallFactory, rules: RuleSet
    ) -> None:
        known = Knowledge()
        known.add_report(wrong_number_report(STRANGER_E164, "m1", days_ago=30))
        known.add_report(wrong_number_report(STRANGER_E164, "m2", days_ago=5, overturn=True))
        assert judge(make_call(other=STRANGER, talk_s=300), rules, known)[2] == "call.conversation"

    def test_old_reports_are_forgotten(self, make_call: CallFactory, rules: RuleSet) -> None:
        known = Knowledge()
        known.add_report(wrong_number_report(STRANGER_E164, "m1", days_ago=400))
        assert judge(make_call(other=STRANGER, talk_s=300), rules, known)[2] == "call.conversation"

    def test_a_known_contact_is_never_a_wrong_number(
        self, make_call: CallFactory, rules: RuleSet, knowledge: Knowledge
    ) -> None:
        knowledge.add_report(wrong_number_report(CLIENT_E164, "m1", days_ago=3))
        assert judge(make_call(talk_s=300), rules, knowledge)[2] == "call.conversation"

    def test_our_call_to_a_reported_number_is_ours(
        self, make_call: CallFactory, rules: RuleSet
    ) -> None:
        known = Knowledge()
        known.add_report(wrong_number_report(STRANGER_E164, "m1", days_ago=3))
        call = make_call("outbound", "answered", other=STRANGER, talk_s=300)
        assert judge(call, rules, known)[2] == "call.conversation"


class TestWithheld:
    def test_voicemail_from_a_withheld_number_must_be_heard(
        self, make_call: CallFactory, rules: RuleSet
    ) -> None:
        call = make_call("inbound", "voicemail", other="Restricted")
        assert judge(call, rules) == (
            D.NEEDS_STATUS,
            [T.MISSED, T.VOICEMAIL, T.WITHHELD],
            "call.voicemail_withheld",
            "voicemail from a withheld number",
        )

    @pytest.mark.parametrize("status", NOT_ANSWERED)
    @pytest.mark.parametrize("caller", ["anonymous", None, "+266696687"])
    def test_missed_from_a_withheld_number_needs_nobody(
        self, make_call: CallFactory, rules: RuleSet, status: str, caller: str | None
    ) -> None:
        call = make_call("inbound", status, other=caller)
        assert call.counterpart is None
        assert judge(call, rules) == (
            D.AUTO_CLOSED,
            [T.MISSED, T.WITHHELD],
            "call.missed_withheld",
            f"missed call ({status}) from a withheld number",
        )

    def test_a_conversation_with_a_withheld_caller(
        self, make_call: CallFactory, rules: RuleSet
    ) -> None:
        assert judge(make_call(other="anonymous", talk_s=111), rules)[2] == "call.conversation"


@pytest.mark.parametrize("status", NOT_ANSWERED)
def test_missed_inbound_asks_for_a_callback(
    make_call: CallFactory, rules: RuleSet, knowledge: Knowledge, status: str
) -> None:
    for number in (CLIENT_E164, STRANGER):
        call = make_call("inbound", status, other=number)
        assert judge(call, rules, knowledge) == (
            D.CALLBACK,
            [T.MISSED],
            "call.missed_inbound",
            f"inbound call {status}",
        )


def test_missed_from_an_unreadable_number_still_goes_to_a_person(
    make_call: CallFactory, rules: RuleSet
) -> None:
    call = make_call("inbound", "no_answer", other="+1 555")
    assert call.from_.kind == "invalid"
    assert judge(call, rules)[:3] == (D.CALLBACK, [T.MISSED], "call.missed_inbound")


def test_voicemail_asks_for_a_callback(make_call: CallFactory, rules: RuleSet) -> None:
    assert judge(make_call("inbound", "voicemail"), rules)[:3] == (
        D.CALLBACK,
        [T.MISSED, T.VOICEMAIL],
        "call.voicemail",
    )


@pytest.mark.parametrize("status", [*NOT_ANSWERED, "voicemail"])
def test_our_unanswered_attempt_is_logged(
    make_call: CallFactory, rules: RuleSet, status: str
) -> None:
    assert judge(make_call("outbound", status), rules) == (
        D.LOGGED,
        [T.ATTEMPT],
        "call.outbound_attempt",
        f"outbound call {status}",
    )


class TestVeryShortCalls:
    @pytest.mark.parametrize("talk_s", [0.0, 3.0, 9.5, 10.0])
    def test_very_short_with_a_stranger_is_a_wrong_number(
        self, make_call: CallFactory, rules: RuleSet, talk_s: float
    ) -> None:
        disposition, tags, rule, detail = judge(make_call(other=STRANGER, talk_s=talk_s), rules)
        assert (disposition, tags, rule) == (
            D.AUTO_CLOSED,
            [T.WRONG_NUMBER],
            "call.wrong_number_short",
        )
        assert f"{talk_s:g} s of talk (very short: up to 10 s)" in detail

    def test_a_withheld_caller_who_hangs_up_at_once(
        self, make_call: CallFactory, rules: RuleSet
    ) -> None:
        call = make_call(other="anonymous", talk_s=4)
        assert judge(call, rules)[2] == "call.wrong_number_short"

    @pytest.mark.parametrize("talk_s", [10.5, 25.0, 600.0])
    def test_longer_is_a_conversation(
        self, make_call: CallFactory, rules: RuleSet, talk_s: float
    ) -> None:
        """The walking skeleton's answered call lasts 25 s: a conversation."""
        assert judge(make_call(other=STRANGER, talk_s=talk_s), rules)[:3] == (
            D.NEEDS_STATUS,
            [],
            "call.conversation",
        )

    def test_unknown_talk_time_is_never_very_short(
        self, make_call: CallFactory, rules: RuleSet
    ) -> None:
        call = make_call(other=STRANGER, talk_s=None).model_copy(
            update={"talk_s": None, "answered_at": None}
        )
        disposition, _, rule, detail = judge(call, rules)
        assert (disposition, rule) == (D.NEEDS_STATUS, "call.conversation")
        assert detail == "inbound call answered, unknown s of talk"

    @pytest.mark.parametrize("direction", ["inbound", "outbound"])
    def test_very_short_with_a_known_contact_is_routine(
        self, make_call: CallFactory, rules: RuleSet, knowledge: Knowledge, direction: str
    ) -> None:
        disposition, tags, rule, detail = judge(make_call(direction, talk_s=6), rules, knowledge)
        assert (disposition, tags, rule) == (D.AUTO_CLOSED, [T.ROUTINE], "call.routine_short")
        assert detail.startswith(f"{direction} call answered, 6 s of talk")

    def test_our_very_short_call_to_a_stranger_is_a_conversation(
        self, make_call: CallFactory, rules: RuleSet
    ) -> None:
        """A cold call cut short: the manager may want to log "not interested"."""
        call = make_call("outbound", other=STRANGER, talk_s=5)
        assert judge(call, rules)[2] == "call.conversation"

    def test_thresholds_are_configurable(
        self, make_call: CallFactory, custom_rules: Callable[..., RuleSet]
    ) -> None:
        rules = custom_rules(thresholds={"very_short_call_s": 30})
        assert judge(make_call(other=STRANGER, talk_s=25), rules)[2] == "call.wrong_number_short"


@pytest.mark.parametrize("direction", ["inbound", "outbound"])
def test_a_real_conversation_needs_a_status(
    make_call: CallFactory, rules: RuleSet, knowledge: Knowledge, direction: str
) -> None:
    assert judge(make_call(direction, talk_s=240), rules, knowledge) == (
        D.NEEDS_STATUS,
        [],
        "call.conversation",
        f"{direction} call answered, 240 s of talk",
    )


def test_details_carry_figures_but_no_personal_data(
    make_call: CallFactory, rules: RuleSet, knowledge: Knowledge
) -> None:
    calls = [
        make_call(direction, status, other=number, talk_s=talk)
        for direction in ("inbound", "outbound")
        for status in ("answered", "no_answer", "voicemail")
        for number in (CLIENT_E164, STRANGER, "anonymous")
        for talk in (4.0, 300.0)
    ]
    for call in calls:
        detail = judge(call, rules, knowledge)[3]
        assert "555" not in detail
        assert "415" not in detail


def test_the_same_call_always_gets_the_same_verdict(make_call: CallFactory, rules: RuleSet) -> None:
    """Each time, and for a copy of the call made apart, the verdict is the one the rules file
    gives a voicemail: a callback, tagged missed and voicemail, by `call.voicemail`."""
    expected = (D.CALLBACK, [T.MISSED, T.VOICEMAIL], "call.voicemail")
    call = make_call("inbound", "voicemail")
    again = CallRecorded.model_validate(call.model_dump(mode="json", by_alias=True))
    verdicts = [classify_call(c, rules, NoKnowledge()) for c in (call, call, again)]
    for verdict in verdicts:
        [reason] = verdict.reasons
        assert (verdict.disposition, list(verdict.tags), reason.rule) == expected
    assert verdicts[1:] == verdicts[:1] * 2


def test_an_extension_reported_as_an_inbound_caller_is_internal(
    make_call: CallFactory, rules: RuleSet
) -> None:
    call = make_call("inbound", "no_answer", other="104")
    assert call.from_.kind == "internal"
    assert judge(call, rules)[:3] == (D.AUTO_CLOSED, [T.INTERNAL], "call.internal")
