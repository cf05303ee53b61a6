"""The page's contact screens: search, a contact's timeline, and identifying an unknown number or
address (a new contact, or one more point for an existing one). Registered on `routes.router`."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from crm_store.activities import ActivityRepository
from crm_store.core import Activity, InvalidCursorError, SessionDep, SettingsDep, utcnow
from crm_store.directory import (
    Changes,
    ContactInput,
    DirectoryRepository,
    PointInput,
    contact_name,
    create_contact,
    normalised_emails,
    normalised_phones,
    update_contact,
)
from crm_store.web import contacts
from crm_store.web.field_routes import shown_fields
from crm_store.web.forms import FormDep, FormError, checked, text_field
from crm_store.web.i18n import _, ngettext
from crm_store.web.render import fragment, page, wants_json
from crm_store.web.routes import (
    Cursor,
    Id,
    bad_cursor,
    can_identify,
    forbidden,
    router,
    sees_inbox,
    view,
)
from crm_store.web.session import CurrentUser, PostingUser
from switchboard_shared.events import ActivityKind, ActivityState
from switchboard_shared.problems import Problem

# -- contacts and their timelines ------------------------------------------------------------


@router.get("/contacts")
async def contacts_page(request: Request, user: CurrentUser) -> Response:
    return page("contacts.html", **view(user, "/contacts", hits=None, query=""))


@router.post("/contacts/search")
async def contact_search(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PostingUser,
    form: FormDep,
) -> Response:
    """Search by name, number or address; a POST, so what was typed stays out of URLs."""
    query = text_field(form, "q", max_chars=200, label=_("The search"))
    linking_for = form.get("activity", "")[:64] if can_identify(user) else ""
    hits = await contacts.search_contacts(session, query, settings.common.default_region)
    if not wants_json(request):
        return page("contacts.html", **view(user, "/contacts", hits=hits, query=query))
    html = fragment("_hits.html", hits=hits, user=user, activity=linking_for)
    target = f"hits-{linking_for}" if linking_for else "hits"
    count = ngettext("%(num)s contact found.", "%(num)s contacts found.", len(hits))
    return JSONResponse({"target": {"id": target, "html": html}, "message": count})


@router.get("/contacts/{contact_id}")
async def timeline_page(
    request: Request,
    contact_id: Id,
    session: SessionDep,
    user: CurrentUser,
    cursor: Cursor = None,
) -> Response:
    contact = await DirectoryRepository(session).get_contact(contact_id)
    if contact is None:
        raise Problem(404, _("Not found"), _("no such contact"))
    try:
        entries, next_cursor = await contacts.timeline(
            session, user.principal, contact, cursor=cursor
        )
    except InvalidCursorError as exc:
        raise bad_cursor() from exc
    return page(
        "timeline.html",
        **view(
            user,
            "/contacts",
            now=utcnow(),
            card=await contacts.contact_card(session, contact),
            merged_into=contact.merged_into_id,
            entries=entries,
            next_cursor=next_cursor,
            shows_activities=sees_inbox(user),
            extra_fields=await shown_fields(session, "contact", contact.fields),
            fills_fields=can_identify(user),
        ),
    )


# -- identifying unknown numbers and addresses -----------------------------------------------


@router.get("/identify")
async def identify_page(
    request: Request, session: SessionDep, user: CurrentUser, cursor: Cursor = None
) -> Response:
    if not can_identify(user):
        raise forbidden(_("operators add contacts"))
    try:
        items, next_cursor = await contacts.identify_queue(session, cursor=cursor)
    except InvalidCursorError as exc:
        raise bad_cursor() from exc
    return page(
        "identify.html",
        **view(user, "/identify", now=utcnow(), items=items, next_cursor=next_cursor),
    )


async def _open_identification(session: SessionDep, activity_id: str) -> Activity:
    activity = await ActivityRepository(session).get_activity(activity_id)
    if activity is None or activity.kind != ActivityKind.IDENTIFY_CONTACT:
        raise Problem(404, _("Not found"), _("nothing to identify here"))
    if activity.state != ActivityState.OPEN or not activity.counterpart:
        raise Problem(409, _("Already identified"), _("this number or address has a contact now"))
    return activity


def _new_point(counterpart: str, region: str) -> PointInput:
    """The activity's number or address, normalised as the API normalises what it is sent."""
    if "@" in counterpart:
        [point] = normalised_emails([counterpart], field="counterpart")
    else:
        [point] = normalised_phones([counterpart], region, field="counterpart")
    return point


