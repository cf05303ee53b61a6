"""Who calls: the roles of the API and the principal behind a request."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    MANAGER = "manager"
    OPERATOR = "operator"
    VIEWER = "viewer"


@dataclass(frozen=True)
class Principal:
    """Who is calling the API: a role, and the manager behind the token when there is one."""

    role: Role
    manager_id: str | None = None
    token_id: str | None = None
