"""`interactions.classified.v1`: a call or a message with the classifier's verdict."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from switchboard_shared.events.base import Event, Part
from switchboard_shared.events.calls import CallRecorded
from switchboard_shared.events.mail import MailReceived


class InteractionKind(StrEnum):
    CALL = "call"
    MAIL = "mail"


class Disposition(StrEnum):
    """What a person must do about an interaction."""

    AUTO_CLOSED = "auto_closed"
    NEEDS_STATUS = "needs_status"
    CALLBACK = "callback"
    REPLY_NEEDED = "reply_needed"
    LOGGED = "logged"


class Tag(StrEnum):
    """Why the classifier decided what it decided."""

    WRONG_NUMBER = "wrong_number"
    ROUTINE = "routine"
    INTERNAL = "internal"
    MISSED = "missed"
    VOICEMAIL = "voicemail"
    WITHHELD = "withheld"
    SPAM = "spam"
    ATTEMPT = "attempt"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    BULK = "bulk"
    NOTIFICATION = "notification"
    CALENDAR = "calendar"
    LOOP = "loop"
    SPOOFED_SENDER = "spoofed_sender"
    """The message claims one of our addresses as its sender without evidence (mail)."""


class Reason(Part):
    rule: str = Field(description="Rule id, e.g. `call.missed_inbound`")
    detail: str = ""


class InteractionClassified(Event):
    interaction_id: str = Field(description="The source event's ce_id")
    kind: InteractionKind
    occurred_at: datetime
    counterpart: str | None = None
    call: CallRecorded | None = None
    mail: MailReceived | None = None
    tags: list[Tag] = Field(default_factory=list)
    disposition: Disposition
    reasons: list[Reason] = Field(default_factory=list)
    classifier_version: str
