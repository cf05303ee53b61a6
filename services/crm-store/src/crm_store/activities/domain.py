"""Pure decisions about activities: which ones an interaction opens, folds into or closes, who
gets them, and who may see or change them. No I/O here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from crm_store.core import Principal, Role
from switchboard_shared.events import (
    ActivityKind,
    ActivityState,
    CallDirection,
    CallStatus,
    Disposition,
    InteractionClassified,
    MailDirection,
    Tag,
)

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


def channel_of(interaction_kind: str | None, counterpart: str | None) -> str:
    """`call` or `mail`: what an activity's card is about (its last interaction, else whether
    the counterpart is an address)."""
    if interaction_kind in ("call", "mail"):
        return interaction_kind
    return "mail" if counterpart and "@" in counterpart else "call"


def preset_offered(preset_channels: Iterable[str], channel: str) -> bool:
    """Whether a card of this channel offers the preset ("Wrong number" is not for e-mail)."""
    return channel in set(preset_channels)


def closes_without_identifying(
    kind: str, preset_closes: bool, preset_overturns: Iterable[str]
) -> str | None:
    """Why a preset may not close this activity, or None when it may.

    A "Who is this?" closes when its number or address is given to a contact. A preset may
    close it only by saying there is nobody to identify (one that overturns the classifier:
    spam, a wrong number); "Completed" would drop the person with no contact made.
    """
    if kind != ActivityKind.IDENTIFY_CONTACT or not preset_closes or any(preset_overturns):
        return None
    return (
        "this closes when the number or address is added to a contact (To identify: create "
        "the contact or link an existing one); if nobody is there to identify, mark it as "
        "spam or a wrong number"
    )


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
    call_keys: frozenset[str] = frozenset()
    """The calls folded into it (a call's linked_id, else its interaction id)."""


@dataclass(frozen=True)
class ManagerView:
    id: str
    email: str
    extensions: Sequence[str] = field(default_factory=tuple)
    active: bool = True
    phones: Sequence[str] = field(default_factory=tuple)
    """Numbers listed as the manager's own (a mobile a follow-me rings)."""
    aliases: Sequence[str] = field(default_factory=tuple)
    """More mailboxes of the manager besides `email`."""


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
    same_call: bool = False
    """Another leg of a call already counted: linked, but the count stays."""


@dataclass(frozen=True)
class Close:
    activity_id: str
    reason: str
    state: ActivityState = ActivityState.DONE
    """`canceled` when nothing was left to do (a colleague answered that very call)."""


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
            if mailbox in (manager.email.lower(), *(a.lower() for a in manager.aliases)):
                return manager.id
    return None


def linked_key(event: InteractionClassified) -> str | None:
    """The call's linked_id, scoped by provider (two PBXs may both number their calls)."""
    if event.call is None or not event.call.linked_id:
        return None
    return f"{event.call.provider}:{event.call.linked_id}"


def call_key(event: InteractionClassified) -> str | None:
    """What identifies the call behind an interaction: legs of one call share it."""
    if event.call is None:
        return None
    return linked_key(event) or event.interaction_id


# Up to this many seconds of talk, an answered call reached nobody that counts: a voicemail box
# that picked up, a "wrong number", a dropped line. The classifier's very short call is the same.
SHORT_CALL_S = 10.0


def talk_seconds(event: InteractionClassified) -> float | None:
    """Seconds talked: as reported, else from the answer and end times; None when unknown."""
    call = event.call
    if call is None:
        return None
    if call.talk_s is not None:
        return call.talk_s
    if call.answered_at is not None and call.ended_at is not None:
        return max(0.0, (call.ended_at - call.answered_at).total_seconds())
    return None


def is_real_call_with_client(event: InteractionClassified, *, min_talk_s: float) -> bool:
    """An answered external call in which a person on the client's side talked with us.

    Longer than `min_talk_s`; a voicemail (by status or tag) never is. With no duration at all,
    only the client's own call counts (they dialled us, a colleague answered): an outbound call
    may have been picked up by an answering machine.
    """
    if not is_answered_call(event) or Tag.VOICEMAIL in event.tags:
        return False
    seconds = talk_seconds(event)
    if seconds is None:
        return event.call is not None and event.call.direction is CallDirection.INBOUND
    return seconds > min_talk_s


def is_answered_call(event: InteractionClassified) -> bool:
    call = event.call
    return (
        call is not None
        and call.status is CallStatus.ANSWERED
        and call.direction is not CallDirection.INTERNAL
    )


# The kinds `decide` may close or fold into; it never touches a log_outcome (a manager closes
# those), so the consumer does not load them, however many a busy number has open.
ACTED_ON = frozenset({ActivityKind.CALLBACK, ActivityKind.REPLY, ActivityKind.IDENTIFY_CONTACT})


def decide(
    event: InteractionClassified,
    open_activities: Sequence[ActivityView],
    *,
    assignee_id: str | None = None,
    answered_elsewhere: bool = False,
    unknown_counterpart: bool = False,
    min_talk_s: float = SHORT_CALL_S,
    ask_outcome: bool = True,
) -> list[Decision]:
    """Closes first, then what this interaction asks a person to do.

    `answered_elsewhere`: another leg of this call (same linked_id) was answered, so a missed
    leg asks for nothing. `unknown_counterpart`: no contact or company has the counterpart, so
    a real conversation also asks someone to identify it. `ask_outcome`: the outcome policy
    (`asks_outcome`) wants an outcome for this conversation. `min_talk_s`: an answered call closes
    the counterpart's callback only when longer (`is_real_call_with_client`). A message that
    claims one of our addresses without evidence (`spoofed_sender`) is nobody's act: it closes
    and asks nothing, whatever its disposition says.
    """
    if is_spoofed(event):
        return []
    closes = _auto_closes(event, open_activities, min_talk_s)
    closed = {c.activity_id for c in closes}
    still_open = [a for a in open_activities if a.id not in closed]
    asks = _asks(event, still_open, assignee_id, answered_elsewhere, ask_outcome)
    if unknown_counterpart and is_real_conversation(event):
        asks += _identify(event, still_open, assignee_id)
    return [*closes, *asks]


def is_spoofed(event: InteractionClassified) -> bool:
    mail = event.mail
    return mail is not None and (mail.spoofed_sender or Tag.SPOOFED_SENDER in event.tags)


NOT_A_CONVERSATION = frozenset(
    {
        Tag.SPAM,
        Tag.WRONG_NUMBER,
        Tag.AUTO_REPLY,
        Tag.BOUNCE,
        Tag.BULK,
        Tag.NOTIFICATION,
        Tag.LOOP,
        Tag.SPOOFED_SENDER,
    }
)


def is_real_conversation(event: InteractionClassified) -> bool:
    """A person talked or wrote to us and someone must act: not spam, bulk or a robot."""
    if event.counterpart is None or NOT_A_CONVERSATION & set(event.tags) or is_spoofed(event):
        return False
    if event.disposition is Disposition.NEEDS_STATUS:
        return event.call is None or event.call.status is CallStatus.ANSWERED
    return event.disposition is Disposition.REPLY_NEEDED


def _identify(
    event: InteractionClassified, open_activities: Sequence[ActivityView], assignee_id: str | None
) -> list[Decision]:
    for a in open_activities:
        if a.kind is ActivityKind.IDENTIFY_CONTACT and a.counterpart == event.counterpart:
            return [Fold(a.id, assignee_id)]
    return [Open(ActivityKind.IDENTIFY_CONTACT, event.counterpart, assignee_id=assignee_id)]


def identification_closes(
    open_activities: Sequence[ActivityView], points: Iterable[str], contact_id: str
) -> list[Close]:
    """A point was given to a contact: its open identify_contact activities are done."""
    wanted = set(points)
    return [
        Close(a.id, f"identified as contact {contact_id}")
        for a in open_activities
        if a.kind is ActivityKind.IDENTIFY_CONTACT and a.counterpart in wanted
    ]


def _auto_closes(
    event: InteractionClassified, open_activities: Sequence[ActivityView], min_talk_s: float
) -> list[Close]:
    call, mail = event.call, event.mail
    if call is not None and is_answered_call(event):
        reason = f"answered {call.direction.value} call {call.call_id}"
        key = call_key(event)
        real = is_real_call_with_client(event, min_talk_s=min_talk_s)
        closes: list[Close] = []
        for a in open_activities:
            if a.kind is not ActivityKind.CALLBACK:
                continue
            if key is not None and key in a.call_keys:
                # A leg of this very call was missed while a colleague answered it: nothing
                # to call back unless the callback also holds other missed calls, which this
                # call settles only if it was a real conversation.
                if a.call_keys == {key}:
                    closes.append(
                        Close(a.id, f"answered by a colleague: {reason}", ActivityState.CANCELED)
                    )
                elif real:
                    closes.append(Close(a.id, reason))
            # An act closes only what was open before it: a late-delivered old call must not
            # close a callback for a newer missed call.
            elif (
                real
                and event.counterpart is not None
                and a.counterpart == event.counterpart
                and a.last_occurred_at <= event.occurred_at
            ):
                closes.append(Close(a.id, reason))
        return closes
    if (
        mail is not None
        and mail.direction is MailDirection.OUTBOUND
        and event.disposition is Disposition.LOGGED
    ):
        recipients = set(recipient_addresses(event))
        reason = f"outbound mail {mail.message_id}"
        return [
            Close(a.id, reason)
            for a in open_activities
            if a.last_occurred_at <= event.occurred_at
            and a.kind is ActivityKind.REPLY
            and (
                (mail.thread_id is not None and a.thread_id == mail.thread_id)
                or (a.counterpart is not None and a.counterpart in recipients)
            )
        ]
    return []


def _asks(
    event: InteractionClassified,
    open_activities: Sequence[ActivityView],
    assignee_id: str | None,
    answered_elsewhere: bool,
    ask_outcome: bool = True,
) -> list[Decision]:
    counterpart = event.counterpart
    match event.disposition:
        case Disposition.CALLBACK:
            if answered_elsewhere:
                return []  # a colleague answered this call on another leg
            key = call_key(event)
            for a in open_activities:
                if a.kind is not ActivityKind.CALLBACK:
                    continue
                if key is not None and key in a.call_keys:
                    return [Fold(a.id, assignee_id, same_call=True)]
                if counterpart is not None and a.counterpart == counterpart:
                    return [Fold(a.id, assignee_id)]
            return [Open(ActivityKind.CALLBACK, counterpart, assignee_id=assignee_id)]
        case Disposition.NEEDS_STATUS:
            if not ask_outcome:
                return []
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


@dataclass(frozen=True)
class StatusStep:
    """A person's status change on an activity, as the audit log recorded it."""

    actor: str
    at: datetime
    preset: str
    state: str
    """What the change left: the activity's state and preset right after it."""


def undo_refusal(
    step: StatusStep | None,
    *,
    actor: str,
    now: datetime,
    window_s: float,
    state: str,
    preset: str | None,
) -> str | None:
    """Why the last status change may not be undone, or None when it may.

    Only the person who clicked, within `window_s` seconds, and only while the activity is as
    that click left it (nothing changed it since). Afterwards a supervisor corrects it instead.
    """
    if step is None:
        return "there is no status change to undo"
    if step.actor != actor:
        return "only the person who set this status can undo it"
    if (now - step.at).total_seconds() > window_s:
        return (
            f"the {round(window_s / 60)} minutes to undo have passed; a supervisor can correct it"
        )
    if (state, preset) != (step.state, step.preset):
        return "this item changed after that status was set"
    return None
