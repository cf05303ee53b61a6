"""Presets, as the administrator keeps them: created, renamed (per locale too), reordered,
retired and brought back; never deleted, so the history keeps its labels. Units of work stage
the change and its audit entry; the caller commits. The page shows `label_in(preset, locale)`:
the label of the user's locale, else the English one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.activities.repository import ActivityRepository
from crm_store.core import Preset, Principal, audit_entry, invalid
from switchboard_shared.problems import Problem

LOCALES = ("en", "pl", "lv", "lt", "ms", "ta")
"""The locales a preset may carry a label in (`en` is also `label`)."""
POSITION_STEP = 10


def label_in(labels: Mapping[str, str] | None, label: str, locale: str | None) -> str:
    """The label in `locale` (`pl`, `pl-PL`), else the English one."""
    if locale and labels:
        language = locale.split("-")[0].split("_")[0].lower()
        found = labels.get(language)
        if found:
            return found
    return label


def clean_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """Labels per locale, blank ones dropped; an unknown locale is a 422."""
    out: dict[str, str] = {}
    for locale, text in labels.items():
        if locale not in LOCALES:
            raise invalid(f"labels.{locale}", f"not one of the locales: {', '.join(LOCALES)}")
        if text.strip():
            out[locale] = text.strip()
    return out


async def add_preset(session: AsyncSession, values: dict[str, Any], who: Principal) -> Preset:
    repo = ActivityRepository(session)
    values = {**values, "labels": clean_labels(values.get("labels") or {})}
    if values.get("position") is None:
        presets = await repo.list_presets(include_inactive=True)
        values["position"] = max((p.position for p in presets), default=0) + POSITION_STEP
    preset = Preset(**values)
    if not await repo.add_preset(preset):
        raise Problem(409, "Conflict", f"preset {values['code']!r} exists", field="code")
    await repo.audit([audit_entry(who, "created", "preset", preset.code, **values)])
    return preset


async def change_preset(
    session: AsyncSession, code: str, changes: dict[str, Any], who: Principal
) -> Preset:
    """Rename, relabel, change what it closes or fits, move, retire (`active` false: no card
    offers it, the history keeps its label) or bring back."""
    repo = ActivityRepository(session)
    preset = await repo.get_preset(code)
    if preset is None:
        raise Problem(404, "Not found", f"no preset {code!r}")
    if "labels" in changes:
        changes["labels"] = clean_labels(changes["labels"])
    before = {name: getattr(preset, name) for name in changes}
    await repo.update_preset(preset, **changes)
    await repo.audit([audit_entry(who, "updated", "preset", code, before=before, after=changes)])
    return preset


async def reorder_presets(
    session: AsyncSession, codes: Sequence[str], who: Principal
) -> list[Preset]:
    """Put the presets in this order (the codes not named keep their order, after these)."""
    repo = ActivityRepository(session)
    presets = await repo.list_presets(include_inactive=True)
    by_code = {p.code: p for p in presets}
    unknown = [c for c in codes if c not in by_code]
    if unknown:
        raise invalid("codes", f"no such preset: {', '.join(unknown)}")
    if len(set(codes)) != len(codes):
        raise invalid("codes", "a preset is named twice")
    ordered = [by_code[c] for c in codes] + [p for p in presets if p.code not in set(codes)]
    before = [p.code for p in presets]
    for index, preset in enumerate(ordered, start=1):
        if preset.position != index * POSITION_STEP:
            await repo.update_preset(preset, position=index * POSITION_STEP)
    after = [p.code for p in ordered]
    await repo.audit([audit_entry(who, "reordered", "preset", "*", before=before, after=after)])
    return ordered


async def move_preset(session: AsyncSession, code: str, step: int, who: Principal) -> None:
    """One place up (-1) or down (+1) among all presets, retired ones included."""
    presets = await ActivityRepository(session).list_presets(include_inactive=True)
    codes = [p.code for p in presets]
    if code not in codes:
        raise Problem(404, "Not found", f"no preset {code!r}")
    index = codes.index(code)
    other = index + step
    if 0 <= other < len(codes):
        codes[index], codes[other] = codes[other], codes[index]
        await reorder_presets(session, codes, who)
