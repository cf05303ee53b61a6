"""Every route x every role → allowed or denied, as `crm_store.core.policy.ROUTES` specifies, on a
real database. Allowed means the request got past authorisation (it may still be a 404 for a
made-up id or a 422 for an empty body); denied means 403."""

from __future__ import annotations

import httpx
import pytest
from fastapi.routing import APIRoute

from crm_store.core import ROUTES, Role
from crm_store.http import router

pytestmark = pytest.mark.integration
P = "/api/v1"

PATH_VALUES = {
    "{activity_id}": "no-such-activity",
    "{code}": "no_such_preset",
    "{contact_id}": "no-such-contact",
    "{company_id}": "no-such-company",
    "{interaction_id}": "no-such-interaction",
    "{manager_id}": "no-such-manager",
    "{token_id}": "no-such-token",
    "{group}": "outcomes",
    "{field_id}": "no-such-field",
    "{target_id}": "no-such-target",
}
# Only admins see, issue and revoke tokens; the rest read what is not personal-data export.
ADMIN_ONLY_READS = (f"{P}/managers", f"{P}/audit", f"{P}/contact-points/export", f"{P}/tokens")
# The admin area's settings: administrators change them, supervisors read them (and preview a
# classification change); nobody else sees them.
SETTINGS_READS = (f"{P}/settings", f"{P}/settings/{{group}}")
PREVIEW = ("POST", f"{P}/settings/classification/preview")

# What each role may do, in words, as the issue states it; the table in policy.py must agree.
SPEC: dict[Role, set[tuple[str, str]]] = {
    Role.ADMIN: set(ROUTES),
    Role.SUPERVISOR: {
        (m, p)
        for m, p in ROUTES
        if (m == "GET" and "export" not in p and p != f"{P}/tokens")
        or p.endswith(
            ("/status", "/undo", "/correct", "/mark-handled", "/plan-targets", "/{target_id}")
        )
        or (m, p) == PREVIEW
    },
    Role.MANAGER: {
        (m, p)
        for m, p in ROUTES
        if (m == "GET" and p not in ADMIN_ONLY_READS + SETTINGS_READS)
        or p.endswith(("/status", "/undo", "/mark-handled"))
    },
    Role.OPERATOR: {
        (m, p)
        for m, p in ROUTES
        if ("/contacts" in p or "/companies" in p or "/contact-points" in p)
        or (m == "GET" and ("/interactions" in p or p.endswith(("/presets", "/contact-fields"))))
    },
    Role.VIEWER: {
        (m, p) for m, p in ROUTES if m == "GET" and p not in ADMIN_ONLY_READS + SETTINGS_READS
    },
}


def concrete(path: str) -> str:
    for template, value in PATH_VALUES.items():
        path = path.replace(template, value)
    return path


def test_every_api_route_is_in_the_matrix_and_nothing_else() -> None:
    served = {
        (method, route.path)
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    assert served == set(ROUTES)


def test_the_matrix_says_what_the_issue_says() -> None:
    for role, allowed in SPEC.items():
        table = {key for key, roles in ROUTES.items() if role in roles}
        assert table == allowed, role


async def role_headers(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> dict[Role, dict[str, str]]:
    headers = {Role.ADMIN: admin}
    for role in Role:
        if role is Role.ADMIN:
            continue
        body = {"name": f"Matrix {role.value}", "email": f"matrix-{role.value}@our.example"}
        created = await client.post(
            "/api/v1/managers", json={**body, "role": role.value}, headers=admin
        )
        assert created.status_code == 201, created.text
        token = await client.post(
            "/api/v1/tokens", json={"manager_id": created.json()["id"]}, headers=admin
        )
        headers[role] = {"Authorization": f"Bearer {token.json()['token']}"}
    return headers


async def test_every_route_for_every_role(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    headers = await role_headers(client, admin)
    outcomes: list[str] = []
    for (method, path), roles in sorted(ROUTES.items()):
        for role in Role:
            if method == "POST" and path.endswith(("/managers", "/tokens", "/presets")):
                body: object = {"unexpected": True}  # never creates anything
            else:
                body = {}
            response = await client.request(
                method,
                concrete(path),
                headers=headers[role],
                json=body if method in ("POST", "PATCH") else None,
            )
            expected_denied = role not in roles
            denied = response.status_code == 403
            assert response.status_code != 401
            if denied != expected_denied:
                outcomes.append(f"{method} {path} as {role.value}: {response.status_code}")
    assert outcomes == []


async def test_openapi_documents_every_route(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    documented = {
        (method.upper(), path) for path, item in schema["paths"].items() for method in item
    }
    assert documented == set(ROUTES)
    assert (await client.get("/docs")).status_code == 200
