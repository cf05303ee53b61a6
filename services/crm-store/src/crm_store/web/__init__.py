"""The managers' page: one screen, one click per call that needs a person.

Wire it with `app.include_router(web.router)`; it serves `/`, `/login`, `/team`, `/contacts/...`,
`/identify` and its own `/static/...` files. `routes` holds the inbox and the team, and
`contact_routes` the contact screens, on the same router.
"""

from crm_store.web import contact_routes
from crm_store.web.routes import router

__all__ = ["contact_routes", "router"]
