"""The `/api/v1` routers. Every feature declares its routes on its own `feature_router()`, which
carries the prefix, so each route's template is whole (`/api/v1/contacts/{contact_id}`): the
guard looks the template up in the role matrix. `api_router` gathers the features' routes into
one router, in the order given. Every route authenticates and authorises before its body is
read (`auth.GuardedRoute`)."""

from fastapi import APIRouter

from crm_store.core.auth import GuardedRoute

API_PREFIX = "/api/v1"


def feature_router() -> APIRouter:
    return APIRouter(prefix=API_PREFIX, route_class=GuardedRoute)


def api_router(*features: APIRouter) -> APIRouter:
    """One router holding the features' routes themselves (not nested routers), in this order:
    the order of the OpenAPI document."""
    router = APIRouter(route_class=GuardedRoute)
    for feature in features:
        router.routes.extend(feature.routes)
    return router