def _identified(request: Request, activity: Activity, contact_id: str, message: str) -> Response:
    if not wants_json(request):
        return RedirectResponse(f"/contacts/{contact_id}", status_code=303)
    return JSONResponse({"message": message, "remove": f"item-{activity.id}"})


@router.post("/identify/{activity_id}/contact")
async def identify_create(
    request: Request,
    activity_id: Id,
    session: SessionDep,
    settings: SettingsDep,
    user: PostingUser,
    form: FormDep,
) -> Response:
    """A new contact with the activity's number or address (pre-filled, not editable here);
    the manager who had the conversation owns it. 409 lists look-alikes unless forced."""
    if not can_identify(user):
        raise forbidden(_("operators add contacts"))
    first = text_field(form, "first_name", max_chars=200, label=_("The first name"))
    last = text_field(form, "last_name", max_chars=200, label=_("The last name"))
    title = text_field(form, "title", max_chars=200, label=_("The title")) or None
    company_name = text_field(form, "company", max_chars=200, label=_("The company"))
    other_phone = text_field(form, "phone", max_chars=64, label=_("The number"))
    other_email = text_field(form, "email", max_chars=254, label=_("The address"))
    if not (first or last):
        raise FormError(422, _("enter a first or a last name"))
    activity = await _open_identification(session, activity_id)
    region = settings.common.default_region
    point = _new_point(activity.counterpart or "", region)
    phones, emails = ([], [point]) if "@" in point.value else ([point], [])
    if other_phone:
        phones += [p for p in normalised_phones([other_phone], region, field="phone") if p != point]
    if other_email:
        emails += [p for p in normalised_emails([other_email], field="email") if p != point]
    company = await contacts.company_named(
        session, company_name, activity.assignee_id, user.principal
    )
    data = ContactInput(
        first_name=first,
        last_name=last,
        title=title,
        company_id=company.id if company else None,
        owner_id=activity.assignee_id,
        phones=phones,
        emails=emails,
    )
    contact = await create_contact(session, data, user.principal, force=checked(form, "force"))
    await session.commit()
    name = contact_name(contact)
    if company is not None:
        message = _("Contact %(name)s created, at %(company)s.", name=name, company=company.name)
    else:
        message = _("Contact %(name)s created.", name=name)
    return _identified(request, activity, contact.id, message)


@router.post("/identify/{activity_id}/link")
async def identify_link(
    request: Request,
    activity_id: Id,
    session: SessionDep,
    settings: SettingsDep,
    user: PostingUser,
    form: FormDep,
) -> Response:
    """Add the activity's number or address to an existing contact."""
    if not can_identify(user):
        raise forbidden(_("operators add contacts"))
    contact_id = text_field(form, "contact_id", max_chars=64, label=_("The contact"))
    if not contact_id:
        raise FormError(422, _("pick a contact"))
    activity = await _open_identification(session, activity_id)
    point = _new_point(activity.counterpart or "", settings.common.default_region)
    kind = "email" if "@" in point.value else "phone"
    points = [
        PointInput(p.value, p.raw or p.value)
        for p in await contacts.contact_points(session, contact_id)
        if p.type == kind and p.value != point.value
    ]
    points.append(point)
    changes = Changes(
        fields={},
        phones=points if kind == "phone" else None,
        emails=points if kind == "email" else None,
        force=checked(form, "force"),
    )
    contact = await update_contact(session, contact_id, changes, user.principal)
    await session.commit()
    name = contact_name(contact)
    return _identified(request, activity, contact.id, _("Linked to %(name)s.", name=name))
