"""Activities: what an interaction asks a person to do, opened and closed by the rules of
`domain` (pure), statuses set with presets, the inbox queries and the open/overdue gauges.

Routes: `/api/v1/activities`, `/api/v1/presets`. Other packages import from here only.
"""

from crm_store.activities import assignment, domain, presets
from crm_store.activities.bulk import mark_all_handled
from crm_store.activities.domain import (
    ACTIVITY_READERS,
    SEES_ALL_ACTIVITIES,
    STATUS_SETTERS,
    ActivityView,
    Close,
    Fold,
    ManagerView,
    Open,
    can_see_activity,
    can_set_status,
    identification_closes,
    preset_applies,
)
from crm_store.activities.expiry import OutcomeExpiry, expire_outcome_requests
from crm_store.activities.gauges import ActivityGauges
from crm_store.activities.outcomes import OutcomeFacts, asks_outcome
from crm_store.activities.repository import ActivityFilter, ActivityRepository, Page
from crm_store.activities.routes import router
from crm_store.activities.schemas import ActivityOut, PresetIn, PresetPatch
from crm_store.activities.service import (
    ActivityRow,
    activity_record,
    activity_view,
    close_activity,
    set_status,
)
from crm_store.activities.undo import undo_status

__all__ = [
    "ACTIVITY_READERS",
    "SEES_ALL_ACTIVITIES",
    "STATUS_SETTERS",
    "ActivityFilter",
    "ActivityGauges",
    "ActivityOut",
    "ActivityRepository",
    "ActivityRow",
    "ActivityView",
    "Close",
    "Fold",
    "ManagerView",
    "Open",
    "OutcomeExpiry",
    "OutcomeFacts",
    "Page",
    "PresetIn",
    "PresetPatch",
    "activity_record",
    "activity_view",
    "asks_outcome",
    "assignment",
    "can_see_activity",
    "can_set_status",
    "close_activity",
    "domain",
    "expire_outcome_requests",
    "identification_closes",
    "mark_all_handled",
    "preset_applies",
    "presets",
    "router",
    "set_status",
    "undo_status",
]
