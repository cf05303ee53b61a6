"""A CEL scenario (`support.cel_traces`) as crm-store receives it: assembled into one call by
the ingest-calls assembler, then wrapped as `interactions.classified.v1` with the disposition
the classifier gives such a call."""

from __future__ import annotations

import random
import secrets
from datetime import datetime
from zoneinfo import ZoneInfo

from ingest_calls.domain import asterisk, cel
from ingest_calls.domain.cel_assembly import calls_from
from support.cel_traces import CLIENT, SCENARIOS, Pbx
from switchboard_shared.events import (
    CallRecorded,
    CallStatus,
    Disposition,
    InteractionClassified,
    InteractionKind,
    Tag,
)
from switchboard_shared.phone import PhonePolicy

DE = PhonePolicy(default_region="DE")
RULES = asterisk.rules_from({})


def assembled(name: str, *, client: str = CLIENT, fresh: bool = False) -> CallRecorded:
    """The one call the scenario's events make, the client calling from `client`; `fresh`
    gives the call ids and channels of its own (tests sharing a database)."""
    pbx = Pbx(epoch=random.randrange(10**9, 2 * 10**9), tag=secrets.token_hex(3)) if fresh else None
    events = SCENARIOS[name](pbx)[0].events
    events = [{k: (client if v == CLIENT else v) for k, v in e.items()} for e in events]
    [call] = calls_from(cel.parse_batch(events, ZoneInfo("UTC"), "test"), RULES, DE, "DE")
    return call


def classified(call: CallRecorded, *, at: datetime | None = None) -> InteractionClassified:
    """The call as the classifier passes it on: missed or voicemail asks for a callback, a
    conversation for its outcome (what `call.missed_inbound` and `call.answered` decide)."""
    answered = call.status is CallStatus.ANSWERED
    tags = (
        [] if answered else [Tag.VOICEMAIL if call.status is CallStatus.VOICEMAIL else Tag.MISSED]
    )
    return InteractionClassified(
        interaction_id=f"ce-{call.call_id}",
        kind=InteractionKind.CALL,
        occurred_at=at or call.started_at,
        counterpart=call.counterpart,
        call=call,
        tags=tags,
        disposition=Disposition.NEEDS_STATUS if answered else Disposition.CALLBACK,
        classifier_version="test",
    )
