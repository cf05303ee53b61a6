"""Units of work of crm-store. They stage changes and outbox records; the caller commits.

`record_interactions` stores a batch of classified interactions in one transaction: it reads
what the batch needs in a few set-based queries (who has these numbers and addresses, which
activities are open for them), decides per interaction in arrival order with the pure rules of
`domain` and `linking`, and writes everything back in bulk, outbox records included.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store import domain, linking
from crm_store.domain import ActivityView, Close, DuePolicy, Fold, ManagerView, Open, Principal
from crm_store.linking import Link, LinkKind, PointOwner
from crm_store.models import Activity, Interaction, utcnow
from crm_store.repository import Repository
from switchboard_shared.cloudevents import KafkaRecord, deterministic_id, encode, encode_tombstone
from switchboard_shared.events import (
    ActivityChanged,
    ActivityKind,
    ActivityState,
    ClosedBy,
    ContactPoint,
    Disposition,
    Feedback,
    InteractionClassified,
    InteractionKind,
    InteractionLinked,
    Tag,
)
from switchboard_shared.problems import Problem
from switchboard_shared.topics import (
    CRM_ACTIVITIES,
    CRM_CONTACT_POINTS,
    CRM_FEEDBACK,
    CRM_INTERACTIONS,
)

SOURCE = "crm-store"
SYSTEM = "system"
SNAPSHOT_KEY = "contact_points_snapshot"
RACE_RETRIES = 3


@dataclass(frozen=True)
class StorePolicy:
    """What the rules need from the settings."""

    own_domains: tuple[str, ...] = ()
    due: DuePolicy = field(default_factory=DuePolicy)


DEFAULT_POLICY = StorePolicy()


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


def actor_of(who: Principal) -> str:
    if who.manager_id:
        return f"manager:{who.manager_id}"
    if who.token_id:
        return f"token:{who.token_id}"
    return "bootstrap-admin"


def audit_entry(
    who: Principal | None, action: str, entity: str, entity_id: str, **changes: Any
) -> dict[str, Any]:
    return {
        "actor": SYSTEM if who is None else actor_of(who),
        "actor_role": SYSTEM if who is None else who.role.value,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "changes": changes,
    }


# -- recording interactions --------------------------------------------------------------------


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
                return await _Batch(Repository(session), policy, source).run(events)
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
class _Act:
    """An activity row as the batch path handles it: plain data, written back in bulk."""

    id: str
    kind: str
    state: str
    counterpart: str | None
    thread_id: str | None
    interaction_id: str
    last_interaction_id: str
    last_occurred_at: datetime
    count: int
    assignee_id: str | None
    opened_at: datetime
    updated_at: datetime
    contact_id: str | None = None
    company_id: str | None = None
    preset: str | None = None
    note: str | None = None
    closed_by: str | None = None
    close_reason: str | None = None
    closed_at: datetime | None = None
    due_at: datetime | None = None

    def row(self) -> dict[str, Any]:
        return dict(self.__dict__)


AnyActivity = Activity | _Act


@dataclass
class _OpenSet:
    """The open activities a batch may touch, indexed the ways decisions look them up."""

    rows: dict[str, _Act] = field(default_factory=dict)
    keys: dict[str, set[str]] = field(default_factory=dict)
    by_counterpart: dict[str, set[str]] = field(default_factory=dict)
    by_thread: dict[str, set[str]] = field(default_factory=dict)
    by_call: dict[str, set[str]] = field(default_factory=dict)

    def add(self, activity: _Act, call_keys: Iterable[str] = ()) -> None:
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
        return [_view(a, self.keys[a.id]) for a in rows]


class _Batch:
    def __init__(self, repo: Repository, policy: StorePolicy, source: str) -> None:
        self.repo = repo
        self.policy = policy
        self.source = source
        self.records: list[KafkaRecord] = []
        self.links: list[tuple[str, str]] = []
        self.audits: list[dict[str, Any]] = []
        self.new: list[_Act] = []
        self.changed: dict[str, _Act] = {}

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
        managers = [
            ManagerView(m.id, m.email, tuple(m.extensions), m.active)
            for m in await self.repo.list_managers(active_only=True)
        ]
        rows = []
        assignees: dict[str, str | None] = {}
        for event in fresh:
            link = links[event.interaction_id]
            assignee = domain.choose_assignee(event, managers) or link.owner_id
            assignees[event.interaction_id] = assignee
            rows.append(_interaction_values(event, assignee, link, self._domain(event)))
        # Answered legs stored before this batch; the batch's own count from their arrival.
        answered = await self.repo.answered_call_keys(
            key for e in fresh if (key := domain.linked_key(e)) is not None
        )
        open_set = await self._open_set(fresh)
        await self.repo.plan_with_values(False)
        inserted = await self.repo.insert_interactions(rows)
        if len(inserted) != len(rows):
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
                _linked_record(event, assignees[event.interaction_id], link, self.source)
            )
            result.published = len(self.records) - before

        # Closes first: a callback opened in this batch may replace one it closes.
        new = {a.id for a in self.new}
        await self.repo.update_activities(
            [a.row() for i, a in self.changed.items() if i not in new], ACTIVITY_UPDATES
        )
        await self.repo.insert_activities([a.row() for a in self.new])
        await self.repo.add_links(self.links)
        await self.repo.add_outbox(self.records)
        await self.repo.audit(self.audits)
        return results

    def _domain(self, event: InteractionClassified) -> str | None:
        if event.kind is not InteractionKind.MAIL or not event.counterpart:
            return None
        return linking.company_domain(event.counterpart, self.policy.own_domains)

    async def _links(self, events: Sequence[InteractionClassified]) -> dict[str, Link]:
        counterparts = {e.counterpart for e in events if e.counterpart}
        owners = await self.repo.point_owners(linking.forms_of(counterparts))
        domains = {e.interaction_id: self._domain(e) for e in events}
        companies = await self.repo.domain_companies(d for d in domains.values() if d)
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
            _Act(**row)
            for row in await self.repo.open_activity_rows(
                counterparts, threads, keys, kinds=[k.value for k in domain.ACTED_ON]
            )
        ]
        call_keys = await self.repo.call_keys_of(a.id for a in rows)
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
        )
        key = domain.call_key(event)
        for decision in decisions:
            match decision:
                case Close():
                    activity = open_set.rows[decision.activity_id]
                    _close(activity, decision, max(event.occurred_at, activity.opened_at))
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

    def _open(self, decision: Open, event: InteractionClassified, link: Link) -> _Act:
        return _Act(
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

    def _changed(self, activity: _Act, change: str, interaction_id: str) -> None:
        self.links.append((activity.id, interaction_id))
        self.records.append(
            _activity_record(
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


def owners_of(owners: dict[str, list[PointOwner]], counterpart: str | None) -> list[PointOwner]:
    """The owners of a counterpart across its equivalent forms."""
    if not counterpart:
        return []
    return [o for form in sorted(linking.point_forms(counterpart)) for o in owners.get(form, [])]


def _close(activity: AnyActivity, decision: Close, at: datetime) -> None:
    activity.state = decision.state.value
    activity.closed_by = ClosedBy.AUTO.value
    activity.close_reason = decision.reason
    activity.closed_at = at
    activity.updated_at = utcnow()


def _fold(activity: _Act, decision: Fold, event: InteractionClassified, link: Link) -> None:
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


# -- statuses ----------------------------------------------------------------------------------


async def set_status(
    session: AsyncSession,
    activity_id: str,
    preset_code: str,
    note: str | None,
    actor: Principal,
    *,
    source: str = SOURCE,
) -> Activity:
    """A person picks a preset for an activity; closing presets close it."""
    repo = Repository(session)
    activity = await repo.get_activity(activity_id, for_update=True)
    if activity is None or not domain.can_see_activity(actor, activity.assignee_id):
        raise Problem(404, "Not found", f"no activity {activity_id}")
    if not domain.can_set_status(actor, activity.assignee_id):
        raise Problem(403, "Forbidden", f"role {actor.role.value} cannot set statuses")
    if activity.state != ActivityState.OPEN:
        raise Problem(409, "Activity is closed", f"activity {activity_id} is {activity.state}")
    preset = await repo.get_preset(preset_code)
    if preset is None or not preset.active:
        raise Problem(422, "Unknown preset", f"no active preset {preset_code!r}", field="preset")
    if not domain.preset_applies(preset.kinds, activity.kind):
        raise Problem(
            422,
            "Preset does not apply",
            f"preset {preset_code!r} does not apply to {activity.kind} activities",
            field="preset",
        )

    now = utcnow()
    changes: dict[str, Any] = {
        "preset": preset.code,
        "assignee_id": domain.takes_on_status(actor, activity.assignee_id),
        "updated_at": now,
    }
    if note is not None:
        changes["note"] = note
    if preset.closes:
        changes.update(
            state=ActivityState.DONE.value,
            closed_by=ClosedBy.MANAGER.value,
            close_reason=f"preset {preset.code}",
            closed_at=now,
        )
    await repo.update_activity(activity, **changes)

    change = "closed" if preset.closes else "status_set"
    step = f"{preset.code}@{now.isoformat()}"
    interaction = await repo.get_interaction(activity.last_interaction_id)
    records = [
        _activity_record(activity, change, interaction_id=None, step=step, source=source, at=now)
    ]
    if interaction is not None:
        records.append(
            _feedback_record(activity, interaction, preset.overturns, actor, source, now)
        )
    await repo.add_outbox(records)
    await repo.audit(
        [
            audit_entry(
                actor,
                "status_set",
                "activity",
                activity.id,
                preset=preset.code,
                state=activity.state,
                note=note,
            )
        ]
    )
    return activity


# -- points changed: contact-point events, re-linking, identification -------------------------


async def points_changed(
    session: AsyncSession,
    values: Iterable[str],
    who: Principal | None,
    *,
    source: str = SOURCE,
) -> int:
    """After points were added, moved or removed: publish their new owners (or tombstones),
    link past interactions that had no contact, and close `identify_contact` activities of
    points that now belong to one contact. Returns the interactions re-linked."""
    repo = Repository(session)
    changed = sorted(set(values))
    if not changed:
        return 0
    forms = linking.forms_of(changed)
    owners = await repo.point_owners(forms)
    now = utcnow()
    records = [_point_record(v, owners_of(owners, v), source, now) for v in changed]

    relinked = 0
    by_counterpart: dict[str, Link] = {}
    for interaction in await repo.interactions_to_relink(forms):
        counterpart = interaction.counterpart or ""
        if counterpart not in by_counterpart:
            by_counterpart[counterpart] = linking.resolve(owners_of(owners, counterpart))
        link = by_counterpart[counterpart]
        if _relink(interaction, link):
            relinked += 1
            records.append(_relinked_record(interaction, source))

    audits: list[dict[str, Any]] = []
    for counterpart, link in by_counterpart.items():
        if link.contact_id is None and link.company_id is None:
            continue
        await repo.set_activities_contact([counterpart], link.contact_id, link.company_id)
    for counterpart in sorted(forms):
        link = linking.resolve(owners_of(owners, counterpart))
        if link.kind is not LinkKind.CONTACT or link.contact_id is None:
            continue
        open_rows = await repo.open_activities_matching([counterpart])
        closes = domain.identification_closes(
            [_view(a) for a in open_rows], [counterpart], link.contact_id
        )
        rows = {a.id: a for a in open_rows}
        for close in closes:
            activity = rows[close.activity_id]
            _close(activity, close, now)
            activity.contact_id = link.contact_id
            activity.company_id = activity.company_id or link.company_id
            step = f"identified:{link.contact_id}"
            records.append(
                _activity_record(
                    activity, "closed", interaction_id=None, step=step, source=source, at=now
                )
            )
            audits.append(audit_entry(who, "closed", "activity", activity.id, reason=close.reason))
    await session.flush()
    await repo.add_outbox(records)
    await repo.audit(audits)
    return relinked


async def domain_added(
    session: AsyncSession, domain_name: str, company_id: str, *, source: str = SOURCE
) -> int:
    """A company got an e-mail domain: its past mail without a client joins it."""
    repo = Repository(session)
    records = []
    for interaction in await repo.interactions_to_relink([], domain_name):
        if interaction.company_id is None:
            interaction.company_id = company_id
            interaction.link = LinkKind.DOMAIN.value
            records.append(_relinked_record(interaction, source))
    await session.flush()
    await repo.add_outbox(records)
    return len(records)


def _relink(interaction: Interaction, link: Link) -> bool:
    """Give an interaction without a contact a better link; False when nothing improves."""
    if link.contact_id is not None or (
        link.kind is LinkKind.AMBIGUOUS and interaction.link != LinkKind.AMBIGUOUS
    ):
        interaction.contact_id = link.contact_id
        interaction.company_id = link.company_id or interaction.company_id
        interaction.link = link.kind.value
        interaction.candidates = list(link.candidates)
        interaction.manager_id = interaction.manager_id or link.owner_id
        return True
    if link.company_id is not None and interaction.company_id is None:
        interaction.company_id = link.company_id
        interaction.link = link.kind.value
        return True
    return False


async def snapshot_contact_points(session: AsyncSession, *, source: str = SOURCE) -> int | None:
    """On the first start, every active point onto the compacted topic; None when it was
    done before (by this or another instance)."""
    repo = Repository(session)
    now = utcnow()
    if not await repo.claim_state(SNAPSHOT_KEY, {"at": now.isoformat()}):
        return None
    values = await repo.all_active_point_values()
    owners = await repo.point_owners(values)
    records = [_point_record(v, owners_of(owners, v), source, now) for v in values]
    await repo.add_outbox(records)
    return len(records)


# -- rows and records --------------------------------------------------------------------------


def _direction(event: InteractionClassified) -> str:
    if event.call is not None:
        return event.call.direction.value
    if event.mail is not None:
        return event.mail.direction.value
    return "unknown"


def _interaction_values(
    event: InteractionClassified, manager_id: str | None, link: Link, email_domain: str | None
) -> dict[str, Any]:
    return {
        "id": event.interaction_id,
        "kind": event.kind.value,
        "occurred_at": event.occurred_at,
        "counterpart": event.counterpart,
        "direction": _direction(event),
        "disposition": event.disposition.value,
        "tags": [t.value for t in event.tags],
        "reasons": [r.model_dump(mode="json") for r in event.reasons],
        "payload": event.model_dump(mode="json", by_alias=True),
        "agent": event.call.agent if event.call is not None else None,
        "manager_id": manager_id,
        "status": event.call.status.value if event.call is not None else None,
        "linked_id": domain.linked_key(event),
        "domain": email_domain,
        "contact_id": link.contact_id,
        "company_id": link.company_id,
        "link": link.kind.value,
        "candidates": list(link.candidates),
    }


def _view(activity: AnyActivity, call_keys: Iterable[str] = ()) -> ActivityView:
    return ActivityView(
        id=activity.id,
        kind=ActivityKind(activity.kind),
        counterpart=activity.counterpart,
        last_occurred_at=activity.last_occurred_at,
        thread_id=activity.thread_id,
        assignee_id=activity.assignee_id,
        call_keys=frozenset(call_keys),
    )


def _activity_record(
    activity: AnyActivity,
    change: str,
    *,
    interaction_id: str | None,
    step: str,
    source: str,
    at: datetime | None = None,
) -> KafkaRecord:
    """`step` makes the ce_id unique per change: the interaction id, or the status set."""
    now = at or utcnow()
    data = ActivityChanged(
        activity_id=activity.id,
        kind=ActivityKind(activity.kind),
        state=ActivityState(activity.state),
        change=change,
        interaction_id=interaction_id,
        counterpart=activity.counterpart,
        contact_id=activity.contact_id,
        assignee_id=activity.assignee_id,
        preset=activity.preset,
        closed_by=ClosedBy(activity.closed_by) if activity.closed_by else None,
        reason=activity.close_reason,
        count=activity.count,
        changed_at=now,
    )
    ce_id = deterministic_id("crm.activity", activity.id, change, step)
    return encode(CRM_ACTIVITIES, data, id=ce_id, source=source, key=activity.id, time=now)


def _linked_record(
    event: InteractionClassified, manager_id: str | None, link: Link, source: str
) -> KafkaRecord:
    data = InteractionLinked(
        interaction_id=event.interaction_id,
        kind=event.kind,
        occurred_at=event.occurred_at,
        counterpart=event.counterpart,
        direction=_direction(event),
        tags=list(event.tags),
        disposition=event.disposition,
        contact_id=link.contact_id,
        company_id=link.company_id,
        manager_id=manager_id,
    )
    ce_id = deterministic_id("crm.interaction", event.interaction_id)
    key = event.counterpart or event.interaction_id
    return encode(CRM_INTERACTIONS, data, id=ce_id, source=source, key=key)


def _relinked_record(interaction: Interaction, source: str) -> KafkaRecord:
    known_tags = {t.value for t in Tag}
    data = InteractionLinked(
        interaction_id=interaction.id,
        kind=InteractionKind(interaction.kind),
        occurred_at=interaction.occurred_at,
        counterpart=interaction.counterpart,
        direction=interaction.direction,
        tags=[Tag(t) for t in interaction.tags if t in known_tags],
        disposition=Disposition(interaction.disposition),
        contact_id=interaction.contact_id,
        company_id=interaction.company_id,
        manager_id=interaction.manager_id,
    )
    ce_id = deterministic_id(
        "crm.interaction",
        interaction.id,
        interaction.contact_id or "",
        interaction.company_id or "",
    )
    key = interaction.counterpart or interaction.id
    return encode(CRM_INTERACTIONS, data, id=ce_id, source=source, key=key)


def point_event(value: str, owners: Sequence[PointOwner]) -> ContactPoint | None:
    """The compacted record of a point: who has it now; None (a tombstone) when nobody."""
    if not owners:
        return None
    link = linking.resolve(owners)
    return ContactPoint(
        point=value,
        type=linking.point_type(value).value,
        contact_id=link.contact_id,
        company_id=link.company_id,
    )


def _point_record(
    value: str, owners: Sequence[PointOwner], source: str, at: datetime
) -> KafkaRecord:
    data = point_event(value, owners)
    ce_id = deterministic_id(
        "crm.contact-point",
        value,
        data.contact_id or "" if data else "-",
        data.company_id or "" if data else "-",
        at.isoformat(),
    )
    if data is not None:
        return encode(CRM_CONTACT_POINTS, data, id=ce_id, source=source, key=value, time=at)
    return encode_tombstone(CRM_CONTACT_POINTS, key=value, id=ce_id, source=source, time=at)


def _feedback_record(
    activity: Activity,
    interaction: Interaction,
    overturns: list[str],
    actor: Principal,
    source: str,
    at: datetime,
) -> KafkaRecord:
    known_tags = {t.value for t in Tag}
    data = Feedback(
        interaction_id=interaction.id,
        activity_id=activity.id,
        manager_id=actor.manager_id,
        preset=activity.preset or "",
        classifier_disposition=Disposition(interaction.disposition),
        classifier_tags=[Tag(t) for t in interaction.tags if t in known_tags],
        overturns_classifier=domain.overturns_classifier(overturns, interaction.disposition),
        at=at,
    )
    ce_id = deterministic_id("crm.feedback", activity.id, activity.preset or "", at.isoformat())
    key = interaction.counterpart or interaction.id
    return encode(CRM_FEEDBACK, data, id=ce_id, source=source, key=key, time=at)
