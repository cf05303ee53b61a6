"""Settings an administrator edits (classification, outcomes, telephony): stored per group with
a version, audited, published on `crm.settings.v1`, and the preview of a classification change
over the last days' interactions.

Routes: `/api/v1/settings`. Other packages import from here only.
"""

from crm_store.settings.preview import PREVIEW_DAYS, Preview
from crm_store.settings.routes import applied, router, run_preview
from crm_store.settings.service import (
    GroupState,
    defaults,
    read_all,
    read_group,
    republish_settings,
    save_group,
)

__all__ = [
    "PREVIEW_DAYS",
    "GroupState",
    "Preview",
    "applied",
    "defaults",
    "read_all",
    "read_group",
    "republish_settings",
    "router",
    "run_preview",
    "save_group",
]
