"""Calls assembled from Asterisk CEL: one event per call, judged at once, by its participants."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from classifier.knowledge import Knowledge
from classifier.legs import MemoryHeldLegs
from classifier.rules import RuleSet
from classifier.service import Classifier, Held
from ingest_calls.domain import asterisk, cel
from ingest_calls.domain.cel_assembly import calls_from
from support.cel_traces import SCENARIOS
from switchboard_shared.events import CallRecorded, CallStatus, Disposition, InteractionClassified
from switchboard_shared.phone import PhonePolicy

T0 = 1_000_000.0


def assembled(name: str) -> CallRecorded:
    pbx, _ = SCENARIOS[name](None)
    events = cel.parse_batch(pbx.events, ZoneInfo("UTC"), "test")
    (call,) = calls_from(events, asterisk.rules_from({}), PhonePolicy("DE"), "DE")
    return call


@pytest.fixture
def classifier(rules: RuleSet, knowledge: Knowledge) -> Classifier:
    return Classifier(lambda: rules, knowledge, MemoryHeldLegs())


def judged(classifier: Classifier, call: CallRecorded) -> InteractionClassified:
    outcome = classifier.call(f"ev-{call.call_id}", call, T0)
    assert not isinstance(outcome, Held), "an assembled call has no sibling legs to wait for"
    return outcome


@pytest.mark.parametrize("name", ["ring_group", "queue", "pickup", "follow_me"])
def test_a_call_a_colleague_took_asks_nobody_to_call_back(
    classifier: Classifier, name: str
) -> None:
    verdict = judged(classifier, assembled(name))
    assert verdict.disposition is not Disposition.CALLBACK
    assert "call.answered_elsewhere" not in [r.rule for r in verdict.reasons]


def test_the_participants_overrule_a_caller_leg_that_says_missed(
    classifier: Classifier,
) -> None:
    """A PBX that reports the call as the caller's leg (no answer) while its participants show
    102 talked: nobody must call back."""
    call = assembled("ring_group").model_copy(
        update={"status": CallStatus.NO_ANSWER, "answered_at": None, "talk_s": 0.0}
    )
    verdict = judged(classifier, call)
    assert verdict.disposition is Disposition.AUTO_CLOSED
    assert [r.rule for r in verdict.reasons] == ["call.answered_elsewhere"]


@pytest.mark.parametrize("name", ["no_answer", "voicemail"])
def test_a_missed_assembled_call_asks_for_one_callback_at_once(
    classifier: Classifier, name: str
) -> None:
    verdict = judged(classifier, assembled(name))
    assert verdict.disposition is Disposition.CALLBACK
    assert classifier.held.count() == 0
