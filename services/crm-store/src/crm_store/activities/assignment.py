"""Who gets what an interaction asks. Pure: the caller passes the active managers, the client's
owner and the group owners setting. No I/O here.

In order:

* **An answered call assembled from channel events** (Asterisk CEL, `participants`): the
  manager of whoever talked last. The parties who talked (`answered`, `transferred_to` with
  `talk_s` > 0) are ordered by when they connected (`answered_at`), ties by longest talk; the
  last one whose extension (or phone number) is an active manager's gets it. The one who
  finished the conversation knows how it ended; the one who handed the client on does not.
  When the last talkers are nobody's (a colleague's unlisted mobile, the client on an
  outbound call), the one before them gets it, and then the rules below.
* **A missed inbound call to a group** (`requested` is a ring group, queue or number, not one
  manager's own extension): the client's owner when the client is known and has one who is
  an active manager; else the group's owner (`CRM_STORE_GROUP_OWNERS`: `600=anna@example.com`);
  else the rules below.
  A missed call to one manager's own extension stays that manager's: the client asked for
  them.
* **Otherwise**: the manager whose extension took the call (`agent`) or whose mailbox got the
  message; else the client's owner; else nobody (every manager sees it).

A call assembled from channel events is one event however many phones rang, so a missed one
asks for one callback, never one per phone rung.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from crm_store.activities.domain import ManagerView, choose_assignee
from switchboard_shared.events import (
    CallDirection,
    CallRecorded,
    CallStatus,
    InteractionClassified,
    Participant,
    ParticipantRole,
)

TALKED = frozenset({ParticipantRole.ANSWERED, ParticipantRole.TRANSFERRED_TO})


def assign(
    event: InteractionClassified,
    managers: Iterable[ManagerView],
    *,
    client_owner: str | None = None,
    group_owners: Mapping[str, str] | None = None,
) -> str | None:
    """The manager who gets what `event` asks (see the module's rules), or None."""
    active = [m for m in managers if m.active]
    call = event.call
    if call is not None and call.status is CallStatus.ANSWERED and call.participants:
        for party in reversed(talkers(call)):
            if (found := manager_of(party, active)) is not None:
                return found
    if call is not None and is_missed_inbound(call) and (requested := group_of(call)):
        own = _extension_owner(requested, active)
        group_owner = _group_owner(requested, group_owners or {}, active)
        if own is not None and group_owner is None:
            return own  # a direct call to that manager
        if client_owner is not None and any(m.id == client_owner for m in active):
            return client_owner
        return group_owner or choose_assignee(event, active) or client_owner
    return choose_assignee(event, active) or client_owner


def talkers(call: CallRecorded) -> list[Participant]:
    """Our parties who talked with the client, first to last: by when they connected, those
    connecting at the same moment by how long they talked."""
    talked = [
        p
        for p in call.participants
        if p.role in TALKED and p.talk_s > 0 and p.answered_at is not None
    ]
    return sorted(talked, key=lambda p: (p.answered_at, p.talk_s))


def last_talker(call: CallRecorded) -> Participant | None:
    found = talkers(call)
    return found[-1] if found else None


def is_missed_inbound(call: CallRecorded) -> bool:
    return call.direction is CallDirection.INBOUND and call.status is not CallStatus.ANSWERED


def group_of(call: CallRecorded) -> str | None:
    """What the client dialled (extension, ring group, queue), when the call says."""
    requested = (call.requested or "").strip()
    return requested or None


def manager_of(party: Participant, managers: Sequence[ManagerView]) -> str | None:
    """The active manager whose extension or listed phone this party is."""
    extension = (party.extension or "").strip()
    number = (party.number or "").strip()
    for manager in managers:
        if extension and extension in manager.extensions:
            return manager.id
    for manager in managers:
        if number and number in manager.phones:
            return manager.id
    return None


def _extension_owner(extension: str, managers: Sequence[ManagerView]) -> str | None:
    return next((m.id for m in managers if extension in m.extensions), None)


def _group_owner(
    group: str, group_owners: Mapping[str, str], managers: Sequence[ManagerView]
) -> str | None:
    """The active manager the setting names for `group`, by id or e-mail; None when the
    setting names nobody who is an active manager (left, or a typo)."""
    wanted = group_owners.get(group)
    if not wanted:
        return None
    wanted = wanted.strip().lower()
    return next((m.id for m in managers if wanted in (m.id.lower(), m.email.lower())), None)
