"""The managers' page: one screen, one click per call that needs a person.

Wire it with `app.include_router(web.router)`; it serves `/`, `/login`, `/team`, `/contacts/...`,
`/identify` and its own `/static/...` files.
"""

from crm_store.web.routes import router

__all__ = ["router"]
