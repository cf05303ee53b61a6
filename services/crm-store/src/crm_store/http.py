"""The HTTP edge of the API: `/api/v1`, every feature's routes under one prefix, in the order the
OpenAPI document lists them (`docs/crm-store.openapi.json` pins it). The page is `web`."""

from crm_store import activities, directory, interactions, people, reports, settings
from crm_store.core import api_router

router = api_router(
    directory.router,
    directory.fields_router,
    interactions.router,
    reports.router,
    activities.router,
    people.router,
    settings.router,
)
