"""The managers' page: one screen, one click per call that needs a person.

Wire it with `app.include_router(web.router)`; it serves `/`, `/login`, `/team`, `/contacts/...`,
`/identify` and its own `/static/...` files. `routes` holds the inbox and the team,
`card_routes` a card's buttons (a preset, undo) and `contact_routes` the contact screens, on the
same router. `http_error` answers an address
nothing serves with a page when a browser asks (register it for Starlette's `HTTPException`).
"""

from crm_store.web import admin_settings_routes, card_routes, contact_routes
from crm_store.web.render import http_error
from crm_store.web.routes import router

__all__ = [
    "admin_settings_routes",
    "card_routes",
    "contact_routes",
    "http_error",
    "router",
]
