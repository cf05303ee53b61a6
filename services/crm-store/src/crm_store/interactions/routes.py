"""`/api/v1/interactions` (filtered, newest first) and a contact's timeline."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from crm_store.activities import ActivityFilter, ActivityOut, ActivityRepository, domain
from crm_store.core import (
    MAX_PAGE,
    Authorized,
    Interaction,
    InvalidCursorError,
    Role,
    SessionDep,
    SettingsDep,
    feature_router,
    invalid,
    not_found,
)
from crm_store.directory import DirectoryRepository, contact_view, linking
from crm_store.interactions.repository import InteractionFilter, InteractionRepository
from crm_store.interactions.schemas import (
    InteractionDetail,
    InteractionOut,
    InteractionPage,
    Timeline,
)
from switchboard_shared.events import Tag
from switchboard_shared.problems import Problem

router = feature_router()

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Cursor = Annotated[str | None, Query(max_length=512)]


@router.get("/interactions", response_model=InteractionPage, tags=["interactions"])
async def list_interactions(
    session: SessionDep,
    settings: SettingsDep,
    who: Authorized,
    contact_id: Annotated[str | None, Query(max_length=64)] = None,
    company_id: Annotated[str | None, Query(max_length=64)] = None,
    unlinked: Annotated[
        bool | None, Query(description="true: no contact (to identify); false: with one")
    ] = None,
    tag: Tag | None = None,
    counterpart: Annotated[str | None, Query(max_length=320, description="Any format")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> InteractionPage:
    counterparts: tuple[str, ...] = ()
    if counterpart is not None:
        value = (
            linking.email_point(counterpart)
            if "@" in counterpart
            else linking.phone_point(counterpart, settings.common.default_region)
        )
        if value is None:
            raise invalid("counterpart", "not a phone number or e-mail address")
        counterparts = tuple(sorted(linking.point_forms(value)))
    where = InteractionFilter(
        contact_id=contact_id,
        company_id=company_id,
        unlinked=unlinked,
        tag=tag.value if tag else None,
        counterparts=counterparts,
    )
    try:
        page = await InteractionRepository(session).list_interactions(
            where, limit=limit, cursor=cursor
        )
    except InvalidCursorError as exc:
        raise invalid("cursor", str(exc)) from exc
    items = [InteractionOut.model_validate(i) for i in page.items]
    return InteractionPage(items=items, next_cursor=page.next_cursor)


@router.get(
    "/interactions/{interaction_id}", response_model=InteractionDetail, tags=["interactions"]
)
async def get_interaction(interaction_id: str, session: SessionDep, who: Authorized) -> Interaction:
    interaction = await InteractionRepository(session).get_interaction(interaction_id)
    if interaction is None:
        raise Problem(404, "Not found", f"no interaction {interaction_id}")
    return interaction


@router.get("/contacts/{contact_id}/timeline", response_model=Timeline, tags=["contacts"])
async def contact_timeline(
    contact_id: str,
    session: SessionDep,
    who: Authorized,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Timeline:
    """The contact's interactions (newest first, paginated) and the activities the caller may
    read (none for operators; a manager's own and unassigned ones for a manager)."""
    directory = DirectoryRepository(session)
    contact = await directory.get_contact(contact_id)
    if contact is None:
        raise not_found("contact", contact_id)
    try:
        page = await InteractionRepository(session).list_interactions(
            InteractionFilter(contact_id=contact_id), limit=limit, cursor=cursor
        )
    except InvalidCursorError as exc:
        raise invalid("cursor", str(exc)) from exc
    activities: list[ActivityOut] = []
    if who.role in domain.ACTIVITY_READERS:  # as `GET /activities`: no notes for operators
        visible_to = None if who.role is not Role.MANAGER else (who.manager_id or "")
        found = await ActivityRepository(session).list_activities(
            ActivityFilter(contact_id=contact_id, visible_to_manager=visible_to), limit=MAX_PAGE
        )
        activities = [ActivityOut.model_validate(a) for a in found.items]
    return Timeline(
        contact=await contact_view(directory, contact),
        interactions=[InteractionOut.model_validate(i) for i in page.items],
        activities=activities,
        next_cursor=page.next_cursor,
    )
