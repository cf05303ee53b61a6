"""People: managers (created, renamed, deactivated), their API tokens (issued, listed, revoked)
and their page credentials (passwords set with an invitation or reset link, the lock-out after
failed sign-ins). Checking a token and the page's sessions are `core`'s: every request needs
them.

Routes: `/api/v1/managers`, `/api/v1/tokens`, `/api/v1/managers/{id}/invitation` and
`/password-reset`. Other packages import from here only.
"""

from crm_store.people import credential_routes, credentials, lockout
from crm_store.people.repository import PeopleRepository
from crm_store.people.routes import router

__all__ = ["PeopleRepository", "credential_routes", "credentials", "lockout", "router"]
