"""The managers' page: one screen, one click per call that needs a person.

Wire it with `app.include_router(web.router)`; it serves `/`, `/login`, `/team`, `/contacts/...`,
`/identify` and its own `/static/...` files. `routes` holds the inbox and the team,
`card_routes` a card's buttons (a preset, undo), `live` the inbox's stream of changes
(server-sent events), `contact_routes` the contact screens and `language_routes` the language
picker, on the same router; `i18n` the catalogues and the locale of each request.
`http_error` answers an address nothing serves with a page when a browser asks (register it
for Starlette's `HTTPException`).
"""

from crm_store.web import card_routes, contact_routes, language_routes, live
from crm_store.web.render import http_error
from crm_store.web.routes import router

__all__ = [
    "card_routes",
    "contact_routes",
    "http_error",
    "language_routes",
    "live",
    "router",
]
