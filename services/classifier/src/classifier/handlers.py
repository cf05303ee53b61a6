"""Kafka edges: calls.recorded.v1 and mail.received.v1 → classifier → interactions.classified.v1.

Imported history (`calls.recorded.history.v1`, `mail.received.history.v1`) is read by consumers
of its own, which give way to the live ones (`priority.LiveFirst`); it is judged by the same
classifier, with the same state (legs, knowledge), and its verdicts go to
`interactions.classified.history.v1` (`publisher.topic_of`).

Decode (done by `subscribe`), wait for the knowledge, decide (`service.Classifier`), publish. An
unanswered leg held for its siblings is kept in the state file before the offset is committed;
`LegReleaser` publishes it when its time is up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from faststream.kafka import KafkaRouter

from classifier.metrics import HELD_LEGS, TAGS, VERDICTS
from classifier.publisher import VerdictPublisher
from classifier.service import Classifier, Held
from switchboard_shared.background import Background
from switchboard_shared.cloudevents import Envelope
from switchboard_shared.consumer import RetryableError, subscribe
from switchboard_shared.events import CallRecorded, Event, InteractionClassified, MailReceived
from switchboard_shared.kafka import BrokerUnavailable, Bus
from switchboard_shared.priority import LiveFirst
from switchboard_shared.topics import CALLS_RECORDED, MAIL_RECEIVED, history_of

log = logging.getLogger(__name__)


async def publish(publisher: VerdictPublisher, event: InteractionClassified) -> None:
    try:
        await publisher.publish(event)
    except BrokerUnavailable as exc:
        raise RetryableError(str(exc)) from exc
    VERDICTS.labels(event.kind.value, event.disposition.value).inc()
    for tag in event.tags:
        TAGS.labels(tag.value).inc()


def build_router(
    bus: Bus,
    classifier: Classifier,
    publisher: VerdictPublisher,
    knowledge_loaded: asyncio.Event,
    releaser: LegReleaser,
    *,
    group_id: str,
    max_attempts: int,
    live_first: LiveFirst | None = None,
) -> KafkaRouter:
    router = KafkaRouter()
    first = live_first or LiveFirst()

    async def on_call(envelope: Envelope, event: Event) -> None:
        assert isinstance(event, CallRecorded)
        await knowledge_loaded.wait()
        outcome = classifier.call(envelope.id, event, time.time())
        if event.linked_id:
            releaser.wake()  # held siblings may have been released by this leg
        if isinstance(outcome, Held):
            return
        await publish(publisher, outcome)

    async def on_mail(envelope: Envelope, event: Event) -> None:
        assert isinstance(event, MailReceived)
        await knowledge_loaded.wait()
        await publish(publisher, classifier.mail(envelope.id, event, envelope.time))

    async def live_call(envelope: Envelope, event: Event) -> None:
        with first.live():
            await on_call(envelope, event)

    async def live_mail(envelope: Envelope, event: Event) -> None:
        with first.live():
            await on_mail(envelope, event)

    async def past_call(envelope: Envelope, event: Event) -> None:
        await first.turn()
        await on_call(envelope, event)

    async def past_mail(envelope: Envelope, event: Event) -> None:
        await first.turn()
        await on_mail(envelope, event)

    # One group per topic: two consumers in one group would rebalance each other at start-up.
    for topic, handler, group in (
        (CALLS_RECORDED, live_call, group_id),
        (MAIL_RECEIVED, live_mail, f"{group_id}-mail"),
        (history_of(CALLS_RECORDED), past_call, f"{group_id}-history"),
        (history_of(MAIL_RECEIVED), past_mail, f"{group_id}-mail-history"),
    ):
        subscribe(router, bus, topic, handler, group_id=group, max_attempts=max_attempts)
    return router


class LegReleaser(Background):
    """Publishes held legs once due (or at once when a sibling answered); a leg stays held until
    the broker acknowledged its verdict."""

    task_name = "leg-releaser"

    def __init__(
        self,
        classifier: Classifier,
        publisher: VerdictPublisher,
        knowledge_loaded: asyncio.Event,
        interval_s: float = 0.5,
    ) -> None:
        self.classifier = classifier
        self.publisher = publisher
        self.knowledge_loaded = knowledge_loaded
        self.interval_s = interval_s
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        await self.knowledge_loaded.wait()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            self._wake.clear()
            try:
                await self.release(time.time())
            except RetryableError as exc:
                log.warning("held legs not published, retrying", extra={"error": str(exc)})
                await asyncio.sleep(1.0)
            except Exception:
                log.exception("releasing held legs failed")
                await asyncio.sleep(1.0)

    async def release(self, now: float) -> int:
        released = 0
        for leg, event in self.classifier.release_due(now):
            await publish(self.publisher, event)
            self.classifier.done(leg)
            released += 1
        HELD_LEGS.set(self.classifier.held.count())
        return released
