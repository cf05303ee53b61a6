"""People: managers (created, renamed, deactivated), their API tokens (issued, listed, revoked)
and their page credentials (passwords set with an invitation or reset link, the lock-out after
failed sign-ins). Checking a token and the page's sessions are `core`'s: every request needs
them.

A manager who leaves hands everything over to a colleague in one step (`handover`).

Routes: `/api/v1/managers`, `/api/v1/tokens`, `/api/v1/managers/{id}/invitation`,
`/password-reset` and `/hand-over`. Other packages import from here only.
"""

from crm_store.people import credential_routes, credentials, lockout, service
from crm_store.people.handover import HandOver, hand_over
from crm_store.people.repository import PeopleRepository
from crm_store.people.routes import router
from crm_store.people.schemas import ManagerIn, ManagerPatch, TokenIn

__all__ = [
    "HandOver",
    "ManagerIn",
    "ManagerPatch",
    "PeopleRepository",
    "TokenIn",
    "credential_routes",
    "credentials",
    "hand_over",
    "lockout",
    "router",
    "service",
]
