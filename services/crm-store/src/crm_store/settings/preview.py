"""What a change of the classification settings would have done: the last days' stored
interactions classified again by the same pure rules the classifier applies
(`switchboard_shared.rules`), once with the settings in force and once with the proposed ones.

Both runs see the same approximations, so their difference is the change's effect: a number
is a known contact when the stored interaction was linked to one; managers' wrong-number and
spam reports and the other legs of a call are not replayed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.core import Interaction, utcnow
from switchboard_shared.events import Disposition, InteractionClassified
from switchboard_shared.rules import (
    NoKnowledge,
    RuleSet,
    Standing,
    classify_call,
    classify_mail,
    default_rules_path,
    load_rules,
)
from switchboard_shared.rules.overlay import with_settings
from switchboard_shared.settings.groups import ClassificationSettings, TelephonySettings

log = logging.getLogger(__name__)

PREVIEW_DAYS = 7
MAX_INTERACTIONS = 20_000
MAX_EXAMPLES = 20


@dataclass
class Tally:
    calls: int = 0
    calls_auto_closed: int = 0
    messages: int = 0
    messages_auto_closed: int = 0


@dataclass(frozen=True)
class Example:
    interaction_id: str
    kind: str
    occurred_at: datetime
    counterpart: str | None
    before: str
    after: str
    rule: str


@dataclass
class Preview:
    days: int
    since: datetime
    current: Tally = field(default_factory=Tally)
    proposed: Tally = field(default_factory=Tally)
    changed: int = 0
    examples: list[Example] = field(default_factory=list)
    truncated: bool = False


class _Linked(NoKnowledge):
    """Known contacts: the counterparts the stored interactions were linked to."""

    def __init__(self, known: set[str]) -> None:
        self.known = known

    def is_known(self, point: str) -> bool:
        return point.lower() in self.known

    def standing(self, point: str, label: str, now: datetime, window_days: int) -> Standing:
        return Standing()


def base_rules(path: Path | None, region: str) -> RuleSet:
    return load_rules(path or default_rules_path(), default_region=region)


async def preview(
    session: AsyncSession,
    rules: RuleSet,
    telephony: TelephonySettings,
    current: ClassificationSettings,
    proposed: ClassificationSettings,
    *,
    days: int = PREVIEW_DAYS,
    now: datetime | None = None,
) -> Preview:
    since = (now or utcnow()) - timedelta(days=days)
    before = with_settings(rules, current, telephony)
    after = with_settings(rules, proposed, telephony)
    statement = (
        select(Interaction.payload, Interaction.contact_id, Interaction.company_id)
        .where(Interaction.occurred_at >= since)
        .order_by(Interaction.occurred_at.desc())
        .limit(MAX_INTERACTIONS + 1)
    )
    rows = list(await session.execute(statement))
    result = Preview(days, since, truncated=len(rows) > MAX_INTERACTIONS)
    events: list[InteractionClassified] = []
    known: set[str] = set()
    for payload, contact_id, company_id in rows[:MAX_INTERACTIONS]:
        try:
            event = InteractionClassified.model_validate(payload)
        except ValidationError:
            continue  # stored by an older version: nothing to replay
        events.append(event)
        if event.counterpart and (contact_id or company_id):
            known.add(event.counterpart.lower())
    knowledge = _Linked(known)
    for event in reversed(events):
        _replay(event, before, after, knowledge, result)
    return result


def _replay(
    event: InteractionClassified,
    before: RuleSet,
    after: RuleSet,
    knowledge: _Linked,
    result: Preview,
) -> None:
    if event.call is not None:
        old = classify_call(event.call, before, knowledge)
        new = classify_call(event.call, after, knowledge)
        result.current.calls += 1
        result.proposed.calls += 1
        result.current.calls_auto_closed += old.disposition is Disposition.AUTO_CLOSED
        result.proposed.calls_auto_closed += new.disposition is Disposition.AUTO_CLOSED
    elif event.mail is not None:
        old = classify_mail(event.mail, before, knowledge)
        new = classify_mail(event.mail, after, knowledge)
        result.current.messages += 1
        result.proposed.messages += 1
        result.current.messages_auto_closed += old.disposition is Disposition.AUTO_CLOSED
        result.proposed.messages_auto_closed += new.disposition is Disposition.AUTO_CLOSED
    else:
        return
    if old.disposition is not new.disposition:
        result.changed += 1
        if len(result.examples) < MAX_EXAMPLES:
            result.examples.append(
                Example(
                    event.interaction_id,
                    event.kind.value,
                    event.occurred_at,
                    event.counterpart,
                    old.disposition.value,
                    new.disposition.value,
                    new.reasons[0].rule if new.reasons else "",
                )
            )
