"""People: managers (created, renamed, deactivated) and their API tokens (issued, listed,
revoked). Checking a token and the page's sessions are `core`'s: every request needs them.

Routes: `/api/v1/managers`, `/api/v1/tokens`. Other packages import from here only.
"""

from crm_store.people.repository import PeopleRepository
from crm_store.people.routes import router

__all__ = ["PeopleRepository", "router"]
