"""Building call events the same way for every provider."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from switchboard_shared.cloudevents import deterministic_id
from switchboard_shared.events import (
    CallDirection,
    CallProgress,
    CallRecorded,
    CallState,
    CallStatus,
    Participant,
    Transfer,
)
from switchboard_shared.phone import NumberKind, PhoneNumber, PhonePolicy, normalise_phone


def counterpart_of(
    direction: CallDirection, caller: PhoneNumber, callee: PhoneNumber
) -> str | None:
    """The other party's E.164: the caller of an inbound call, the callee of an outbound one."""
    if direction is CallDirection.INTERNAL:
        return None
    party = caller if direction is CallDirection.INBOUND else callee
    return party.e164 if party.kind is NumberKind.EXTERNAL else None


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, round((end - start).total_seconds(), 3))


CallEvent = CallRecorded | CallProgress


def event_id(event: CallEvent) -> str:
    """The same provider event always gets the same ce_id, so a retry dedupes; a different
    status or state of the same call is a different event."""
    if isinstance(event, CallRecorded):
        return deterministic_id("calls.recorded.v1", event.call_id, event.status.value)
    return deterministic_id("calls.progress.v1", event.call_id, event.state.value)


def build_progress(
    *,
    provider: str,
    provider_call_id: str,
    direction: CallDirection,
    state: CallState,
    at: datetime,
    caller: str | None,
    callee: str | None,
    policy: PhonePolicy,
    region: str | None = None,
    agent: str | None = None,
    raw: dict[str, Any] | None = None,
) -> CallProgress:
    from_ = normalise_phone(caller, policy, region=region)
    to = normalise_phone(callee, policy, region=region)
    return CallProgress(
        call_id=f"{provider}:{provider_call_id}",
        provider=provider,
        direction=direction,
        state=state,
        at=at,
        from_=from_,
        to=to,
        counterpart=counterpart_of(direction, from_, to),
        agent=agent,
        raw=raw or {},
    )


def build_recorded(
    *,
    provider: str,
    provider_call_id: str,
    direction: CallDirection,
    status: CallStatus,
    started_at: datetime,
    answered_at: datetime | None,
    ended_at: datetime | None,
    caller: str | None,
    callee: str | None,
    policy: PhonePolicy,
    region: str | None = None,
    ring_s: float | None = None,
    talk_s: float | None = None,
    agent: str | None = None,
    linked_id: str | None = None,
    recording_url: str | None = None,
    hangup_cause: str | None = None,
    raw: dict[str, Any] | None = None,
    participants: list[Participant] | None = None,
    requested: str | None = None,
    transfers: list[Transfer] | None = None,
) -> CallRecorded:
    from_ = normalise_phone(caller, policy, region=region)
    to = normalise_phone(callee, policy, region=region)
    answered = status in (CallStatus.ANSWERED, CallStatus.VOICEMAIL)
    if ring_s is None and (answered_at or not answered):
        ring_s = seconds_between(started_at, answered_at or ended_at)
    if talk_s is None:
        # Answered without an answer time: the talk time is unknown, not zero.
        talk_s = (
            seconds_between(answered_at, ended_at) if answered_at else (None if answered else 0.0)
        )
    return CallRecorded(
        call_id=f"{provider}:{provider_call_id}",
        provider=provider,
        direction=direction,
        status=status,
        started_at=started_at,
        answered_at=answered_at,
        ended_at=ended_at,
        ring_s=ring_s,
        talk_s=talk_s,
        from_=from_,
        to=to,
        counterpart=counterpart_of(direction, from_, to),
        agent=agent,
        linked_id=linked_id,
        recording_url=recording_url,
        hangup_cause=hangup_cause,
        raw=raw or {},
        participants=participants or [],
        requested=requested,
        transfers=transfers or [],
    )
