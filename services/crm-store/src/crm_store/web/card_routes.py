"""A card's buttons: one click on a preset for every item of the card it fits, "Undo" on the
toast that follows, a card closed meanwhile leaving quietly, and "Mark all as handled".
Registered on `routes.router` (the inbox itself is in `routes`, the cards' shape in `cards`)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from crm_store.activities import ActivityRepository, domain, mark_all_handled
from crm_store.activities import set_status as set_activity_status
from crm_store.activities import undo_status as undo_activity_status
from crm_store.core import Activity, SessionDep, SettingsDep, utcnow
from crm_store.metrics import ACTIVITY_CHANGES
from crm_store.web import cards, queries
from crm_store.web.forms import FormDep, FormError, local_time, text_field
from crm_store.web.i18n import _, ngettext
from crm_store.web.render import fragment, wants_json
from crm_store.web.routes import (
    MARK_HANDLED,
    SET_STATUS,
    UNDO,
    Id,
    card_context,
    forbidden,
    may,
    resolve_scope,
    router,
    scope_query,
)
from crm_store.web.session import PostingUser, User
from switchboard_shared.events import ActivityState
from switchboard_shared.problems import Problem


def _preset_label(item: queries.InboxItem, code: str) -> str:
    return next((p.label for p in item.presets if p.code == code), code)


@router.post("/activities/{activity_id}/status")
async def set_status(
    request: Request,
    activity_id: Id,
    session: SessionDep,
    settings: SettingsDep,
    user: PostingUser,
    form: FormDep,
) -> Response:
    """One click on a card's preset (with the optional note), for every item of the card it
    fits (`with`: the card's other items); closing presets close them. A card closed
    meanwhile (another tab, a colleague) just leaves."""
    if not may(user, SET_STATUS):
        raise forbidden(_("your role cannot set statuses"))
    preset = text_field(form, "preset", max_chars=64, label=_("The status"))
    if not preset:
        raise FormError(422, _("pick a status"))
    note = text_field(form, "note", max_chars=4000, label=_("The note")) or None
    due_at = local_time(form, "due_local", "zone")
    raw_with = text_field(form, "with", max_chars=cards.MAX_PER_CARD * 65, label=_("The card"))
    ids = [activity_id, *cards.with_ids(raw_with, activity_id)]
    scope = await resolve_scope(session, user, form.get("scope") or None)
    repo = ActivityRepository(session)
    picked = await repo.get_preset(preset)
    if picked is not None and picked.closes:
        due_at = None  # the time field sits beside every button; only "later" ones take it
    if due_at is not None and due_at < utcnow():
        raise FormError(422, _("pick a time in the future"))
    found = [a for i in ids if (a := await repo.get_activity(i)) is not None]
    visible = [a for a in found if domain.can_see_activity(user.principal, a.assignee_id)]
    targets = [a for a in visible if a.state == ActivityState.OPEN]
    if visible and not targets:
        # Closed in another tab or by a colleague: the card leaves, nothing changes.
        if not wants_json(request):
            return RedirectResponse("/" + scope_query(scope, user), status_code=303)
        return await _already_handled(session, user, scope, visible[0])
    if not targets:
        raise Problem(404, _("Not found"), _("this item is not in your inbox"))
    changed: list[Activity] = []
    refused: Problem | None = None
    for target in targets:
        try:
            changed.append(
                await set_activity_status(
                    session, target.id, preset, note, user.principal, due_at=due_at
                )
            )
        except Problem as exc:
            if exc.status not in (409, 422):
                raise
            refused = refused or exc  # the preset does not fit this item; the others still
    if refused is not None and not changed:
        raise refused
    await session.commit()
    for activity in changed:
        closed = activity.state != ActivityState.OPEN
        ACTIVITY_CHANGES.labels(
            activity.kind, "closed" if closed else "status_set", "manager"
        ).inc()
    if not wants_json(request):
        return RedirectResponse("/" + scope_query(scope, user), status_code=303)
    return await _card_change(session, user, scope, ids, changed, preset, settings.undo_min)


async def _already_handled(
    session: SessionDep, user: User, scope: str, activity: Activity
) -> JSONResponse:
    counters = await queries.counters(session, user.principal, scope, utcnow())
    labels = await queries.preset_labels(session)
    how = labels.get(activity.preset or "") if activity.closed_by == "manager" else None
    return JSONResponse(
        {
            "message": _("Already handled: %(how)s.", how=how) if how else _("Already handled."),
            "counters": fragment("_counters.html", counters=counters, scope=scope),
            "remove": f"item-{activity.id}",
        }
    )


async def _card_change(
    session: SessionDep,
    user: User,
    scope: str,
    ids: list[str],
    changed: list[Activity],
    preset: str,
    undo_min: float,
) -> JSONResponse:
    now = utcnow()
    card, _rest = await cards.card_for(session, ids, now)
    counters = await queries.counters(session, user.principal, scope, now)
    [item] = await queries.inbox_items(session, [changed[0]], now)
    label = _preset_label(item, preset)
    if card is None:
        message = ngettext(
            "%(kind)s: %(preset)s. %(num)s open left.",
            "%(kind)s: %(preset)s. %(num)s open left.",
            counters.open,
            kind=item.kind_label,
            preset=label,
        )
    else:
        message = _("%(kind)s: %(preset)s.", kind=item.kind_label, preset=label)
    body: dict[str, Any] = {
        "message": message,
        "counters": fragment("_counters.html", counters=counters, scope=scope),
        "toast": fragment(
            "_toast.html",
            message=message,
            undo=[a.id for a in changed],
            minutes=round(undo_min),
            user=user,
            scope=scope,
        ),
    }
    if card is None:
        body["remove"] = f"item-{ids[0]}"
    else:
        body["replace"] = {
            "id": f"item-{ids[0]}",
            "html": fragment("_card.html", card=card, now=now, scope=scope, **card_context(user)),
        }
    return JSONResponse(body)


@router.post("/activities/{activity_id}/undo")
async def undo_status(
    request: Request,
    activity_id: Id,
    session: SessionDep,
    settings: SettingsDep,
    user: PostingUser,
    form: FormDep,
) -> Response:
    """ "Undo" on the toast after a click: every item that click changed goes back (`with`: the
    others), and its card comes back as it was."""
    if not may(user, UNDO):
        raise forbidden(_("your role cannot set statuses"))
    raw_with = text_field(form, "with", max_chars=cards.MAX_PER_CARD * 65, label=_("The card"))
    ids = [activity_id, *cards.with_ids(raw_with, activity_id)]
    scope = await resolve_scope(session, user, form.get("scope") or None)
    undone: list[Activity] = []
    refused: Problem | None = None
    for target in ids:
        try:
            undone.append(
                await undo_activity_status(
                    session, target, user.principal, window_s=settings.undo_min * 60
                )
            )
        except Problem as exc:
            if exc.status not in (404, 409):
                raise
            refused = refused or exc
    if not undone:
        raise refused or Problem(404, _("Not found"), _("this item is not in your inbox"))
    await session.commit()
    for activity in undone:
        ACTIVITY_CHANGES.labels(activity.kind, "status_undone", "manager").inc()
    if not wants_json(request):
        return RedirectResponse("/" + scope_query(scope, user), status_code=303)
    now = utcnow()
    card, _rest = await cards.card_for(session, [a.id for a in undone], now)
    counters = await queries.counters(session, user.principal, scope, now)
    body: dict[str, Any] = {
        "message": _("Undone: the item is back as it was."),
        "counters": fragment("_counters.html", counters=counters, scope=scope),
        "toast": "",
    }
    if card is not None:
        body["restore"] = {
            "id": f"item-{card.id}",
            "html": fragment("_card.html", card=card, now=now, scope=scope, **card_context(user)),
        }
    return JSONResponse(body)


@router.post("/inbox/handled")
async def mark_inbox_handled(session: SessionDep, user: PostingUser, form: FormDep) -> Response:
    """ "Mark all as handled" at the foot of one's own inbox (back from a holiday): every open
    item of one's own is canceled with the reason; "Who is this?" items stay."""
    own = user.principal.manager_id
    if not may(user, MARK_HANDLED) or own is None:
        raise forbidden(_("your role has no inbox of its own to mark"))
    reason = text_field(form, "reason", max_chars=500, label=_("The reason"))
    if not reason:
        raise FormError(422, _("say why, for the log (e.g. back from holiday)"))
    handled = await mark_all_handled(session, own, reason, user.principal, utcnow())
    await session.commit()
    for activity in handled:
        ACTIVITY_CHANGES.labels(activity.kind, "canceled", "manager").inc()
    return RedirectResponse("/", status_code=303)
