"""What every feature of crm-store shares: the database (engine, tables, the `Store` every
repository builds on), the outbox and the audit trail every unit of work writes to, who is
calling (tokens, page sessions, roles, the route matrix and the guard that enforces it), the
`/api/v1` router and the base of the API's bodies.

Other packages import these names from `crm_store.core`, never from its modules.
"""

from crm_store.core.access import AccessRepository, Denied, TokenState, TokenView, sha256
from crm_store.core.access import check as check_token
from crm_store.core.audit import SYSTEM, actor_of, audit_entry
from crm_store.core.auth import (
    Authorized,
    CurrentPrincipal,
    GuardedRoute,
    SessionDep,
    SettingsDep,
    get_session,
    get_settings,
    identify,
    record_use,
)
from crm_store.core.db import make_engine, make_sessionmaker
from crm_store.core.errors import invalid, not_found
from crm_store.core.models import (
    Activity,
    ActivityInteraction,
    ApiToken,
    AuditEntry,
    Base,
    Company,
    CompanyDomain,
    Contact,
    ContactField,
    Interaction,
    Manager,
    OutboxMessage,
    PageSession,
    PlanTarget,
    Point,
    Preset,
    ServiceState,
    UtcDateTime,
    utcnow,
)
from crm_store.core.outbox import SOURCE, OutboxRepository, PendingRecord, outbox_record
from crm_store.core.policy import ROUTES, allowed
from crm_store.core.roles import Principal, Role
from crm_store.core.router import API_PREFIX, api_router, feature_router
from crm_store.core.schemas import (
    Body,
    Extension,
    Name200,
    Notes,
    Out,
    PointText,
    PresetCode,
    Text200,
    no_nulls,
)
from crm_store.core.settings_models import Setting
from crm_store.core.sign_in_models import SignInFailures, SignInLink
from crm_store.core.store import (
    COPY_MIN_ROWS,
    DEFAULT_PAGE,
    MAX_PAGE,
    InvalidCursorError,
    Store,
    decode_cursor,
    decode_name_cursor,
    encode_cursor,
    encode_name_cursor,
    table_of,
)

__all__ = [
    "API_PREFIX",
    "COPY_MIN_ROWS",
    "DEFAULT_PAGE",
    "MAX_PAGE",
    "ROUTES",
    "SOURCE",
    "SYSTEM",
    "AccessRepository",
    "Activity",
    "ActivityInteraction",
    "ApiToken",
    "AuditEntry",
    "Authorized",
    "Base",
    "Body",
    "Company",
    "CompanyDomain",
    "Contact",
    "ContactField",
    "CurrentPrincipal",
    "Denied",
    "Extension",
    "GuardedRoute",
    "Interaction",
    "InvalidCursorError",
    "Manager",
    "Name200",
    "Notes",
    "Out",
    "OutboxMessage",
    "OutboxRepository",
    "PageSession",
    "PendingRecord",
    "PlanTarget",
    "Point",
    "PointText",
    "Preset",
    "PresetCode",
    "Principal",
    "Role",
    "ServiceState",
    "SessionDep",
    "Setting",
    "SettingsDep",
    "SignInFailures",
    "SignInLink",
    "Store",
    "Text200",
    "TokenState",
    "TokenView",
    "UtcDateTime",
    "actor_of",
    "allowed",
    "api_router",
    "audit_entry",
    "check_token",
    "decode_cursor",
    "decode_name_cursor",
    "encode_cursor",
    "encode_name_cursor",
    "feature_router",
    "get_session",
    "get_settings",
    "identify",
    "invalid",
    "make_engine",
    "make_sessionmaker",
    "no_nulls",
    "not_found",
    "outbox_record",
    "record_use",
    "sha256",
    "table_of",
    "utcnow",
]
