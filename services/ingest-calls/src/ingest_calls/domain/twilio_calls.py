"""Twilio's legs of one call -> one call with its participants.

A call answered through `<Dial>` is two or more Twilio calls: the parent (the caller reaching
our number) and a child per leg dialled (`ParentCallSid` names the parent). Each is a
`calls.recorded.v1` of its own when read alone (the status callback of that leg); a call log
export holds them all, and `merge` makes them one call, as the CEL path makes one call of an
Asterisk call's channels: the parent's caller, every dialled leg a participant (rung, or
answered with its talk time), answered when any leg was, the answering leg's agent, and the
parent's id (`twilio:<parent CallSid>`).
"""

from __future__ import annotations

from collections.abc import Sequence

from switchboard_shared.events import (
    CallRecorded,
    CallStatus,
    Participant,
    ParticipantRole,
)

MAX_PARTICIPANTS = 64
ANSWERED = (CallStatus.ANSWERED, CallStatus.VOICEMAIL)


def merge(legs: Sequence[CallRecorded]) -> CallRecorded:
    """One call from a parent and its dialled legs (any order; a lone leg is returned as is)."""
    ordered = sorted(legs, key=lambda leg: (leg.started_at, leg.call_id))
    parents = [leg for leg in ordered if leg.linked_id in (None, leg.call_id.split(":", 1)[1])]
    parent = parents[0] if parents else ordered[0]
    children = [leg for leg in ordered if leg is not parent]
    if not children:
        return parent
    talked = [leg for leg in children if leg.status in ANSWERED and leg.answered_at]
    first = min(
        talked, key=lambda leg: leg.answered_at or leg.ended_at or leg.started_at, default=None
    )
    participants = [
        Participant(
            number=parent.from_.e164 or parent.from_.raw or None,
            extension=parent.from_.extension,
            role=ParticipantRole.CALLER,
            ring_s=parent.ring_s or 0.0,
            talk_s=parent.talk_s or 0.0,
            answered_at=first.answered_at if first else None,
        )
    ]
    for leg in children[: MAX_PARTICIPANTS - 1]:
        connected = leg in talked
        role = ParticipantRole.RUNG
        if connected:
            role = ParticipantRole.ANSWERED if leg is first else ParticipantRole.TRANSFERRED_TO
        participants.append(
            Participant(
                number=leg.to.e164 or leg.to.raw or None,
                extension=leg.agent or leg.to.extension,
                role=role,
                ring_s=leg.ring_s or 0.0,
                talk_s=(leg.talk_s or 0.0) if connected else 0.0,
                answered_at=leg.answered_at if connected else None,
            )
        )
    if first is not None:
        status = CallStatus.ANSWERED
        agent = max(talked, key=lambda leg: leg.talk_s or 0.0).agent or parent.agent
    else:
        # Nobody dialled answered: what the last leg rang to (no answer, busy...), or the
        # parent's own ending when that was voicemail.
        status = parent.status if parent.status is CallStatus.VOICEMAIL else children[-1].status
        agent = parent.agent
    ended = max((leg.ended_at for leg in ordered if leg.ended_at), default=parent.ended_at)
    answered_at = first.answered_at if first else None
    rang_until = answered_at or ended or parent.started_at
    return parent.model_copy(
        update={
            "status": status,
            "answered_at": answered_at,
            "ended_at": ended,
            "ring_s": max(0.0, round((rang_until - parent.started_at).total_seconds(), 3)),
            "talk_s": sum(leg.talk_s or 0.0 for leg in talked),
            "agent": agent,
            "participants": participants,
            "raw": {"source": "twilio-legs", "legs": [leg.raw for leg in ordered[:20]]},
        }
    )
