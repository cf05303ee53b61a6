"""Classification rules: pure functions from an interaction to tags and a disposition.

The first rules (calls): an inbound call nobody answered asks for a callback; a call with a
conversation asks the manager to pick an outcome; internal calls and unanswered attempts of our
own are logged without bothering anyone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from switchboard_shared.events import (
    CallDirection,
    CallRecorded,
    CallStatus,
    Disposition,
    Reason,
    Tag,
)

RULES_VERSION = "calls-1"

NOT_ANSWERED = {CallStatus.NO_ANSWER, CallStatus.BUSY, CallStatus.CANCELED, CallStatus.FAILED}


@dataclass(frozen=True)
class Verdict:
    disposition: Disposition
    tags: list[Tag] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)


def classify_call(call: CallRecorded) -> Verdict:
    if call.direction is CallDirection.INTERNAL:
        return Verdict(
            Disposition.AUTO_CLOSED,
            [Tag.INTERNAL],
            [Reason(rule="call.internal", detail="both parties are ours")],
        )
    if call.direction is CallDirection.INBOUND:
        return _inbound(call)
    return _outbound(call)


def _inbound(call: CallRecorded) -> Verdict:
    if call.status is CallStatus.ANSWERED:
        return Verdict(
            Disposition.NEEDS_STATUS,
            [],
            [Reason(rule="call.conversation", detail="inbound call answered")],
        )
    tags = [Tag.MISSED]
    if call.status is CallStatus.VOICEMAIL:
        tags.append(Tag.VOICEMAIL)
    if call.counterpart is None and call.status is CallStatus.VOICEMAIL:
        # Nobody to call back, but a message was left: someone must listen to it.
        return Verdict(
            Disposition.NEEDS_STATUS,
            [*tags, Tag.WITHHELD],
            [Reason(rule="call.voicemail_withheld", detail="voicemail from a withheld number")],
        )
    if call.counterpart is None:
        # Nobody to call back: record it, but do not open a task no one can do.
        return Verdict(
            Disposition.AUTO_CLOSED,
            [*tags, Tag.WITHHELD],
            [Reason(rule="call.missed_withheld", detail="missed call from a withheld number")],
        )
    return Verdict(
        Disposition.CALLBACK,
        tags,
        [Reason(rule="call.missed_inbound", detail=f"inbound call {call.status.value}")],
    )


def _outbound(call: CallRecorded) -> Verdict:
    if call.status is CallStatus.ANSWERED:
        return Verdict(
            Disposition.NEEDS_STATUS,
            [],
            [Reason(rule="call.conversation", detail="outbound call answered")],
        )
    return Verdict(
        Disposition.LOGGED,
        [Tag.ATTEMPT],
        [Reason(rule="call.outbound_attempt", detail=f"outbound call {call.status.value}")],
    )
