"""The managers' page: one screen, one click per call that needs a person.

Wire it with `app.include_router(web.router)`; it serves `/`, `/login`, `/team`, `/contacts/...`,
`/identify`, `/set-password`, `/admin/...` and its own `/static/...` files. `routes` holds the
inbox and the team, `signin_routes` signing in and out and setting a password, `oidc_routes`
single sign-on, `card_routes` a card's buttons (a preset, undo), `live` the inbox's stream of
changes (server-sent events), `contact_routes` the contact screens, `field_routes` a contact's
extra fields, `language_routes` the language picker and `admin*` the admin area (`/admin`;
`admin_signin_routes` an administrator's invitation and reset links), on the same router.
`http_error` answers an address nothing serves with a page when a browser asks (register it for
Starlette's `HTTPException`).
"""

from crm_store.web import (
    admin,
    admin_fields_routes,
    admin_people_routes,
    admin_plan_routes,
    admin_presets_routes,
    admin_settings_routes,
    admin_signin_routes,
    card_routes,
    contact_routes,
    field_routes,
    language_routes,
    live,
    oidc_routes,
    signin_routes,
)
from crm_store.web.render import http_error
from crm_store.web.routes import router

__all__ = [
    "admin",
    "admin_fields_routes",
    "admin_people_routes",
    "admin_plan_routes",
    "admin_presets_routes",
    "admin_settings_routes",
    "admin_signin_routes",
    "card_routes",
    "contact_routes",
    "field_routes",
    "http_error",
    "language_routes",
    "live",
    "oidc_routes",
    "router",
    "signin_routes",
]
