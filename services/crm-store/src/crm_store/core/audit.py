"""Audit entries: who did what to which record. Every unit of work appends its entries in its
own transaction (`Store.audit`); `GET /api/v1/audit` reads them."""

from __future__ import annotations

from typing import Any

from crm_store.core.roles import Principal

SYSTEM = "system"


def actor_of(who: Principal) -> str:
    if who.manager_id:
        return f"manager:{who.manager_id}"
    if who.token_id:
        return f"token:{who.token_id}"
    return "bootstrap-admin"


def audit_entry(
    who: Principal | None, action: str, entity: str, entity_id: str, **changes: Any
) -> dict[str, Any]:
    return {
        "actor": SYSTEM if who is None else actor_of(who),
        "actor_role": SYSTEM if who is None else who.role.value,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "changes": changes,
    }
