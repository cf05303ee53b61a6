"""Events crm-store publishes for downstream services (`crm.*.v1`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from switchboard_shared.events.base import Event, Part
from switchboard_shared.events.interactions import Disposition, InteractionKind, Tag


class ActivityKind(StrEnum):
    CALLBACK = "callback"
    LOG_OUTCOME = "log_outcome"
    REPLY = "reply"
    IDENTIFY_CONTACT = "identify_contact"


class ActivityState(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELED = "canceled"


class ClosedBy(StrEnum):
    MANAGER = "manager"
    AUTO = "auto"


class InteractionLinked(Event):
    interaction_id: str
    kind: InteractionKind
    occurred_at: datetime
    counterpart: str | None = None
    direction: str
    tags: list[Tag] = Field(default_factory=list)
    disposition: Disposition
    contact_id: str | None = None
    company_id: str | None = None
    manager_id: str | None = None


class ActivityChanged(Event):
    activity_id: str
    kind: ActivityKind
    state: ActivityState
    change: str = Field(
        description="`opened`, `repeated`, `status_set`, `closed`, `reopened`, `reassigned` "
        "(its manager left and a colleague took it over)"
    )
    interaction_id: str | None = Field(
        default=None, description="The interaction behind the change"
    )
    counterpart: str | None = None
    contact_id: str | None = None
    assignee_id: str | None = None
    preset: str | None = None
    closed_by: ClosedBy | None = None
    reason: str | None = None
    count: int = Field(default=1, ge=1, description="Interactions folded into this activity")
    changed_at: datetime


class Undeliverable(Part):
    """Mail to an address failed for good (a permanent bounce): nobody should write to it."""

    since: datetime = Field(description="When the bounce that marked it arrived (UTC)")
    status: str | None = Field(default=None, description="RFC 3463 status, e.g. 5.1.1")
    diagnostic: str | None = Field(default=None, description="The remote server's answer")
    interaction_id: str | None = Field(default=None, description="The bounce's interaction")


class ContactPoint(Event):
    """Compacted: the latest owner of a phone number or address. A null value is the tombstone."""

    point: str = Field(description="E.164 number or normalised e-mail address (also the key)")
    type: str = Field(description="`phone` or `email`")
    contact_id: str | None = None
    company_id: str | None = None
    undeliverable: Undeliverable | None = Field(
        default=None,
        description="Set while the address bounces for good (never offer it to write to); "
        "null when it takes mail. A later message from the address clears it",
    )


class Feedback(Event):
    interaction_id: str
    counterpart: str | None = Field(
        default=None, description="The E.164 number or address concerned (also the key)"
    )
    activity_id: str | None = None
    manager_id: str | None = None
    preset: str
    classifier_disposition: Disposition | None = None
    classifier_tags: list[Tag] = Field(default_factory=list)
    overturns_classifier: bool
    retracts: str | None = Field(
        default=None,
        description="The ce_id of an earlier feedback this one withdraws (the manager undid "
        "that preset): its reports no longer count",
    )
    at: datetime


class ReputationReport(Part):
    """One manager's word on a number or address, as the classifier counts it."""

    id: str = Field(max_length=300, description="feedback ce_id + `:` + label: unique")
    label: str = Field(max_length=40, description="`wrong_number` or `spam`")
    manager: str = Field(max_length=200)
    at: datetime
    overturn: bool = Field(description="The manager said the classifier's tag was wrong")


class Reputation(Event):
    """Compacted (`classifier.knowledge.v1`): what managers reported about one contact point,
    kept after `crm.feedback.v1` has expired. Reports and withdrawn report ids both only grow,
    so two writers' values merge into the same state whatever their order."""

    point: str = Field(max_length=320, description="E.164 number or address (also the key)")
    reports: list[ReputationReport] = Field(default_factory=list, max_length=5000)
    retracted: list[str] = Field(
        default_factory=list,
        max_length=5000,
        description="Ids of reports a manager withdrew: they no longer count",
    )
    counts: dict[str, int] = Field(
        default_factory=dict, description="Reports that count, by label (informative)"
    )
    last_seen: datetime | None = Field(default=None, description="The latest report's time")


class SettingsChanged(Event):
    """Compacted: the latest values of one group of settings an administrator edits (key: the
    group). Every service follows the topic and reads it to its end before consuming."""

    group: str = Field(description="The setting group (also the key): `classification`, ...")
    values: dict[str, Any] = Field(
        description="The group's values, as the group's model in `switchboard_shared.settings."
        "groups` validates them"
    )
    version: int = Field(ge=1, description="Increases by one with every change of the group")
    changed_by: str = Field(description="Who changed it (`manager:<id>`, `bootstrap-admin`)")
    changed_at: datetime
