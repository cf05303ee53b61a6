"""The outcome policy: whether a conversation the rules leave to a person asks its manager for an
outcome (`log_outcome`), by the administrator's settings (`OutcomeSettings`). Pure."""

from __future__ import annotations

from dataclasses import dataclass

from crm_store.activities.domain import talk_seconds
from switchboard_shared.events import CallStatus, InteractionClassified
from switchboard_shared.settings.groups import OutcomeSettings


@dataclass(frozen=True)
class OutcomeFacts:
    """What the outcome policy looks at beyond the interaction itself."""

    first_conversation: bool = False
    """No earlier conversation (answered call, message) with this counterpart is stored."""
    unknown_counterpart: bool = False
    """No contact or company has the counterpart."""
    owner_id: str | None = None
    """The manager who owns the client."""


def asks_outcome(
    event: InteractionClassified, policy: OutcomeSettings, facts: OutcomeFacts
) -> bool:
    """Whether a conversation the rules leave to a person (`needs_status`) asks its manager for
    an outcome: asking is on and at least one of the policy's conditions holds. A call nobody
    answered (a voicemail from a withheld number) is not a conversation: it always asks."""
    if not policy.ask:
        return False
    call = event.call
    if call is None:
        return policy.mail
    if call.status is not CallStatus.ANSWERED:
        return True
    if policy.first_conversation and facts.first_conversation:
        return True
    if policy.unknown_counterpart and facts.unknown_counterpart:
        return True
    seconds = talk_seconds(event)
    if policy.min_talk_min > 0 and seconds is not None and seconds >= policy.min_talk_min * 60:
        return True
    return facts.owner_id is not None and facts.owner_id in policy.owners
