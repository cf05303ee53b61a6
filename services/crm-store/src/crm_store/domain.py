"""Pure decisions of crm-store: which activities an interaction opens, folds into or closes,
who gets them, and who may see or change them. No I/O here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from switchboard_shared.events import (
    ActivityKind,
    CallDirection,
    CallStatus,
    Disposition,
    InteractionClassified,
    MailDirection,
)


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


ACTIVITY_READERS = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.MANAGER, Role.VIEWER})
SEES_ALL_ACTIVITIES = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.VIEWER})
STATUS_SETTERS = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.MANAGER})


def can_see_activity(who: Principal, assignee_id: str | None) -> bool:
    """Admins, supervisors and viewers see all; a manager sees their own and unassigned ones."""
    if who.role in SEES_ALL_ACTIVITIES:
        return True
    if who.role is Role.MANAGER:
        return assignee_id is None or assignee_id == who.manager_id
    return False


def can_set_status(who: Principal, assignee_id: str | None) -> bool:
    return who.role in STATUS_SETTERS and can_see_activity(who, assignee_id)


def takes_on_status(who: Principal, assignee_id: str | None) -> str | None:
    """A manager who sets a status on an unassigned activity takes it; returns the new assignee."""
    if assignee_id is None and who.role is Role.MANAGER and who.manager_id:
        return who.manager_id
    return assignee_id


def preset_applies(preset_kinds: Iterable[str], kind: str) -> bool:
    return kind in set(preset_kinds)


def overturns_classifier(preset_overturns: Iterable[str], disposition: str | None) -> bool:
    """Whether a manager's preset says the classifier's disposition was wrong."""
    return disposition is not None and disposition in set(preset_overturns)


@dataclass(frozen=True)
class ActivityView:
    """What the decisions need to know about an open activity."""

    id: str
    kind: ActivityKind
    counterpart: str | None
    last_occurred_at: datetime
    thread_id: str | None = None
    assignee_id: str | None = None


@dataclass(frozen=True)
class ManagerView:
    id: str
    email: str
    extensions: Sequence[str] = field(default_factory=tuple)
    active: bool = True


@dataclass(frozen=True)
class Open:
    kind: ActivityKind
    counterpart: str | None
    thread_id: str | None = None
    assignee_id: str | None = None


@dataclass(frozen=True)
class Fold:
    """One more interaction for an open activity (a repeated missed call, a follow-up mail)."""

    activity_id: str
    assignee_id: str | None = None


@dataclass(frozen=True)
class Close:
    activity_id: str
    reason: str


Decision = Open | Fold | Close


def choose_assignee(event: InteractionClassified, managers: Iterable[ManagerView]) -> str | None:
    """The manager whose extension took the call, or whose mailbox got the message."""
    active = [m for m in managers if m.active]
    if event.call is not None and event.call.agent:
        agent = event.call.agent.strip()
        for manager in active:
            if agent in manager.extensions:
                return manager.id
    if event.mail is not None:
        mailbox = event.mail.mailbox.strip().lower()
        for manager in active:
            if manager.email.lower() == mailbox:
                return manager.id
    return None


def decide(
    event: InteractionClassified,
    open_activities: Sequence[ActivityView],
    *,
    assignee_id: str | None = None,
) -> list[Decision]:
    """Closes first, then what this interaction asks a person to do."""
    closes = _auto_closes(event, open_activities)
    closed = {c.activity_id for c in closes}
    still_open = [a for a in open_activities if a.id not in closed]
    return [*closes, *_asks(event, still_open, assignee_id)]


def _auto_closes(
    event: InteractionClassified, open_activities: Sequence[ActivityView]
) -> list[Close]:
    # An act closes only what was open before it: a late-delivered old call must not close a
    # callback for a newer missed call.
    earlier = [a for a in open_activities if a.last_occurred_at <= event.occurred_at]
    call, mail = event.call, event.mail
    if call is not None and call.status is CallStatus.ANSWERED and event.counterpart:
        if call.direction is CallDirection.INTERNAL:
            return []
        reason = f"answered {call.direction.value} call {call.call_id}"
        return [
            Close(a.id, reason)
            for a in earlier
            if a.kind is ActivityKind.CALLBACK and a.counterpart == event.counterpart
        ]
    if (
        mail is not None
        and mail.direction is MailDirection.OUTBOUND
        and event.disposition is Disposition.LOGGED
    ):
        recipients = set(recipient_addresses(event))
        reason = f"outbound mail {mail.message_id}"
        return [
            Close(a.id, reason)
            for a in earlier
            if a.kind is ActivityKind.REPLY
            and (
                (mail.thread_id is not None and a.thread_id == mail.thread_id)
                or (a.counterpart is not None and a.counterpart in recipients)
            )
        ]
    return []


def _asks(
    event: InteractionClassified, open_activities: Sequence[ActivityView], assignee_id: str | None
) -> list[Decision]:
    counterpart = event.counterpart
    match event.disposition:
        case Disposition.CALLBACK:
            if counterpart is not None:
                for a in open_activities:
                    if a.kind is ActivityKind.CALLBACK and a.counterpart == counterpart:
                        return [Fold(a.id, assignee_id)]
            return [Open(ActivityKind.CALLBACK, counterpart, assignee_id=assignee_id)]
        case Disposition.NEEDS_STATUS:
            return [Open(ActivityKind.LOG_OUTCOME, counterpart, assignee_id=assignee_id)]
        case Disposition.REPLY_NEEDED:
            thread_id = event.mail.thread_id if event.mail is not None else None
            if thread_id is not None:
                for a in open_activities:
                    if a.kind is ActivityKind.REPLY and a.thread_id == thread_id:
                        return [Fold(a.id, assignee_id)]
            return [Open(ActivityKind.REPLY, counterpart, thread_id, assignee_id)]
        case _:
            return []


def related_counterparts(event: InteractionClassified) -> list[str]:
    """Whose open activities this interaction may touch."""
    if event.mail is not None and event.mail.direction is MailDirection.OUTBOUND:
        return recipient_addresses(event)
    return [event.counterpart] if event.counterpart else []


def recipient_addresses(event: InteractionClassified) -> list[str]:
    """Normalised addresses an outbound message went to (its counterpart first)."""
    out: list[str] = [event.counterpart] if event.counterpart else []
    if event.mail is not None:
        for item in [*event.mail.to, *event.mail.cc]:
            address = item.address.lower() if item.address else None
            if address and address not in out:
                out.append(address)
    return out
