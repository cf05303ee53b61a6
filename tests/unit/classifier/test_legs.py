"""Legs of one call (same linked_id) are judged as one call, whatever order they arrive in."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from classifier.knowledge import Knowledge
from classifier.legs import MemoryHeldLegs
from classifier.rules import RuleSet
from classifier.service import Classifier, Held
from switchboard_shared.events import Disposition, InteractionClassified, Tag

from .conftest import CallFactory

D, T = Disposition, Tag
T0 = 1_000_000.0


@pytest.fixture
def classifier(rules: RuleSet, knowledge: Knowledge) -> Classifier:
    return Classifier(lambda: rules, knowledge, MemoryHeldLegs())


def published(outcome: InteractionClassified | Held) -> InteractionClassified:
    assert isinstance(outcome, InteractionClassified)
    return outcome


def release(classifier: Classifier, now: float) -> dict[str, InteractionClassified]:
    out = {}
    for leg, event in classifier.release_due(now):
        out[leg.interaction_id] = event
        classifier.done(leg)
    return out


def test_colleague_answered_after_the_other_legs_were_reported(
    classifier: Classifier, make_call: CallFactory
) -> None:
    """FreePBX ring group: 102 and 103 rang in vain, 101 picked up; the CDRs of 102 and 103
    arrive first. Nobody gets a callback; 101 gets one log_outcome."""
    for leg in ("102", "103"):
        call = make_call("inbound", "no_answer", linked_id="L1", agent=leg, call_id=f"a:{leg}")
        assert isinstance(classifier.call(f"ev-{leg}", call, T0), Held)
    assert release(classifier, T0 + 1) == {}, "held legs wait for their siblings"

    answered = make_call("inbound", "answered", linked_id="L1", agent="101", talk_s=200)
    verdict = published(classifier.call("ev-101", answered, T0 + 1.5))
    assert verdict.disposition is D.NEEDS_STATUS

    released = release(classifier, T0 + 1.5)  # at once, not after hold_s
    assert set(released) == {"ev-102", "ev-103"}
    for event in released.values():
        assert event.disposition is D.AUTO_CLOSED
        assert [r.rule for r in event.reasons] == ["call.answered_elsewhere"]
        assert event.interaction_id in ("ev-102", "ev-103")
    assert classifier.held.count() == 0


def test_colleague_answered_before_the_other_legs_were_reported(
    classifier: Classifier, make_call: CallFactory
) -> None:
    answered = make_call("inbound", "answered", linked_id="L2", agent="101", talk_s=200)
    assert published(classifier.call("ev-101", answered, T0)).disposition is D.NEEDS_STATUS
    late = make_call("inbound", "canceled", linked_id="L2", agent="102")
    verdict = published(classifier.call("ev-102", late, T0 + 0.1))  # not held: already known
    assert (verdict.disposition, verdict.tags) == (D.AUTO_CLOSED, [])


def test_nobody_answered_one_callback_for_the_call(
    classifier: Classifier, make_call: CallFactory, rules: RuleSet
) -> None:
    for leg in ("101", "102", "103"):
        call = make_call("inbound", "no_answer", linked_id="L3", agent=leg)
        assert isinstance(classifier.call(f"ev-{leg}", call, T0), Held)
    released = release(classifier, T0 + rules.hold_s)
    dispositions = sorted((e.disposition.value, e.reasons[0].rule) for e in released.values())
    assert dispositions == [
        ("auto_closed", "call.missed_leg_repeat"),
        ("auto_closed", "call.missed_leg_repeat"),
        ("callback", "call.missed_inbound"),
    ]
    # A straggler leg of the same call arrives later: still no second callback.
    late = make_call("inbound", "no_answer", linked_id="L3", agent="104")
    assert published(classifier.call("ev-104", late, T0 + 10)).reasons[0].rule == (
        "call.missed_leg_repeat"
    )


def test_judging_a_leg_again_gives_the_same_verdict(
    classifier: Classifier, make_call: CallFactory, rules: RuleSet
) -> None:
    """A publish that failed is retried: the leg must not count as its own sibling."""
    call = make_call("inbound", "no_answer", linked_id="L4")
    classifier.call("ev-1", call, T0)
    first = classifier.release_due(T0 + rules.hold_s)
    again = classifier.release_due(T0 + rules.hold_s + 1)
    assert [e for _, e in first] == [e for _, e in again]
    assert first[0][1].disposition is D.CALLBACK


def test_a_cause_that_says_answered_elsewhere_is_not_held(
    classifier: Classifier, make_call: CallFactory
) -> None:
    call = make_call("inbound", "canceled", linked_id="L5", hangup_cause="ANSWERED_ELSEWHERE")
    assert published(classifier.call("ev-1", call, T0)).reasons[0].rule == "call.answered_elsewhere"


@pytest.mark.parametrize(
    ("direction", "linked_id"), [("inbound", None), ("outbound", "L6"), ("internal", "L7")]
)
def test_only_unanswered_inbound_legs_wait(
    classifier: Classifier, make_call: CallFactory, direction: str, linked_id: str | None
) -> None:
    call = make_call(direction, "no_answer", linked_id=linked_id)
    assert isinstance(classifier.call("ev-1", call, T0), InteractionClassified)


def test_holding_can_be_switched_off(
    custom_rules: Callable[..., RuleSet], knowledge: Knowledge, make_call: CallFactory
) -> None:
    rules = custom_rules(legs={"hold_s": 0})
    classifier = Classifier(lambda: rules, knowledge, MemoryHeldLegs())
    call = make_call("inbound", "no_answer", linked_id="L8")
    assert published(classifier.call("ev-1", call, T0)).disposition is D.CALLBACK


def test_the_verdict_names_the_rules_that_decided(
    classifier: Classifier, make_call: CallFactory, rules: RuleSet
) -> None:
    verdict = published(classifier.call("ce-123", make_call(talk_s=60), T0))
    assert verdict.interaction_id == "ce-123"
    assert verdict.classifier_version == f"0.1.0+{rules.version}"
    assert rules.version.startswith("default.yaml@")
    assert len(rules.version.split("@")[1]) == 12
