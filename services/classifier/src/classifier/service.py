"""The classifier's use cases: judge a call or a message with the rules in force and what the
service knows, hold the unanswered legs of a call for their siblings, release them when due.

No Kafka here: the handlers decode and publish, this decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from classifier import __version__
from classifier.legs import HeldLeg, HeldLegs, LegBook, Source
from classifier.rules import (
    KnowledgeView,
    RuleSet,
    Verdict,
    call_facts,
    classify_call,
    classify_mail,
)
from switchboard_shared.events import (
    CallDirection,
    CallRecorded,
    CallStatus,
    Disposition,
    InteractionClassified,
    InteractionKind,
    MailReceived,
)


def classifier_version(rules: RuleSet) -> str:
    """`<package version>+<rules file name>@<sha256 prefix>`: which code and rules decided."""
    return f"{__version__}+{rules.version}"


@dataclass(frozen=True)
class Held:
    """The call is an unanswered leg waiting for its siblings until `due_at`."""

    due_at: float


class Classifier:
    def __init__(
        self,
        rules: Callable[[], RuleSet],
        knowledge: KnowledgeView,
        held: HeldLegs,
        legs: LegBook | None = None,
    ) -> None:
        self._rules = rules
        self.knowledge = knowledge
        self.held = held
        self.legs = legs or LegBook()

    @property
    def rules(self) -> RuleSet:
        return self._rules()

    def mail(
        self, interaction_id: str, mail: MailReceived, received_at: datetime
    ) -> InteractionClassified:
        """Judge a message; `received_at` stands in for a missing or unreadable Date."""
        rules = self.rules
        verdict = classify_mail(mail, rules, self.knowledge)
        return InteractionClassified(
            interaction_id=interaction_id,
            kind=InteractionKind.MAIL,
            occurred_at=mail.sent_at or received_at,
            counterpart=mail.counterpart,
            mail=mail,
            tags=list(verdict.tags),
            disposition=verdict.disposition,
            reasons=list(verdict.reasons),
            classifier_version=classifier_version(rules),
        )

    def call(
        self, interaction_id: str, call: CallRecorded, now: float, source: Source | None = None
    ) -> InteractionClassified | Held:
        """Judge a call now, or hold it when it is an unanswered leg of a ring group (`source`:
        the record it came from, which stays unacknowledged while it is held)."""
        rules = self.rules
        linked = call.linked_id
        if linked and call.status is CallStatus.ANSWERED:
            self.legs.mark_answered(linked, interaction_id, now)
            self.held.release_now(linked)
        elif linked and self._should_hold(interaction_id, call, rules, now):
            due_at = now + rules.hold_s
            self.held.hold(HeldLeg(interaction_id, linked, due_at, call, source))
            return Held(due_at)
        return self._judge(interaction_id, call, rules, now)

    def release_due(
        self, now: float, topic: str | None = None
    ) -> list[tuple[HeldLeg, InteractionClassified]]:
        """Judge the held legs whose time is up (read from `topic`, when given); the caller
        publishes, then `done(leg)`."""
        rules = self.rules
        return [
            (leg, self._judge(leg.interaction_id, leg.call, rules, now))
            for leg in self.held.due(now, topic)
        ]

    def done(self, leg: HeldLeg) -> None:
        self.held.remove(leg.interaction_id)

    def _should_hold(
        self, interaction_id: str, call: CallRecorded, rules: RuleSet, now: float
    ) -> bool:
        if rules.hold_s <= 0 or call.direction is not CallDirection.INBOUND:
            return False
        if call.participants:
            return False  # assembled from channel events: every leg is in this one event
        context = self.legs.context(call.linked_id, interaction_id, now)
        if context.sibling_answered or context.sibling_missed:
            return False  # what the siblings showed is already known
        facts = call_facts(call, rules, self.knowledge)
        return not facts["hangup_answered_elsewhere"]

    def _judge(
        self, interaction_id: str, call: CallRecorded, rules: RuleSet, now: float
    ) -> InteractionClassified:
        context = self.legs.context(call.linked_id, interaction_id, now)
        verdict: Verdict = classify_call(call, rules, self.knowledge, context)
        if call.linked_id and verdict.disposition is Disposition.CALLBACK:
            self.legs.mark_missed(call.linked_id, interaction_id, now)
        return InteractionClassified(
            interaction_id=interaction_id,
            kind=InteractionKind.CALL,
            occurred_at=call.started_at,
            counterpart=call.counterpart,
            call=call,
            tags=list(verdict.tags),
            disposition=verdict.disposition,
            reasons=list(verdict.reasons),
            classifier_version=classifier_version(rules),
        )
