"""Who may call which route: the role matrix of the API, as data.

Every route under `/api/v1` must be listed here; a route that is not is refused to everyone
(and a test fails). Row-level rules (a manager sees their own activities) live in
`activities.domain`.
"""

from __future__ import annotations

from crm_store.core.roles import Role

A, S, M, OP, V = Role.ADMIN, Role.SUPERVISOR, Role.MANAGER, Role.OPERATOR, Role.VIEWER
EVERYONE = frozenset(Role)
READERS_OF_ACTIVITIES = frozenset({A, S, M, V})
STATUS_SETTERS = frozenset({A, S, M})
PERSONAL_DATA_EDITORS = frozenset({A, OP})
ADMINS = frozenset({A})
SUPERVISORS = frozenset({A, S})

P = "/api/v1"
ROUTES: dict[tuple[str, str], frozenset[Role]] = {
    ("GET", f"{P}/activities"): READERS_OF_ACTIVITIES,
    ("GET", f"{P}/activities/{{activity_id}}"): READERS_OF_ACTIVITIES,
    ("POST", f"{P}/activities/{{activity_id}}/status"): STATUS_SETTERS,
    ("POST", f"{P}/activities/{{activity_id}}/undo"): STATUS_SETTERS,
    ("POST", f"{P}/activities/{{activity_id}}/correct"): SUPERVISORS,
    ("POST", f"{P}/activities/mark-handled"): STATUS_SETTERS,
    ("GET", f"{P}/presets"): EVERYONE,
    ("POST", f"{P}/presets"): ADMINS,
    ("PATCH", f"{P}/presets/{{code}}"): ADMINS,
    ("PUT", f"{P}/presets/order"): ADMINS,
    ("GET", f"{P}/managers"): SUPERVISORS,
    ("POST", f"{P}/managers"): ADMINS,
    ("PATCH", f"{P}/managers/{{manager_id}}"): ADMINS,
    ("POST", f"{P}/managers/{{manager_id}}/invitation"): ADMINS,
    ("POST", f"{P}/managers/{{manager_id}}/password-reset"): ADMINS,
    ("POST", f"{P}/managers/{{manager_id}}/hand-over"): ADMINS,
    ("GET", f"{P}/tokens"): ADMINS,
    ("POST", f"{P}/tokens"): ADMINS,
    ("DELETE", f"{P}/tokens/{{token_id}}"): ADMINS,
    ("GET", f"{P}/contacts"): EVERYONE,
    ("POST", f"{P}/contacts"): PERSONAL_DATA_EDITORS,
    ("GET", f"{P}/contacts/{{contact_id}}"): EVERYONE,
    ("PATCH", f"{P}/contacts/{{contact_id}}"): PERSONAL_DATA_EDITORS,
    ("DELETE", f"{P}/contacts/{{contact_id}}"): PERSONAL_DATA_EDITORS,
    ("POST", f"{P}/contacts/{{contact_id}}/restore"): PERSONAL_DATA_EDITORS,
    ("POST", f"{P}/contacts/{{contact_id}}/merge"): PERSONAL_DATA_EDITORS,
    ("GET", f"{P}/contacts/{{contact_id}}/timeline"): EVERYONE,
    ("GET", f"{P}/companies"): EVERYONE,
    ("POST", f"{P}/companies"): PERSONAL_DATA_EDITORS,
    ("GET", f"{P}/companies/{{company_id}}"): EVERYONE,
    ("PATCH", f"{P}/companies/{{company_id}}"): PERSONAL_DATA_EDITORS,
    ("DELETE", f"{P}/companies/{{company_id}}"): PERSONAL_DATA_EDITORS,
    ("POST", f"{P}/companies/{{company_id}}/restore"): PERSONAL_DATA_EDITORS,
    ("GET", f"{P}/contact-fields"): EVERYONE,
    ("POST", f"{P}/contact-fields"): ADMINS,
    ("PATCH", f"{P}/contact-fields/{{field_id}}"): ADMINS,
    ("GET", f"{P}/interactions"): EVERYONE,
    ("GET", f"{P}/interactions/{{interaction_id}}"): EVERYONE,
    ("GET", f"{P}/contact-points/export"): PERSONAL_DATA_EDITORS,
    ("GET", f"{P}/reports/managers"): READERS_OF_ACTIVITIES,
    ("GET", f"{P}/plan-targets"): READERS_OF_ACTIVITIES,
    ("POST", f"{P}/plan-targets"): SUPERVISORS,
    ("DELETE", f"{P}/plan-targets/{{target_id}}"): SUPERVISORS,
    ("GET", f"{P}/audit"): SUPERVISORS,
    ("GET", f"{P}/settings"): SUPERVISORS,
    ("GET", f"{P}/settings/{{group}}"): SUPERVISORS,
    ("PUT", f"{P}/settings/{{group}}"): ADMINS,
    ("POST", f"{P}/settings/classification/preview"): SUPERVISORS,
}


def allowed(method: str, route: str, role: Role) -> bool:
    return role in ROUTES.get((method.upper(), route), frozenset())
