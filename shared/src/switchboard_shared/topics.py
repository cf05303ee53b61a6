"""The topic registry: every topic, its CloudEvents type and its payload model."""

from __future__ import annotations

from dataclasses import dataclass

from switchboard_shared import events as ev


@dataclass(frozen=True)
class Topic:
    name: str
    ce_type: str
    model: type[ev.Event]
    producer: str
    description: str
    compacted: bool = False
    history_of: str | None = None  # the live topic whose past this topic carries (imports)

    @property
    def dlq(self) -> str:
        """The dead-letter topic of this topic's consumers."""
        return f"{self.name}.dlq"


CALLS_RECORDED = Topic(
    "calls.recorded.v1",
    "switchboard.call.recorded.v1",
    ev.CallRecorded,
    "ingest-calls",
    "A finished call. Key: counterpart E.164, else call_id.",
)
CALLS_PROGRESS = Topic(
    "calls.progress.v1",
    "switchboard.call.progress.v1",
    ev.CallProgress,
    "ingest-calls",
    "Non-final call states (ringing, answered) for live consumers. Key: as calls.recorded.v1.",
)
CALLS_CEL = Topic(
    "calls.cel.v1",
    "switchboard.call.cel.v1",
    ev.CelEvent,
    "ingest-calls",
    "Raw Asterisk CEL events (AMI client, POST /webhooks/asterisk-cel), the CEL assembler's "
    "input. Key: LinkedID.",
)
MAIL_RECEIVED = Topic(
    "mail.received.v1",
    "switchboard.mail.received.v1",
    ev.MailReceived,
    "ingest-mail",
    "A message a mailbox received or sent. Key: counterpart address, else message_id.",
)
INGEST_REJECTED = Topic(
    "ingest.rejected.v1",
    "switchboard.ingest.rejected.v1",
    ev.IngestRejected,
    "ingest-calls, ingest-mail",
    "Authenticated input that could not be parsed, kept for replay. Key: source.",
)
INTERACTIONS_CLASSIFIED = Topic(
    "interactions.classified.v1",
    "switchboard.interaction.classified.v1",
    ev.InteractionClassified,
    "classifier",
    "A call or message with tags and a disposition. Key: counterpart, else interaction_id.",
)
CRM_INTERACTIONS = Topic(
    "crm.interactions.v1",
    "switchboard.crm.interaction.linked.v1",
    ev.InteractionLinked,
    "crm-store",
    "An interaction linked to contact, company and manager. Key: counterpart.",
)
CRM_ACTIVITIES = Topic(
    "crm.activities.v1",
    "switchboard.crm.activity.changed.v1",
    ev.ActivityChanged,
    "crm-store",
    "An activity opened, repeated, given a status or closed. Key: activity_id.",
)
CRM_CONTACT_POINTS = Topic(
    "crm.contact-points.v1",
    "switchboard.crm.contact-point.v1",
    ev.ContactPoint,
    "crm-store",
    "Compacted: who owns a number or address now. Key: the E.164 number or address; "
    "a null value is the tombstone.",
    compacted=True,
)
CRM_FEEDBACK = Topic(
    "crm.feedback.v1",
    "switchboard.crm.feedback.v1",
    ev.Feedback,
    "crm-store",
    "A manager's preset on an interaction and whether it overturns the classifier.",
)
CLASSIFIER_KNOWLEDGE = Topic(
    "classifier.knowledge.v1",
    "switchboard.classifier.reputation.v1",
    ev.Reputation,
    "classifier",
    "Compacted: the wrong-number and spam reputation of a number or address learned from "
    "crm.feedback.v1, kept after the feedback expired; read in full by every classifier at "
    "start. Key: the E.164 number or address.",
    compacted=True,
)
CRM_SETTINGS = Topic(
    "crm.settings.v1",
    "switchboard.crm.settings.v1",
    ev.SettingsChanged,
    "crm-store",
    "Compacted: the latest values of each group of settings an administrator edits. Key: the "
    "group. Every service reads it to its end before it consumes anything, then follows it.",
    compacted=True,
)

# History (imports of past calls and mail) travels on topics of its own, with the live topics'
# types and models and `historical: true` in the data, so that a consumer reads it in a second,
# lower-priority consumer and a 200,000-row import never queues ahead of today's missed call.
CALLS_RECORDED_HISTORY = Topic(
    "calls.recorded.history.v1",
    CALLS_RECORDED.ce_type,
    ev.CallRecorded,
    "switchboard import",
    "Imported past calls (historical: true), as calls.recorded.v1. Key: as calls.recorded.v1.",
    history_of=CALLS_RECORDED.name,
)
MAIL_RECEIVED_HISTORY = Topic(
    "mail.received.history.v1",
    MAIL_RECEIVED.ce_type,
    ev.MailReceived,
    "switchboard import",
    "Imported past messages (historical: true), as mail.received.v1. Key: as mail.received.v1.",
    history_of=MAIL_RECEIVED.name,
)
INTERACTIONS_CLASSIFIED_HISTORY = Topic(
    "interactions.classified.history.v1",
    INTERACTIONS_CLASSIFIED.ce_type,
    ev.InteractionClassified,
    "classifier",
    "Verdicts on imported history, as interactions.classified.v1; for a lower-priority "
    "consumer. Key: as interactions.classified.v1.",
    history_of=INTERACTIONS_CLASSIFIED.name,
)

ALL: tuple[Topic, ...] = (
    CALLS_RECORDED,
    CALLS_PROGRESS,
    CALLS_CEL,
    MAIL_RECEIVED,
    INGEST_REJECTED,
    INTERACTIONS_CLASSIFIED,
    CRM_INTERACTIONS,
    CRM_ACTIVITIES,
    CRM_CONTACT_POINTS,
    CRM_FEEDBACK,
    CLASSIFIER_KNOWLEDGE,
    CRM_SETTINGS,
    CALLS_RECORDED_HISTORY,
    MAIL_RECEIVED_HISTORY,
    INTERACTIONS_CLASSIFIED_HISTORY,
)
BY_NAME = {t.name: t for t in ALL}
# A history topic shares its live topic's type: the type names the live topic.
BY_TYPE = {t.ce_type: t for t in ALL if t.history_of is None}
HISTORY = {t.history_of: t for t in ALL if t.history_of is not None}

# Topics whose consumers dead-letter: one DLQ per consumed topic.
CONSUMED = (
    CALLS_RECORDED,
    MAIL_RECEIVED,
    INTERACTIONS_CLASSIFIED,
    CALLS_RECORDED_HISTORY,
    MAIL_RECEIVED_HISTORY,
    INTERACTIONS_CLASSIFIED_HISTORY,
)


def history_of(topic: Topic) -> Topic:
    """The topic that carries `topic`'s imported past."""
    return HISTORY[topic.name]


def all_topic_names() -> list[str]:
    """Every topic to create, DLQs included."""
    return [t.name for t in ALL] + [t.dlq for t in CONSUMED]
