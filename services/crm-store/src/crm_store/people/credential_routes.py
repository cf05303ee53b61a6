"""`POST /api/v1/managers/{id}/invitation` and `.../password-reset`: a single-use link with
which the manager sets their page password, shown once. A reset also clears the old password
and ends every page session of the manager. Writes commit here, at the edge."""

from __future__ import annotations

from fastapi import Request, status

from crm_store.core import Authorized, SessionDep, SettingsDep, utcnow
from crm_store.people import credentials
from crm_store.people.routes import router
from crm_store.people.schemas import SignInLinkOut


def base_url(request: Request, public_url: str | None) -> str:
    return public_url or str(request.base_url)


async def _issue(
    request: Request,
    manager_id: str,
    purpose: credentials.Purpose,
    session: SessionDep,
    settings: SettingsDep,
    who: Authorized,
) -> SignInLinkOut:
    issued = await credentials.issue_link(
        session,
        manager_id,
        purpose,
        credentials.lifetime(
            purpose, invitation_h=settings.invitation_h, reset_h=settings.reset_link_h
        ),
        who,
        utcnow(),
    )
    await session.commit()
    return SignInLinkOut(
        manager_id=manager_id,
        purpose=purpose,
        url=credentials.link_url(base_url(request, settings.public_url), issued.secret),
        expires_at=issued.link.expires_at,
    )


@router.post(
    "/managers/{manager_id}/invitation",
    response_model=SignInLinkOut,
    status_code=status.HTTP_201_CREATED,
    tags=["managers"],
)
async def invite(
    request: Request, manager_id: str, session: SessionDep, settings: SettingsDep, who: Authorized
) -> SignInLinkOut:
    """An invitation link for a manager without a password (409 once they have one: reset it
    instead). An unused older link stops working."""
    return await _issue(request, manager_id, "invitation", session, settings, who)


@router.post(
    "/managers/{manager_id}/password-reset",
    response_model=SignInLinkOut,
    status_code=status.HTTP_201_CREATED,
    tags=["managers"],
)
async def reset_password(
    request: Request, manager_id: str, session: SessionDep, settings: SettingsDep, who: Authorized
) -> SignInLinkOut:
    """Clear the manager's password, end every page session of theirs (on their next click)
    and return a link to set a new one."""
    return await _issue(request, manager_id, "reset", session, settings, who)
