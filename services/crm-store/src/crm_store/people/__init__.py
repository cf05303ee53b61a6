"""People: managers (created, renamed, deactivated) and their API tokens (issued, listed,
revoked). Checking a token and the page's sessions are `core`'s: every request needs them.

A manager who leaves hands everything over to a colleague in one step (`handover`).

Routes: `/api/v1/managers`, `/api/v1/tokens`. Other packages import from here only.
"""

from crm_store.people import service
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
    "hand_over",
    "router",
    "service",
]
