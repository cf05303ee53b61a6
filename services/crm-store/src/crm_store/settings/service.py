"""The settings an administrator edits: read with their defaults, saved (validated, versioned,
audited, published on `crm.settings.v1` through the outbox). Units of work stage their changes;
the caller commits.

A group nobody saved yet shows the defaults the services use without it: the environment's
(`SWITCHBOARD_DEFAULT_REGION`, `SWITCHBOARD_OWN_DOMAINS`) and the shipped rules' values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.config import Settings as StoreSettings
from crm_store.core import (
    SOURCE,
    Manager,
    Principal,
    Setting,
    Store,
    actor_of,
    audit_entry,
    utcnow,
)
from switchboard_shared.cloudevents import KafkaRecord, deterministic_id, encode
from switchboard_shared.events import SettingsChanged
from switchboard_shared.problems import Problem
from switchboard_shared.settings.groups import (
    GROUPS,
    ClassificationSettings,
    OutcomeSettings,
    SettingsGroup,
    TelephonySettings,
    parse_group,
)
from switchboard_shared.topics import CRM_SETTINGS


@dataclass(frozen=True)
class GroupState:
    """One group as it is now: its values, and 0 / None while nobody saved it."""

    group: str
    values: SettingsGroup
    version: int = 0
    changed_by: str | None = None
    changed_at: datetime | None = None


def defaults(settings: StoreSettings) -> dict[str, SettingsGroup]:
    """What each group is before anyone saves it: the environment's values."""
    common = settings.common
    return {
        ClassificationSettings.GROUP: ClassificationSettings(
            internal_domains=list(common.own_domains)
        ),
        OutcomeSettings.GROUP: OutcomeSettings(),
        TelephonySettings.GROUP: TelephonySettings(default_region=common.default_region),
    }


class SettingsRepository(Store):
    async def rows(self) -> dict[str, Setting]:
        found = await self.session.execute(select(Setting))
        return {row.group: row for row in found.scalars()}

    async def row(self, group: str, *, for_update: bool = False) -> Setting | None:
        statement = select(Setting).where(Setting.group == group)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()


def _state(group: str, row: Setting | None, fallback: SettingsGroup) -> GroupState:
    if row is None:
        return GroupState(group, fallback)
    try:
        values = parse_group(group, row.values)
    except ValidationError:  # saved by an older version with other rules: show the defaults
        values = fallback
    return GroupState(group, values, row.version, row.changed_by, row.changed_at)


async def read_all(session: AsyncSession, settings: StoreSettings) -> dict[str, GroupState]:
    rows = await SettingsRepository(session).rows()
    base = defaults(settings)
    return {g: _state(g, rows.get(g), base[g]) for g in GROUPS}


async def read_group(session: AsyncSession, settings: StoreSettings, group: str) -> GroupState:
    if group not in GROUPS:
        raise Problem(404, "Not found", f"no settings group {group[:40]!r}")
    row = await SettingsRepository(session).row(group)
    return _state(group, row, defaults(settings)[group])


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """pydantic's errors as {field, message}, the field as the API names it (`wrong_numbers`)."""
    out = []
    for error in exc.errors(include_url=False):
        loc = [str(part) for part in error["loc"]]
        message = str(error["msg"]).removeprefix("Value error, ")
        if len(loc) > 1:
            message = f"item {int(loc[1]) + 1}: {message}" if loc[1].isdigit() else message
        out.append({"field": loc[0] if loc else "values", "message": message})
    return out


