"""Storing classified interactions. Units of work stage changes and outbox records; the caller
commits.

`record_interactions` stores a batch of classified interactions in one transaction: it reads
what the batch needs in a few set-based queries (who has these numbers and addresses, which
activities are open for them), decides per interaction in arrival order with the pure rules of
`activities.domain` and `directory.linking` (imported history past the horizon only closes:
`horizon`), and writes everything back in bulk, outbox records included.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.activities import (
    ActivityRepository,
    ActivityRow,
    ActivityView,
    Close,
    Fold,
    ManagerView,
    Open,
    OutcomeFacts,
    activity_record,
    activity_view,
    asks_outcome,
    assignment,
    close_activity,
    domain,
)
from crm_store.config import DEFAULT_POLICY, StorePolicy
from crm_store.core import SOURCE, audit_entry, utcnow
from crm_store.directory import DirectoryRepository, Link, LinkKind, linking, owners_of
from crm_store.interactions import bounces, horizon, rows
from crm_store.interactions.repository import InteractionRepository
from crm_store.people import PeopleRepository
from switchboard_shared.cloudevents import KafkaRecord, deterministic_id
from switchboard_shared.events import (
    ActivityState,
    InteractionClassified,
    InteractionKind,
)

RACE_RETRIES = 3


@dataclass
class RecordResult:
    interaction_id: str
    duplicate: bool = False
    link: LinkKind = LinkKind.NONE
    opened: list[str] = field(default_factory=list)
    folded: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    published: int = 0
    """Outbox records staged."""
    changes: list[tuple[str, str, str]] = field(default_factory=list)
    """(kind, change, by) of every activity change, for the metrics."""


class _Raced(Exception):
    """Another transaction stored some of the same interactions meanwhile: start over."""


async def record_interaction(
    session: AsyncSession,
    event: InteractionClassified,
    *,
    policy: StorePolicy = DEFAULT_POLICY,
    source: str = SOURCE,
) -> RecordResult:
    """Store one classified interaction and act on it; a redelivered one changes nothing."""
    [result] = await record_interactions(session, [event], policy=policy, source=source)
    return result


async def record_interactions(
    session: AsyncSession,
    events: Sequence[InteractionClassified],
    *,
    policy: StorePolicy = DEFAULT_POLICY,
    source: str = SOURCE,
) -> list[RecordResult]:
    """Store a batch in arrival order; one result per event (repeats are duplicates).

    Runs in a savepoint: when a concurrent unit of work stored one of the interactions or
    opened a competing activity first, the batch is decided again on what is committed now.
    """
    for attempt in range(1, RACE_RETRIES + 1):
        try:
            async with session.begin_nested():
                return await _Batch(session, policy, source).run(events)
        except (_Raced, IntegrityError):
            if attempt == RACE_RETRIES:
                raise
    raise AssertionError("unreachable")


ACTIVITY_UPDATES = (
    "state",
    "closed_by",
    "close_reason",
    "closed_at",
    "count",
    "last_interaction_id",
    "last_occurred_at",
    "assignee_id",
    "contact_id",
    "company_id",
    "updated_at",
)


@dataclass
class _OpenSet:
    """The open activities a batch may touch, indexed the ways decisions look them up."""

    rows: dict[str, ActivityRow] = field(default_factory=dict)
    keys: dict[str, set[str]] = field(default_factory=dict)
    by_counterpart: dict[str, set[str]] = field(default_factory=dict)
    by_thread: dict[str, set[str]] = field(default_factory=dict)
    by_call: dict[str, set[str]] = field(default_factory=dict)

    def add(self, activity: ActivityRow, call_keys: Iterable[str] = ()) -> None:
        self.rows[activity.id] = activity
        self.keys.setdefault(activity.id, set())
        if activity.counterpart is not None:
            self.by_counterpart.setdefault(activity.counterpart, set()).add(activity.id)
        if activity.thread_id is not None:
            self.by_thread.setdefault(activity.thread_id, set()).add(activity.id)
        self.add_calls(activity.id, call_keys)

    def add_calls(self, activity_id: str, call_keys: Iterable[str]) -> None:
        for key in call_keys:
            self.keys[activity_id].add(key)
            self.by_call.setdefault(key, set()).add(activity_id)

    def views_for(self, event: InteractionClassified) -> list[ActivityView]:
        ids: set[str] = set()
        for counterpart in domain.related_counterparts(event):
            ids |= self.by_counterpart.get(counterpart, set())
        if event.mail is not None and event.mail.thread_id is not None:
            ids |= self.by_thread.get(event.mail.thread_id, set())
        if (key := domain.call_key(event)) is not None:
            ids |= self.by_call.get(key, set())
        rows = sorted(
            (self.rows[i] for i in ids if self.rows[i].state == ActivityState.OPEN),
            key=lambda a: (a.opened_at, a.id),
        )
        return [activity_view(a, self.keys[a.id]) for a in rows]


class _Batch:
    def __init__(self, session: AsyncSession, policy: StorePolicy, source: str) -> None:
        self.session = session
        self.repo = InteractionRepository(session)
        self.activities = ActivityRepository(session)
        self.directory = DirectoryRepository(session)
        self.people = PeopleRepository(session)
        self.policy = policy
        self.source = source
        self.records: list[KafkaRecord] = []
        self.links: list[tuple[str, str]] = []
        self.audits: list[dict[str, Any]] = []
        self.new: list[ActivityRow] = []
        self.changed: dict[str, ActivityRow] = {}
        self.cutoff = utcnow() - policy.activity_horizon
        self.answered: dict[str, datetime] = {}
        self.conversed: set[str] = set()
        """Counterparts with a conversation stored before (or earlier in the batch)."""

    async def run(self, events: Sequence[InteractionClassified]) -> list[RecordResult]:
        results = [RecordResult(e.interaction_id) for e in events]
        firsts: dict[str, int] = {}
        for n, event in enumerate(events):
            if event.interaction_id in firsts:
                results[n].duplicate = True
            else:
                firsts[event.interaction_id] = n
        existing = await self.repo.existing_interaction_ids(firsts)
        for interaction_id in existing:
            results[firsts.pop(interaction_id)].duplicate = True
        fresh = [events[n] for n in sorted(firsts.values())]
        if not fresh:
            return results

        # Pass 1: who each interaction belongs to; what is open for them; store them.
        await self.repo.plan_with_values(True)
        links = await self._links(fresh)
        threads = await bounces.link_bounces(self.repo, self.directory, fresh, links)
        managers = [
            ManagerView(
                m.id, m.email, tuple(m.extensions), m.active, tuple(m.phones), tuple(m.aliases)
            )
            for m in await self.people.list_managers(active_only=True)
        ]
        values = []
        assignees: dict[str, str | None] = {}
        for event in fresh:
            link = links[event.interaction_id]
            assignee = assignment.assign(
                event,
                managers,
                client_owner=link.owner_id,
                group_owners=self.policy.group_owners,
            )
            assignees[event.interaction_id] = assignee
            thread = threads.get(event.interaction_id)
            values.append(
                rows.interaction_values(event, assignee, link, self._domain(event), thread)
            )
        # Answered legs stored before this batch; the batch's own count from their arrival.
        answered = await self.repo.answered_call_keys(
            key for e in fresh if (key := domain.linked_key(e)) is not None
        )
        open_set = await self._open_set(fresh)
        self.conversed = await self.repo.conversed_counterparts(
            e.counterpart for e in fresh if e.counterpart
        )
        self.answered = await horizon.last_answered(self.session, fresh)
        await self.repo.plan_with_values(False)
        inserted = await self.repo.insert_interactions(values)
        if len(inserted) != len(values):
            raise _Raced()

        # Pass 2: activities, in arrival order, against the open ones and the batch's own.
        for event in fresh:
            result = results[firsts[event.interaction_id]]
            link = links[event.interaction_id]
            result.link = link.kind
            before = len(self.records)
            self._decide(event, link, assignees[event.interaction_id], open_set, answered, result)
            if domain.is_answered_call(event) and (key := domain.linked_key(event)):
                answered.add(key)
            self.records.append(
                rows.linked_record(event, assignees[event.interaction_id], link, self.source)
            )
            result.published = len(self.records) - before

        # Closes first: a callback opened in this batch may replace one it closes.
        new = {a.id for a in self.new}
        await self.activities.update_activities(
            [a.row() for i, a in self.changed.items() if i not in new], ACTIVITY_UPDATES
        )
        await self.activities.insert_activities([a.row() for a in self.new])
        await self.activities.add_links(self.links)
        # Addresses a permanent bounce marks or a message from them clears; replies told so.
        self.records += await bounces.after_storing(
            self.session, fresh, threads, source=self.source
        )
        await self.repo.add_outbox(self.records)
        await self.repo.audit(self.audits)
        return results

    def _domain(self, event: InteractionClassified) -> str | None:
        if event.kind is not InteractionKind.MAIL or not event.counterpart:
            return None
        return linking.company_domain(event.counterpart, self.policy.own_domains)

    async def _links(self, events: Sequence[InteractionClassified]) -> dict[str, Link]:
        counterparts = {e.counterpart for e in events if e.counterpart}
        owners = await self.directory.point_owners(linking.forms_of(counterparts))
        domains = {e.interaction_id: self._domain(e) for e in events}
        companies = await self.directory.domain_companies(d for d in domains.values() if d)
        out = {}
        for event in events:
            found = owners_of(owners, event.counterpart)
            by_domain = companies.get(domains[event.interaction_id] or "")
            out[event.interaction_id] = linking.resolve(
                found, *(by_domain if by_domain else (None, None))
            )
        return out

    async def _open_set(self, events: Sequence[InteractionClassified]) -> _OpenSet:
        counterparts: set[str] = set()
        threads: set[str] = set()
        keys: set[str] = set()
        for event in events:
            counterparts.update(domain.related_counterparts(event))
            if event.mail is not None and event.mail.thread_id:
                threads.add(event.mail.thread_id)
            if (key := domain.linked_key(event)) is not None:
                keys.add(key)  # a call without a linked_id is in no stored activity yet
        rows = [
            ActivityRow(**row)
            for row in await self.activities.open_activity_rows(
                counterparts, threads, keys, kinds=[k.value for k in domain.ACTED_ON]
            )
        ]
        call_keys = await self.activities.call_keys_of(a.id for a in rows)
        open_set = _OpenSet()
        for row in rows:
            open_set.add(row, call_keys.get(row.id, ()))
        return open_set

    def _decide(
        self,
        event: InteractionClassified,
        link: Link,
        assignee_id: str | None,
        open_set: _OpenSet,
        answered: set[str],
        result: RecordResult,
    ) -> None:
        linked_id = domain.linked_key(event)
        decisions = domain.decide(
            event,
            open_set.views_for(event),
            assignee_id=assignee_id,
            answered_elsewhere=linked_id is not None and linked_id in answered,
            unknown_counterpart=not link.knows_the_person,
            min_talk_s=self.policy.callback_min_talk_s,
            ask_outcome=self._asks_outcome(event, link),
        )
        decisions = horizon.acts(event, decisions, self.cutoff)
        key = domain.call_key(event)
        for decision in decisions:
            match decision:
                case Close():
                    activity = open_set.rows[decision.activity_id]
                    close_activity(activity, decision, max(event.occurred_at, activity.opened_at))
                    self.changed[activity.id] = activity
                    result.closed.append(activity.id)
                    result.changes.append(
                        (
                            activity.kind,
                            "closed" if decision.state is ActivityState.DONE else "canceled",
                            "auto",
                        )
                    )
                    self._changed(activity, "closed", event.interaction_id)
                case Fold():
                    activity = open_set.rows[decision.activity_id]
                    _fold(activity, decision, event, link)
                    self.changed[activity.id] = activity
                    open_set.add_calls(activity.id, [key] if key else [])
                    result.folded.append(activity.id)
                    result.changes.append((activity.kind, "repeated", "auto"))
                    self._changed(activity, "repeated", event.interaction_id)
                case Open():
                    activity = self._open(decision, event, link)
                    open_set.add(activity, [key] if key else [])
                    self.new.append(activity)
                    result.opened.append(activity.id)
                    result.changes.append((activity.kind, "opened", "auto"))
                    self._changed(activity, "opened", event.interaction_id)
                    done = horizon.already_answered(
                        event, activity.id, decision.kind, self.answered
                    )
                    if done is not None:
                        close_activity(activity, done[0], max(done[1], activity.opened_at))
                        result.closed.append(activity.id)
                        result.changes.append((activity.kind, "closed", "auto"))
                        self._changed(activity, "closed", event.interaction_id)

    def _asks_outcome(self, event: InteractionClassified, link: Link) -> bool:
        """The administrator's outcome policy; notes this conversation for the next ones."""
        counterpart = event.counterpart
        facts = OutcomeFacts(
            first_conversation=counterpart is not None and counterpart not in self.conversed,
            unknown_counterpart=not link.knows_the_person,
            owner_id=link.owner_id,
        )
        if counterpart is not None and (event.mail is not None or domain.is_answered_call(event)):
            self.conversed.add(counterpart)
        return asks_outcome(event, self.policy.outcomes, facts)

    def _open(self, decision: Open, event: InteractionClassified, link: Link) -> ActivityRow:
        return ActivityRow(
            id=deterministic_id("crm.activity.id", event.interaction_id, decision.kind.value),
            kind=decision.kind.value,
            state=ActivityState.OPEN.value,
            counterpart=decision.counterpart,
            thread_id=decision.thread_id,
            interaction_id=event.interaction_id,
            last_interaction_id=event.interaction_id,
            last_occurred_at=event.occurred_at,
            count=1,
            assignee_id=decision.assignee_id,
            contact_id=link.contact_id,
            company_id=link.company_id,
            opened_at=event.occurred_at,
            updated_at=utcnow(),
            due_at=self.policy.due.due_at(decision.kind, event.occurred_at),
        )

    def _changed(self, activity: ActivityRow, change: str, interaction_id: str) -> None:
        self.links.append((activity.id, interaction_id))
        self.records.append(
            activity_record(
                activity,
                change,
                interaction_id=interaction_id,
                step=interaction_id,
                source=self.source,
            )
        )
        self.audits.append(
            audit_entry(
                None,
                change,
                "activity",
                activity.id,
                interaction_id=interaction_id,
                state=activity.state,
                count=activity.count,
            )
        )


def _fold(activity: ActivityRow, decision: Fold, event: InteractionClassified, link: Link) -> None:
    if not decision.same_call:
        activity.count += 1
    if event.occurred_at >= activity.last_occurred_at:
        activity.last_interaction_id = event.interaction_id
        activity.last_occurred_at = event.occurred_at
    activity.assignee_id = activity.assignee_id or decision.assignee_id
    if activity.contact_id is None and link.contact_id is not None:
        activity.contact_id = link.contact_id
    activity.company_id = activity.company_id or link.company_id
    activity.updated_at = utcnow()
