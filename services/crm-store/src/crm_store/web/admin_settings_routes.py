"""The admin area's settings sections: classification (with a preview against the last days'
interactions), outcomes (when a conversation asks for an outcome) and telephony. Registered on
`routes.router`.

Administrators change them; supervisors read them; other roles get a refusal page. Every form
is checked by the same units of work as `PUT /api/v1/settings/{group}` (validated as every
service validates the group, audited, published): an error is shown next to its field.
"""

from __future__ import annotations

from typing import Any, get_origin

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from crm_store.core import SessionDep, SettingsDep, allowed
from crm_store.people import PeopleRepository
from crm_store.settings import GroupState, applied, read_group, run_preview, save_group
from crm_store.web.admin import admin_view
from crm_store.web.forms import FormDep, checked
from crm_store.web.i18n import _
from crm_store.web.render import page
from crm_store.web.routes import forbidden, router
from crm_store.web.session import CurrentUser, PostingUser, User
from switchboard_shared.problems import Problem
from switchboard_shared.settings.groups import GROUPS, SettingsGroup

SECTIONS = ("classification", "outcomes", "telephony")
WRITE = ("PUT", "/api/v1/settings/{group}")
READ = ("GET", "/api/v1/settings/{group}")
MAX_LINES = 500


def _reader(user: User) -> None:
    if not allowed(*READ, user.role):
        raise forbidden(_("the admin area is for administrators (supervisors may read it)"))


def _writer(user: User) -> None:
    _reader(user)
    if not allowed(*WRITE, user.role):
        raise forbidden(_("only an administrator may change the settings"))


def _section(group: str) -> type[SettingsGroup]:
    if group not in SECTIONS:
        raise Problem(404, _("Not found"), _("no such section"))
    return GROUPS[group]


def field_kind(annotation: Any) -> str:
    origin = get_origin(annotation)
    if annotation is bool:
        return "bool"
    if annotation in (int, float):
        return "number"
    if origin is list:
        return "lines"
    if origin is dict:
        return "options"
    return "text"


def fields_of(model: type[SettingsGroup], values: dict[str, Any]) -> list[dict[str, Any]]:
    """What the form shows for each field: label, help, kind and the value as typed."""
    out = []
    for name, info in model.model_fields.items():
        kind = field_kind(info.annotation)
        value = values.get(name)
        if kind == "lines" and isinstance(value, list):
            value = "\n".join(str(v) for v in value)
        elif kind == "options" and isinstance(value, dict):
            value = "\n".join(
                f"{provider}.{option} = {text}"
                for provider, options in value.items()
                for option, text in options.items()
            )
        elif kind == "number" and isinstance(value, float) and value.is_integer():
            value = int(value)
        out.append(
            {
                "name": name,
                "label": info.title or name,
                "help": info.description or "",
                "kind": kind,
                "value": value,
            }
        )
    return out


def values_from(model: type[SettingsGroup], form: dict[str, str]) -> dict[str, Any]:
    """The posted form as the group's values (pydantic checks them)."""
    values: dict[str, Any] = {}
    for field in fields_of(model, {}):
        name, kind = field["name"], field["kind"]
        raw = form.get(name, "")
        if kind == "bool":
            values[name] = checked(form, name)
        elif kind == "lines":
            values[name] = [line.strip() for line in raw.splitlines() if line.strip()][
                : MAX_LINES + 1
            ]
        elif kind == "options":
            values[name] = _options(raw)
        else:
            values[name] = raw.strip()
    return values


def _options(raw: str) -> Any:
    """`provider.option = value` lines; a line of another shape is kept for pydantic to refuse."""
    options: dict[str, dict[str, str]] = {}
    for line in raw.splitlines()[: MAX_LINES + 1]:
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        provider, dot, option = key.strip().partition(".")
        if not sep or not dot:
            return line.strip()[:200]  # not a mapping: "Input should be a valid dictionary"
        options.setdefault(provider.strip(), {})[option.strip()] = value.strip()
    return options


def _render(
    user: User,
    group: str,
    state: GroupState,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    saved: bool = False,
    preview: Any = None,
    emails: dict[str, str] | None = None,
) -> Response:
    emails = emails or {}
    model = _section(group)
    shown = values if values is not None else state.values.model_dump(mode="json")
    if values is None and isinstance(shown.get("owners"), list) and shown["owners"]:
        shown["owners"] = [emails.get(i, i) for i in shown["owners"]]
    return page(
        "admin_settings.html",
        status=status,
        **admin_view(
            user,
            f"/admin/settings/{group}",
            group=group,
            title=model.TITLE,
            fields=fields_of(model, shown),
            errors=errors or {},
            state=state,
            saved=saved,
            preview=preview,
        ),
    )


@router.get("/admin/settings/{group}")
async def settings_page(
    group: str, session: SessionDep, settings: SettingsDep, user: CurrentUser, saved: str = ""
) -> Response:
    _reader(user)
    _section(group)
    state = await read_group(session, settings, group)
    emails = {m.id: m.email for m in await PeopleRepository(session).list_managers()}
    return _render(user, group, state, saved=saved == "1", emails=emails)


@router.post("/admin/settings/{group}")
async def settings_save(
    group: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PostingUser,
    form: FormDep,
) -> Response:
    _writer(user)
    model = _section(group)
    values = values_from(model, form)
    version = form.get("version", "")
    try:
        state = await save_group(
            session,
            settings,
            group,
            values,
            user.principal,
            expected_version=int(version) if version.isdigit() else None,
        )
    except Problem as exc:
        await session.rollback()
        if exc.status not in (409, 422):
            raise
        current = await read_group(session, settings, group)
        errors = _errors(exc)
        return _render(user, group, current, values=values, errors=errors, status=exc.status)
    await session.commit()
    applied(request, state)
    return RedirectResponse(f"/admin/settings/{group}?saved=1", status_code=303)


@router.post("/admin/settings/classification/preview")
async def classification_preview(
    session: SessionDep, settings: SettingsDep, user: PostingUser, form: FormDep
) -> Response:
    """The form as typed, with what it would have done to the last days' interactions."""
    _reader(user)
    group = "classification"
    values = values_from(GROUPS[group], form)
    state = await read_group(session, settings, group)
    try:
        result = await run_preview(session, settings, values)
    except Problem as exc:
        if exc.status != 422:
            raise
        return _render(user, group, state, values=values, errors=_errors(exc), status=422)
    return _render(user, group, state, values=values, preview=result)


def _errors(exc: Problem) -> dict[str, str]:
    found: dict[str, str] = {}
    for error in exc.extra.get("errors", []) or []:
        found.setdefault(str(error.get("field", "")), str(error.get("message", "")))
    if not found:
        found["_form"] = exc.detail
    return found
