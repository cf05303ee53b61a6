"""Call events: `calls.recorded.v1` (final), `calls.progress.v1` (live states) and
`calls.cel.v1` (raw Asterisk channel events, the CEL assembler's input)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from switchboard_shared.events.base import Event, Part
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


class ParticipantRole(StrEnum):
    """What a party did in an assembled call."""

    CALLER = "caller"
    RUNG = "rung"  # rung (ring group, queue, follow-me) and never connected
    ANSWERED = "answered"  # connected with the caller
    TRANSFERRED_TO = "transferred_to"  # reached through a transfer


class Participant(Part):
    """One party of a call assembled from channel events (Asterisk CEL)."""

    number: str | None = Field(default=None, description="Caller ID number or dialled number")
    extension: str | None = Field(default=None, description="Our endpoint (`PJSIP/101` -> 101)")
    name: str | None = Field(default=None, description="Caller ID name, when the PBX knew it")
    role: ParticipantRole
    ring_s: float = Field(default=0.0, ge=0, description="Seconds this party's phone rang")
    talk_s: float = Field(default=0.0, ge=0, description="Seconds this party talked")
    answered_at: datetime | None = Field(default=None, description="UTC; when it connected")


class TransferKind(StrEnum):
    BLIND = "blind"
    ATTENDED = "attended"
    PICKUP = "pickup"  # another phone took the ringing call
    FORWARD = "forward"


class Transfer(Part):
    """A hand-over of the call from one of our parties to another."""

    kind: TransferKind
    at: datetime = Field(description="UTC")
    by: str | None = Field(default=None, description="Extension (or number) that transferred")
    to: str | None = Field(default=None, description="Extension or number it went to")


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
    participants: list[Participant] = Field(
        default_factory=list,
        max_length=64,
        description="Every party of a call assembled from channel events (Asterisk CEL): the "
        "caller, everyone rung, who answered, who it was transferred to; empty when the "
        "provider reports legs instead",
    )
    requested: str | None = Field(
        default=None,
        description="What was dialled (the number, extension, ring group or queue), apart "
        "from who answered",
    )
    transfers: list[Transfer] = Field(default_factory=list, max_length=64)
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


class CelEvent(Event):
    """One Asterisk Channel Event Logging record, with the AMI `CEL` event's field names.

    Published as received (AMI, `POST /webhooks/asterisk-cel`), keyed by `LinkedID`; the
    assembler in ingest-calls turns the events of one call into one `calls.recorded.v1`.
    """

    event_name: str = Field(alias="EventName", max_length=64)
    event_time: datetime = Field(alias="EventTime", description="UTC")
    unique_id: str = Field(alias="UniqueID", max_length=150)
    linked_id: str = Field(alias="LinkedID", max_length=150)
    channel: str = Field(default="", alias="Channel", max_length=256)
    caller_id_num: str = Field(default="", alias="CallerIDnum", max_length=128)
    caller_id_name: str = Field(default="", alias="CallerIDname", max_length=128)
    caller_id_ani: str = Field(default="", alias="CallerIDani", max_length=128)
    caller_id_rdnis: str = Field(default="", alias="CallerIDrdnis", max_length=128)
    caller_id_dnid: str = Field(default="", alias="CallerIDdnid", max_length=128)
    exten: str = Field(default="", alias="Exten", max_length=128)
    context: str = Field(default="", alias="Context", max_length=128)
    application: str = Field(default="", alias="Application", max_length=64)
    app_data: str = Field(default="", alias="AppData", max_length=1024)
    peer: str = Field(default="", alias="Peer", max_length=1024)
    account_code: str = Field(default="", alias="AccountCode", max_length=128)
    peer_account: str = Field(default="", alias="PeerAccount", max_length=128)
    user_field: str = Field(default="", alias="Userfield", max_length=1024)
    extra: str = Field(
        default="", alias="Extra", max_length=4096, description="JSON text in Asterisk 12+"
    )
    pbx: str = Field(
        default="", max_length=128, description="Which PBX sent it (AMI host, or `push`)"
    )
