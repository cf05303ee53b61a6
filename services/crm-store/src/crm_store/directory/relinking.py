"""What a change of points or domains re-links. After a contact's or a company's points are
added, moved or removed, their new owners are announced on the compacted
`crm.contact-points.v1` (a tombstone when nobody has one), past interactions without a contact
are linked, and `identify_contact` activities of points that now belong to one contact close.
An address marked undeliverable, or cleared, is announced there too (`delivery_changed`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.activities import (
    ActivityRepository,
    activity_record,
    activity_view,
    close_activity,
    identification_closes,
)
from crm_store.core import SOURCE, Interaction, Point, Principal, audit_entry, utcnow
from crm_store.directory import delivery, linking
from crm_store.directory.delivery import Mark
from crm_store.directory.linking import Link, LinkKind, PointOwner
from crm_store.directory.repository import DirectoryRepository
from switchboard_shared.cloudevents import KafkaRecord, deterministic_id, encode, encode_tombstone
from switchboard_shared.events import (
    ContactPoint,
    Disposition,
    InteractionClassified,
    InteractionKind,
    InteractionLinked,
    Tag,
)
from switchboard_shared.topics import CRM_CONTACT_POINTS, CRM_INTERACTIONS

SNAPSHOT_KEY = "contact_points_snapshot"


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
    repo = DirectoryRepository(session)
    activities = ActivityRepository(session)
    changed = sorted(set(values))
    if not changed:
        return 0
    forms = linking.forms_of(changed)
    owners = await repo.point_owners(forms)
    now = utcnow()
    marks = _marks(await repo.marked_points(changed))
    records = [_point_record(v, owners_of(owners, v), source, now, marks.get(v)) for v in changed]

    relinked = 0
    by_counterpart: dict[str, Link] = {}
    for interaction in await repo.interactions_to_relink(forms):
        counterpart = interaction.counterpart or ""
        if counterpart not in by_counterpart:
            by_counterpart[counterpart] = linking.resolve(owners_of(owners, counterpart))
        link = by_counterpart[counterpart]
        if _relink(interaction, link):
            relinked += 1
            records.append(relinked_record(interaction, source))

    audits: list[dict[str, Any]] = []
    for counterpart, link in by_counterpart.items():
        if link.contact_id is None and link.company_id is None:
            continue
        await activities.set_activities_contact([counterpart], link.contact_id, link.company_id)
    for counterpart in sorted(forms):
        link = linking.resolve(owners_of(owners, counterpart))
        if link.kind is not LinkKind.CONTACT or link.contact_id is None:
            continue
        open_rows = await activities.open_activities_matching([counterpart])
        closes = identification_closes(
            [activity_view(a) for a in open_rows], [counterpart], link.contact_id
        )
        rows = {a.id: a for a in open_rows}
        for close in closes:
            activity = rows[close.activity_id]
            close_activity(activity, close, now)
            activity.contact_id = link.contact_id
            activity.company_id = activity.company_id or link.company_id
            step = f"identified:{link.contact_id}"
            records.append(
                activity_record(
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
    repo = DirectoryRepository(session)
    records = []
    for interaction in await repo.interactions_to_relink([], domain_name):
        if interaction.company_id is None:
            interaction.company_id = company_id
            interaction.link = LinkKind.DOMAIN.value
            records.append(relinked_record(interaction, source))
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
    repo = DirectoryRepository(session)
    now = utcnow()
    if not await repo.claim_state(SNAPSHOT_KEY, {"at": now.isoformat()}):
        return None
    values = await repo.all_active_point_values()
    owners = await repo.point_owners(values)
    marks = _marks(await repo.marked_points())
    records = [_point_record(v, owners_of(owners, v), source, now, marks.get(v)) for v in values]
    await repo.add_outbox(records)
    return len(records)


async def delivery_changed(
    session: AsyncSession, events: Sequence[InteractionClassified], *, source: str = SOURCE
) -> tuple[list[KafkaRecord], list[str]]:
    """Mark the addresses the batch's permanent bounces name, clear those that wrote to us
    since (`delivery.next_mark` on what is stored, the batch included). Returns the outbox
    records of the points that changed, and the addresses cleared."""
    marks: dict[str, list[Mark]] = {}
    heard: set[str] = set()
    for event in events:
        for address, mark in delivery.bounce_marks(event):
            marks.setdefault(address, []).append(mark)
        if (sender := delivery.heard_from(event)) is not None:
            heard.add(sender)
    repo = DirectoryRepository(session)
    candidates = set(marks) | {p.value for p in await repo.marked_points(heard)}
    by_value: dict[str, list[Point]] = {}
    for point in await repo.email_points(candidates):
        by_value.setdefault(point.value, []).append(point)
    last = await repo.last_heard_from(by_value)
    changed: dict[str, Mark | None] = {}
    for value, rows in by_value.items():
        stored = delivery.next_mark(None, (m for p in rows if (m := delivery.mark_of(p))), None)
        new = delivery.next_mark(stored, marks.get(value, ()), last.get(value))
        if any(delivery.mark_of(p) != new for p in rows):
            for point in rows:
                delivery.set_mark(point, new)
            changed[value] = new
    if not changed:
        return [], []
    await session.flush()
    await repo.audit(
        [
            audit_entry(
                None,
                "undeliverable" if mark else "deliverable",
                "contact_point",
                value,
                interaction_id=mark.interaction_id if mark else None,
                status=mark.status if mark else None,
            )
            for value, mark in changed.items()
        ]
    )
    records = await point_records(repo, changed, source=source, at=utcnow())
    return records, sorted(v for v, m in changed.items() if m is None)


async def point_records(
    repo: DirectoryRepository, values: Iterable[str], *, source: str, at: datetime
) -> list[KafkaRecord]:
    """The compacted records of these points as they are now: owners and undeliverable mark."""
    wanted = sorted(set(values))
    owners = await repo.point_owners(linking.forms_of(wanted))
    marks = _marks(await repo.marked_points(wanted))
    return [_point_record(v, owners_of(owners, v), source, at, marks.get(v)) for v in wanted]


def _marks(points: Iterable[Point]) -> dict[str, Mark]:
    """Per value, the newest mark among its active points."""
    out: dict[str, Mark] = {}
    for point in points:
        mark = delivery.mark_of(point)
        if mark is not None and (point.value not in out or out[point.value].since < mark.since):
            out[point.value] = mark
    return out


def owners_of(owners: dict[str, list[PointOwner]], counterpart: str | None) -> list[PointOwner]:
    """The owners of a counterpart across its equivalent forms."""
    if not counterpart:
        return []
    return [o for form in sorted(linking.point_forms(counterpart)) for o in owners.get(form, [])]


def relinked_record(interaction: Interaction, source: str) -> KafkaRecord:
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


def point_event(
    value: str, owners: Sequence[PointOwner], mark: Mark | None = None
) -> ContactPoint | None:
    """The compacted record of a point: who has it now, and whether it takes mail; None (a
    tombstone) when nobody has it."""
    if not owners:
        return None
    link = linking.resolve(owners)
    return ContactPoint(
        point=value,
        type=linking.point_type(value).value,
        contact_id=link.contact_id,
        company_id=link.company_id,
        undeliverable=mark.event() if mark is not None else None,
    )


def _point_record(
    value: str,
    owners: Sequence[PointOwner],
    source: str,
    at: datetime,
    mark: Mark | None = None,
) -> KafkaRecord:
    data = point_event(value, owners, mark)
    ce_id = deterministic_id(
        "crm.contact-point",
        value,
        data.contact_id or "" if data else "-",
        data.company_id or "" if data else "-",
        mark.since.isoformat() if mark else "",
        at.isoformat(),
    )
    if data is not None:
        return encode(CRM_CONTACT_POINTS, data, id=ce_id, source=source, key=value, time=at)
    return encode_tombstone(CRM_CONTACT_POINTS, key=value, id=ce_id, source=source, time=at)
