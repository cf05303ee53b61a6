"""History is not work: an imported interaction older than the horizon opens no activity.

The history import (`switchboard import calls|mail`) brings a company's past: calls that were
called back, mail that was answered, months ago, outside Switchboard. Such an interaction is
stored and linked like any other, and it may close what was open before it (a callback the
history shows was made), but it opens nothing and folds into nothing: nobody is reminded of a
conversation that ended long ago. Within the horizon (`CRM_STORE_ACTIVITY_HORIZON_H`) history
acts as live traffic does; the history consumer replays each batch in time order, so a missed
call that was called back yesterday ends closed. Order across batches is not guaranteed (the
classifier holds an unanswered leg a few seconds for its siblings, so the callback's verdict can
come first): a callback that imported history opens for a counterpart whose answered call,
later than the missed one, is stored already is closed at once (`already_answered`).

A live interaction always acts, however late it arrives: one delivered days late (after an
outage) is still a call nobody has answered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.activities import Close, domain
from crm_store.core import Interaction
from switchboard_shared.events import ActivityKind, Disposition, InteractionClassified


def is_historical(event: InteractionClassified) -> bool:
    """Imported by a history import (the flag the intake set, carried by the verdict)."""
    source = event.call if event.call is not None else event.mail
    return source is not None and source.historical


def acts(
    event: InteractionClassified, decisions: Sequence[domain.Decision], cutoff: datetime
) -> list[domain.Decision]:
    """The decisions to apply: only closes for history that occurred before `cutoff`."""
    if is_historical(event) and event.occurred_at < cutoff:
        return [d for d in decisions if isinstance(d, Close)]
    return list(decisions)


async def last_answered(
    session: AsyncSession, events: Sequence[InteractionClassified]
) -> dict[str, datetime]:
    """When the last answered call with each counterpart of the imported missed calls of a
    batch was, among those stored before it; one row per counterpart (index-backed)."""
    counterparts = {
        e.counterpart
        for e in events
        if e.counterpart and e.disposition is Disposition.CALLBACK and is_historical(e)
    }
    if not counterparts:
        return {}
    rows = await session.execute(
        select(Interaction.counterpart, func.max(Interaction.occurred_at))
        .where(
            Interaction.counterpart.in_(sorted(counterparts)),
            Interaction.kind == "call",
            Interaction.status == "answered",
            Interaction.direction != "internal",
        )
        .group_by(Interaction.counterpart)
    )
    return {counterpart: at for counterpart, at in rows.all() if counterpart and at}


def already_answered(
    event: InteractionClassified,
    activity_id: str,
    kind: ActivityKind,
    answered: Mapping[str, datetime],
) -> tuple[Close, datetime] | None:
    """The close (and when) of a callback imported history just opened, when a call with the
    counterpart was answered after the missed one and stored before it."""
    if kind is not ActivityKind.CALLBACK or not is_historical(event) or not event.counterpart:
        return None
    at = answered.get(event.counterpart)
    if at is None or at <= event.occurred_at:
        return None
    return Close(activity_id, f"answered call at {at.isoformat()}, stored before it"), at