async def save_group(
    session: AsyncSession,
    settings: StoreSettings,
    group: str,
    values: dict[str, Any],
    who: Principal,
    *,
    expected_version: int | None = None,
) -> GroupState:
    """Validate and store a group's new values; 422 names every bad field, 409 when someone
    saved the group since `expected_version` was read."""
    if group not in GROUPS:
        raise Problem(404, "Not found", f"no settings group {group[:40]!r}")
    repo = SettingsRepository(session)
    if group == OutcomeSettings.GROUP and "owners" in values:
        values = {**values, "owners": await _manager_ids(session, values["owners"])}
    parsed = validated(group, values, await _region(repo, settings, group, values))
    row = await repo.row(group, for_update=True)
    before = _state(group, row, defaults(settings)[group])
    if expected_version is not None and expected_version != before.version:
        raise Problem(
            409,
            "Conflict",
            "someone saved these settings meanwhile; reload them and make the change again",
        )
    after = parsed.model_dump(mode="json")
    if row is not None and after == row.values:
        return before  # nothing changed: no new version, nothing published
    now = utcnow()
    actor = actor_of(who)
    if row is None:
        row = Setting(group=group, values=after, version=1, changed_by=actor, changed_at=now)
        session.add(row)
    else:
        row.values, row.version, row.changed_by, row.changed_at = after, row.version + 1, actor, now
    try:
        await session.flush()
    except IntegrityError as exc:  # another administrator saved the group's first version
        raise Problem(
            409,
            "Conflict",
            "someone saved these settings meanwhile; reload them and make the change again",
        ) from exc
    await repo.add_outbox([settings_record(row)])
    await repo.audit(
        [
            audit_entry(
                who,
                "changed",
                "settings",
                group,
                version=row.version,
                before=before.values.model_dump(mode="json"),
                after=after,
            )
        ]
    )
    return GroupState(group, parsed, row.version, actor, now)


def validated(group: str, values: dict[str, Any], region: str) -> SettingsGroup:
    """The group's values, or a 422 that names every bad field."""
    try:
        return parse_group(group, values, default_region=region)
    except ValidationError as exc:
        errors = field_errors(exc)
        raise Problem(
            422,
            "Invalid request",
            f"invalid: {', '.join(e['field'] for e in errors)}",
            errors=errors,
        ) from exc


async def _manager_ids(session: AsyncSession, owners: Any) -> Any:
    """Managers named by id or e-mail address, as ids; 422 for one that is not there."""
    if not isinstance(owners, list) or not all(isinstance(o, str) for o in owners):
        return owners  # not a list of text: the model refuses it
    wanted = [o.strip() for o in owners if o.strip()][:1000]
    if not wanted:
        return []
    lowered = [o.lower() for o in wanted]
    found = await session.execute(
        select(Manager.id, Manager.email).where(
            or_(Manager.id.in_(wanted), func.lower(Manager.email).in_(lowered))
        )
    )
    by_key: dict[str, str] = {}
    for manager_id, email in found:
        by_key[manager_id] = manager_id
        by_key[email.lower()] = manager_id
    missing = [o for o in wanted if o not in by_key and o.lower() not in by_key]
    if missing:
        raise Problem(
            422,
            "Invalid request",
            "invalid: owners",
            errors=[{"field": "owners", "message": f"no manager {missing[0][:80]!r}"}],
        )
    return list(dict.fromkeys(by_key.get(o, by_key.get(o.lower(), o)) for o in wanted))


async def _region(
    repo: SettingsRepository, settings: StoreSettings, group: str, values: dict[str, Any]
) -> str:
    """The region national numbers in the new values are read in: the telephony settings'."""
    if group == TelephonySettings.GROUP and isinstance(values.get("default_region"), str):
        return str(values["default_region"])[:2].upper()
    row = await repo.row(TelephonySettings.GROUP)
    telephony = _state(TelephonySettings.GROUP, row, defaults(settings)[TelephonySettings.GROUP])
    assert isinstance(telephony.values, TelephonySettings)
    return telephony.values.default_region


def settings_record(row: Setting) -> KafkaRecord:
    data = SettingsChanged(
        group=row.group,
        values=dict(row.values),
        version=row.version,
        changed_by=row.changed_by,
        changed_at=row.changed_at,
    )
    return encode(
        CRM_SETTINGS,
        data,
        id=deterministic_id("crm.settings", row.group, str(row.version)),
        source=SOURCE,
        key=row.group,
        time=row.changed_at,
    )


async def republish_settings(session: AsyncSession) -> int:
    """Stage every saved group again (at start): a broker that lost the compacted topic gets
    the settings back; followers ignore a version they already have."""
    repo = SettingsRepository(session)
    rows = await repo.rows()
    await repo.add_outbox([settings_record(row) for row in rows.values()])
    return len(rows)
