"""The rules in force: the rules file with the administrator's settings over it, built again
when either changes; every verdict names the settings' versions."""

from __future__ import annotations

from classifier.rules import NoKnowledge, RuleBook, classify_call, default_rules_path
from classifier.rules.live import LiveRules
from switchboard_shared.events import CallRecorded, Disposition, Tag
from switchboard_shared.settings.follower import LiveSettings
from switchboard_shared.settings.groups import (
    ClassificationSettings,
    TelephonySettings,
    parse_group,
)
from unit.classifier.conftest import CallFactory


def book() -> RuleBook:
    return RuleBook.open(default_rules_path(), default_region="US")


def answered(make_call: CallFactory, talk_s: float, number: str = "+14155550177") -> CallRecorded:
    return make_call(status="answered", talk_s=talk_s, other=number)


def test_no_settings_leave_the_rules_file_as_it_is(make_call: CallFactory) -> None:
    rules = LiveRules(book(), LiveSettings())
    assert rules.current is rules.book.current
    verdict = classify_call(answered(make_call, 45), rules.current, NoKnowledge())
    assert verdict.disposition is Disposition.NEEDS_STATUS


def test_a_new_threshold_and_lists_apply_to_the_next_call(make_call: CallFactory) -> None:
    live = LiveSettings()
    rules = LiveRules(book(), live)
    before = rules.current
    live.apply("classification", ClassificationSettings(very_short_call_s=60), 1)
    after = rules.current
    assert after is not before
    assert after.version.endswith("+settings.1.0")
    assert rules.current is after  # built once per change
    verdict = classify_call(answered(make_call, 45), after, NoKnowledge())
    assert (verdict.disposition, verdict.tags) == (Disposition.AUTO_CLOSED, (Tag.WRONG_NUMBER,))

    listed = parse_group(
        "classification", {"service_numbers": ["(415) 555-0188"]}, default_region="US"
    )
    live.apply("classification", listed, 2)
    service = classify_call(answered(make_call, 300, "+14155550188"), rules.current, NoKnowledge())
    assert service.disposition is Disposition.AUTO_CLOSED
    assert service.reasons[0].rule == "call.service_number"

    live.apply("telephony", TelephonySettings(own_numbers=["+14155550199"]), 1)
    ours = classify_call(answered(make_call, 300, "+14155550199"), rules.current, NoKnowledge())
    assert ours.tags == (Tag.INTERNAL,)
    assert rules.current.version.endswith("+settings.2.1")
