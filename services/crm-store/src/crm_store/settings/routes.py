"""`/api/v1/settings`: the groups an administrator edits (read by supervisors too), and the
preview of a classification change over the last days. Writes commit here, at the edge."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import Path, Request

from crm_store.core import Authorized, SessionDep, SettingsDep, feature_router
from crm_store.settings import service
from crm_store.settings.preview import Preview, base_rules, preview
from crm_store.settings.schemas import PreviewIn, PreviewOut, SettingsIn, SettingsOut
from switchboard_shared.problems import Problem
from switchboard_shared.settings.groups import ClassificationSettings, TelephonySettings

router = feature_router()
Group = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[a-z_]+$")]


def settings_out(state: service.GroupState) -> SettingsOut:
    return SettingsOut(
        group=state.group,
        values=state.values.model_dump(mode="json"),
        version=state.version,
        changed_by=state.changed_by,
        changed_at=state.changed_at,
    )


@router.get("/settings", response_model=list[SettingsOut], tags=["settings"])
async def list_settings(session: SessionDep, settings: SettingsDep, who: Authorized) -> Any:
    return [settings_out(s) for s in (await service.read_all(session, settings)).values()]


@router.get("/settings/{group}", response_model=SettingsOut, tags=["settings"])
async def get_settings_group(
    group: Group, session: SessionDep, settings: SettingsDep, who: Authorized
) -> Any:
    return settings_out(await service.read_group(session, settings, group))


@router.put("/settings/{group}", response_model=SettingsOut, tags=["settings"])
async def put_settings_group(
    group: Group,
    body: SettingsIn,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    who: Authorized,
) -> Any:
    """Validated as every service validates it, audited (before, after), published on
    `crm.settings.v1`; the services apply it without a restart."""
    state = await service.save_group(
        session, settings, group, body.values, who, expected_version=body.version
    )
    await session.commit()
    applied(request, state)
    return settings_out(state)


def applied(request: Request, state: service.GroupState) -> None:
    """This instance applies a saved group at once (the others when they read the topic)."""
    live = getattr(request.app.state, "live_settings", None)
    if live is not None and state.version:
        live.apply(state.group, state.values, state.version)


@router.post("/settings/classification/preview", response_model=PreviewOut, tags=["settings"])
async def preview_classification(
    body: PreviewIn, session: SessionDep, settings: SettingsDep, who: Authorized
) -> Any:
    """What the proposed classification settings would have done to the last 7 days'
    interactions, next to what the settings in force do to them."""
    return dataclasses.asdict(await run_preview(session, settings, body.values))


async def run_preview(
    session: SessionDep, settings: SettingsDep, values: dict[str, Any]
) -> Preview:
    groups = await service.read_all(session, settings)
    telephony = groups[TelephonySettings.GROUP].values
    current = groups[ClassificationSettings.GROUP].values
    assert isinstance(telephony, TelephonySettings)
    assert isinstance(current, ClassificationSettings)
    proposed = service.validated(ClassificationSettings.GROUP, values, telephony.default_region)
    assert isinstance(proposed, ClassificationSettings)
    try:
        rules = base_rules(settings.rules_path, telephony.default_region)
    except (OSError, ValueError) as exc:
        raise Problem(503, "Unavailable", "the rules file cannot be read") from exc
    return await preview(session, rules, telephony, current, proposed)
