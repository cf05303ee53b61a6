"""Kafka edge: calls.recorded.v1 → rules → interactions.classified.v1."""

from __future__ import annotations

from faststream.kafka import KafkaRouter

from classifier import __version__
from classifier.metrics import TAGS, VERDICTS
from classifier.publisher import VerdictPublisher
from classifier.rules import RULES_VERSION, classify_call
from switchboard_shared.cloudevents import Envelope
from switchboard_shared.consumer import RetryableError, subscribe
from switchboard_shared.events import CallRecorded, Event, InteractionClassified, InteractionKind
from switchboard_shared.kafka import BrokerUnavailable, Bus
from switchboard_shared.topics import CALLS_RECORDED

CLASSIFIER_VERSION = f"{__version__}+{RULES_VERSION}"


def build_router(
    bus: Bus, publisher: VerdictPublisher, *, group_id: str, max_attempts: int
) -> KafkaRouter:
    router = KafkaRouter()

    async def on_call(envelope: Envelope, event: Event) -> None:
        assert isinstance(event, CallRecorded)
        verdict = classify_call(event)
        classified = InteractionClassified(
            interaction_id=envelope.id,
            kind=InteractionKind.CALL,
            occurred_at=event.started_at,
            counterpart=event.counterpart,
            call=event,
            tags=verdict.tags,
            disposition=verdict.disposition,
            reasons=verdict.reasons,
            classifier_version=CLASSIFIER_VERSION,
        )
        try:
            await publisher.publish(classified)
        except BrokerUnavailable as exc:
            raise RetryableError(str(exc)) from exc
        VERDICTS.labels("call", verdict.disposition.value).inc()
        for tag in verdict.tags:
            TAGS.labels(tag.value).inc()

    subscribe(router, bus, CALLS_RECORDED, on_call, group_id=group_id, max_attempts=max_attempts)
    return router
