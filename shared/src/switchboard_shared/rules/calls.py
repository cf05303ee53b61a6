"""Facts about a call, for the call rules: what happened, who the other party is, what managers
said about the number before, and what the other legs of the same call showed."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from switchboard_shared.events import CallDirection, CallRecorded, CallStatus, ParticipantRole
from switchboard_shared.phone import NumberKind, PhoneNumber, equivalent_e164
from switchboard_shared.rules.engine import FactKind, FactSpec, Verdict, evaluate
from switchboard_shared.rules.ruleset import KnowledgeView, RuleSet, cause_key

B, N, C, T = FactKind.BOOL, FactKind.NUMBER, FactKind.CHOICE, FactKind.TEXT

CALL_FACTS: dict[str, FactSpec] = {
    "direction": FactSpec(
        C, "inbound, outbound or internal", tuple(d.value for d in CallDirection)
    ),
    "status": FactSpec(C, "the final status", tuple(s.value for s in CallStatus)),
    "answered": FactSpec(B, "a person answered (status answered)"),
    "provider": FactSpec(T, "the provider that reported the call"),
    "party": FactSpec(
        C,
        "the other party's number: external, withheld, internal or invalid",
        tuple(k.value for k in NumberKind),
    ),
    "own_number": FactSpec(B, "the other party is one of `numbers.own`"),
    "known_contact": FactSpec(B, "a CRM contact or company owns the other party's number"),
    "spam_listed": FactSpec(B, "the number is in `numbers.spam` or starts with a spam prefix"),
    "wrong_number_listed": FactSpec(
        B, "the number is one the administrator listed as a known wrong number"
    ),
    "service_number": FactSpec(
        B, "the number is one the administrator listed as a service number (bank, courier...)"
    ),
    "talk_s": FactSpec(N, "seconds talked (unknown when the provider did not say)"),
    "ring_s": FactSpec(N, "seconds until answer or end"),
    "hangup_cause": FactSpec(T, "the provider's hangup cause, as sent"),
    "hangup_answered_elsewhere": FactSpec(
        B, "the hangup cause is one of `legs.answered_elsewhere_causes`"
    ),
    "sibling_answered": FactSpec(B, "another leg of the same call (linked_id) was answered"),
    "sibling_missed": FactSpec(B, "another leg of the same call already asked for a callback"),
    "assembled": FactSpec(
        B, "the call was assembled from channel events: `participants` lists every party"
    ),
    "colleague_answered": FactSpec(
        B, "a participant of ours answered (a ring group, queue, pickup or transfer)"
    ),
    "wrong_number_reports": FactSpec(
        N, "managers who marked the number a wrong number, less overturns, within the window"
    ),
    "wrong_number_last": FactSpec(T, "date of the latest wrong-number report"),
    "spam_reports": FactSpec(N, "managers who marked the number spam, less overturns"),
    "spam_last": FactSpec(T, "date of the latest spam report"),
}

WRONG_NUMBER = "wrong_number"
SPAM = "spam"


@dataclass(frozen=True)
class LegContext:
    """What the other legs of the same call (same `linked_id`) showed so far."""

    sibling_answered: bool = False
    sibling_missed: bool = False


NO_SIBLINGS = LegContext()


def classify_call(
    call: CallRecorded,
    rules: RuleSet,
    knowledge: KnowledgeView,
    legs: LegContext = NO_SIBLINGS,
) -> Verdict:
    return evaluate(rules.call_rules, call_facts(call, rules, knowledge, legs), rules.thresholds)


def call_facts(
    call: CallRecorded, rules: RuleSet, knowledge: KnowledgeView, legs: LegContext = NO_SIBLINGS
) -> dict[str, Any]:
    party = _party(call)
    e164 = call.counterpart or (party.e164 if party is not None else None)
    forms = _forms(e164) if e164 else frozenset()
    wrong = spam = None
    if e164:
        wrong = knowledge.standing(e164, WRONG_NUMBER, call.started_at, rules.window_days)
        spam = knowledge.standing(e164, SPAM, call.started_at, rules.window_days)
    cause = call.hangup_cause
    return {
        "direction": call.direction.value,
        "status": call.status.value,
        "answered": call.status is CallStatus.ANSWERED,
        "provider": call.provider,
        "party": party.kind.value if party is not None else NumberKind.INTERNAL.value,
        "own_number": bool(forms & rules.own_numbers),
        "known_contact": any(knowledge.is_known(form) for form in forms),
        "spam_listed": bool(forms & rules.spam_numbers)
        or any(form.startswith(rules.spam_prefixes) for form in forms),
        "wrong_number_listed": bool(forms & rules.wrong_numbers),
        "service_number": bool(forms & rules.service_numbers),
        "talk_s": talk_seconds(call),
        "ring_s": call.ring_s,
        "hangup_cause": cause,
        "hangup_answered_elsewhere": bool(cause)
        and cause_key(cause or "") in rules.answered_elsewhere_causes,
        "sibling_answered": legs.sibling_answered,
        "sibling_missed": legs.sibling_missed,
        "assembled": bool(call.participants),
        "colleague_answered": colleague_answered(call),
        "wrong_number_reports": wrong.net if wrong else 0,
        "wrong_number_last": _date(wrong.last) if wrong else None,
        "spam_reports": spam.net if spam else 0,
        "spam_last": _date(spam.last) if spam else None,
    }


def colleague_answered(call: CallRecorded) -> bool:
    """Someone other than the caller connected: whatever the caller's own leg said, the call
    was taken (the assembled call of a ring group lists everyone rung and who answered)."""
    taken = (ParticipantRole.ANSWERED, ParticipantRole.TRANSFERRED_TO)
    return any(p.role in taken and p.talk_s > 0 for p in call.participants)


def talk_seconds(call: CallRecorded) -> float | None:
    if call.talk_s is not None:
        return call.talk_s
    if call.status is not CallStatus.ANSWERED:
        return 0.0
    if call.answered_at is not None and call.ended_at is not None:
        return max(0.0, (call.ended_at - call.answered_at).total_seconds())
    return None


def _party(call: CallRecorded) -> PhoneNumber | None:
    if call.direction is CallDirection.INBOUND:
        return call.from_
    if call.direction is CallDirection.OUTBOUND:
        return call.to
    return None


@lru_cache(maxsize=65_536)
def _forms(e164: str) -> frozenset[str]:
    return equivalent_e164(e164)


def _date(when: Any) -> str | None:
    return when.date().isoformat() if when is not None else None
