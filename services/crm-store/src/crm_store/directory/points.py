"""A contact's or a company's own numbers and addresses: what a caller gives (`PointInput`), new
rows for them, and replacing one type of them with a wanted list."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from crm_store.core import Point, utcnow
from crm_store.directory import linking
from crm_store.directory.repository import DirectoryRepository


@dataclass(frozen=True)
class PointInput:
    value: str
    """Normalised: E.164 or a lower-case address."""
    raw: str


def new_points(
    inputs: Sequence[PointInput],
    point_type: linking.PointType,
    *,
    contact_id: str | None = None,
    company_id: str | None = None,
    start: int = 0,
) -> list[Point]:
    now = utcnow()
    return [
        Point(
            id=str(uuid.uuid4()),
            type=point_type.value,
            value=p.value,
            raw=p.raw[:320],
            contact_id=contact_id,
            company_id=company_id,
            active=True,
            position=start + n,
            created_at=now,
        )
        for n, p in enumerate(inputs)
    ]


async def replace_points(
    repo: DirectoryRepository,
    current: Sequence[Point],
    wanted: Sequence[PointInput],
    point_type: linking.PointType,
    *,
    contact_id: str | None = None,
    company_id: str | None = None,
) -> set[str]:
    """Make the active points of one type equal `wanted`; returns the values that changed."""
    have = {p.value: p for p in current if p.type == point_type.value}
    keep = {p.value for p in wanted}
    gone = [p for v, p in have.items() if v not in keep]
    added = [p for p in wanted if p.value not in have]
    await repo.deactivate_points(gone)
    order = {p.value: n for n, p in enumerate(wanted)}
    for value, point in have.items():
        point.position = order.get(value, point.position)
    new = new_points(added, point_type, contact_id=contact_id, company_id=company_id)
    for point in new:
        point.position = order[point.value]
    await repo.add_points(new)
    return {p.value for p in gone} | {p.value for p in added}
