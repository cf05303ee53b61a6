"""The only way verdicts leave the service: as records for `Bus.publish_batch`."""

from __future__ import annotations

from switchboard_shared.cloudevents import KafkaRecord, deterministic_id, encode
from switchboard_shared.events import InteractionClassified
from switchboard_shared.topics import INTERACTIONS_CLASSIFIED, Topic, history_of

SOURCE = "switchboard/classifier"


def record_of(event: InteractionClassified) -> KafkaRecord:
    """A verdict on imported history goes to the history topic, with the id it would have had
    live: a call seen both live and in an import is one interaction downstream."""
    return encode(
        topic_of(event),
        event,
        id=deterministic_id(INTERACTIONS_CLASSIFIED.name, event.interaction_id),
        source=SOURCE,
        key=event.counterpart or event.interaction_id,
        time=event.occurred_at,
        subject=event.interaction_id,
    )


def topic_of(event: InteractionClassified) -> Topic:
    source = event.call or event.mail
    if source is not None and source.historical:
        return history_of(INTERACTIONS_CLASSIFIED)
    return INTERACTIONS_CLASSIFIED
