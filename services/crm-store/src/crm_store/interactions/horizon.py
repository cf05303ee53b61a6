"""History is not work: an imported interaction older than the horizon opens no activity.

The history import (`switchboard import calls|mail`) brings a company's past: calls that were
called back, mail that was answered, months ago, outside Switchboard. Such an interaction is
stored and linked like any other, and it may close what was open before it (a callback the
history shows was made), but it opens nothing and folds into nothing: nobody is reminded of a
conversation that ended long ago. Within the horizon (`CRM_STORE_ACTIVITY_HORIZON_H`) history
acts as live traffic does; the history consumer replays it in time order, so a missed call
that was called back yesterday ends closed.

A live interaction always acts, however late it arrives: one delivered days late (after an
outage) is still a call nobody has answered.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from crm_store.activities import Close, domain
from switchboard_shared.events import InteractionClassified


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
