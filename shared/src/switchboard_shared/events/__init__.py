"""Every event payload Switchboard publishes (v1)."""

from switchboard_shared.events.base import Event, Part
from switchboard_shared.events.calls import (
    CallDirection,
    CallProgress,
    CallRecorded,
    CallState,
    CallStatus,
    CelEvent,
    Participant,
    ParticipantRole,
    Transfer,
    TransferKind,
)
from switchboard_shared.events.crm import (
    ActivityChanged,
    ActivityKind,
    ActivityState,
    ClosedBy,
    ContactPoint,
    Feedback,
    InteractionLinked,
    SettingsChanged,
    Undeliverable,
)
from switchboard_shared.events.ingest import IngestRejected
from switchboard_shared.events.interactions import (
    Disposition,
    InteractionClassified,
    InteractionKind,
    Reason,
    Tag,
)
from switchboard_shared.events.mail import (
    Attachment,
    Bounce,
    MailDirection,
    MailReceived,
    SenderEvidence,
)

__all__ = [
    "ActivityChanged",
    "ActivityKind",
    "ActivityState",
    "Attachment",
    "Bounce",
    "CallDirection",
    "CallProgress",
    "CallRecorded",
    "CallState",
    "CallStatus",
    "CelEvent",
    "ClosedBy",
    "ContactPoint",
    "Disposition",
    "Event",
    "Feedback",
    "IngestRejected",
    "InteractionClassified",
    "InteractionKind",
    "InteractionLinked",
    "MailDirection",
    "MailReceived",
    "Part",
    "Participant",
    "ParticipantRole",
    "Reason",
    "SenderEvidence",
    "SettingsChanged",
    "Tag",
    "Transfer",
    "TransferKind",
    "Undeliverable",
]
