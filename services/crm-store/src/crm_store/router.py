"""The one `/api/v1` router every API module registers on (so route templates are whole); its
routes authenticate and authorise before their bodies are read (`auth.GuardedRoute`)."""

from fastapi import APIRouter

from crm_store.auth import GuardedRoute

router = APIRouter(prefix="/api/v1", route_class=GuardedRoute)
