"""Call events: `calls.recorded.v1` (final) and `calls.progress.v1` (live states)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from switchboard_shared.events.base import Event
from switchboard_shared.phone import PhoneNumber


class CallDirection(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


class CallStatus(StrEnum):
    """Final outcome of a call."""

    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    CANCELED = "canceled"
    VOICEMAIL = "voicemail"


class CallState(StrEnum):
    """A non-final state, published for live consumers."""

    INITIATED = "initiated"
    RINGING = "ringing"
    ANSWERED = "answered"


class CallRecorded(Event):
    """A finished call, as one provider reported it."""

    call_id: str = Field(description="`{provider}:{provider call id}`")
    provider: str
    direction: CallDirection
    status: CallStatus
    started_at: datetime = Field(description="UTC")
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    ring_s: float | None = Field(default=None, ge=0, description="Seconds until answer or end")
    talk_s: float | None = Field(default=None, ge=0, description="Seconds talked")
    from_: PhoneNumber = Field(alias="from")
    to: PhoneNumber
    counterpart: str | None = Field(
        default=None, description="E.164 of the other party (not ours); None when withheld"
    )
    agent: str | None = Field(default=None, description="Our extension, user or SIP endpoint")
    linked_id: str | None = Field(
        default=None, description="Shared by the legs of one call (Asterisk linkedid)"
    )
    recording_url: str | None = None
    hangup_cause: str | None = None
    raw: dict[str, Any] = Field(default_factory=dict, description="Provider payload, unmodified")
    historical: bool = Field(
        default=False, description="Imported from the past (a history import), not live"
    )


class CallProgress(Event):
    """A live, non-final state of a call in progress."""

    call_id: str
    provider: str
    direction: CallDirection
    state: CallState
    at: datetime = Field(description="UTC")
    from_: PhoneNumber = Field(alias="from")
    to: PhoneNumber
    counterpart: str | None = None
    agent: str | None = None
    raw: dict[str, Any] = Field(default_factory=dict)
