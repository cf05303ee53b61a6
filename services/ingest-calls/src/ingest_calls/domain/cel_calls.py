"""One call from the CEL events of its linkedids: who called, who was rung, who answered.

The reading follows Wazo's call-logd, for any Asterisk:

* Channels are rebuilt from their events (`UniqueID`). `Local/...;1` and `;2` halves are one
  party that is nobody: a path through them joins the channels at either end (follow-me,
  queue members, ring groups), whether or not Asterisk optimised them away.
* The caller is the first real (non-Local) channel. Everyone else is a callee; channels of
  the same line (a queue ringing a member again, the consultation channel of an attended
  transfer) are folded into one participant, keeping what any of them did.
* A callee answered when it shared a bridge with the caller's side at the same time; a
  holding bridge (parking, the caller waiting alone) does not count. Talk time is that
  overlap. The first to connect answered; later ones reached after a transfer are
  `transferred_to`; those never connected were `rung`.
* Status: answered when anyone connected; voicemail when it ended in VoiceMail; otherwise
  what the caller's Dial said (busy, failed, canceled, no answer).
* `requested` is what was dialled (the extension, ring group or queue), kept apart from who
  answered; `to` is the number the caller dialled (the DID of an inbound call).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ingest_calls.domain.asterisk import Rules, endpoint_of, is_trunk
from ingest_calls.domain.calls import build_recorded, seconds_between
from switchboard_shared.events import (
    CallDirection,
    CallRecorded,
    CallStatus,
    Participant,
    ParticipantRole,
    Transfer,
    TransferKind,
)
from switchboard_shared.phone import NumberKind, PhonePolicy, normalise_phone

PROVIDER = "asterisk"
MAX_PARTICIPANTS = 64
MAX_TRANSFERS = 64
HOLDING = "holding_bridge"
ZOMBIE = "<ZOMBIE>"
NOT_AN_EXTEN = frozenset({"", "s", "h", "i", "t", "failed"})
DIAL_STATUS = {
    "BUSY": CallStatus.BUSY,
    "CONGESTION": CallStatus.FAILED,
    "CHANUNAVAIL": CallStatus.FAILED,
    "INVALIDARGS": CallStatus.FAILED,
    "CANCEL": CallStatus.CANCELED,
    "NOANSWER": CallStatus.NO_ANSWER,
}
TRANSFER_KINDS = {
    "BLINDTRANSFER": TransferKind.BLIND,
    "ATTENDEDTRANSFER": TransferKind.ATTENDED,
    "PICKUP": TransferKind.PICKUP,
    "FORWARD": TransferKind.FORWARD,
}


class ChannelEvent(Protocol):
    """What the builder reads of a CEL event: `CelEvent`, or a call-detail record's legs
    rewritten as the events they stand for (`cdr_calls`)."""

    @property
    def event_name(self) -> str: ...
    @property
    def event_time(self) -> datetime: ...
    @property
    def unique_id(self) -> str: ...
    @property
    def linked_id(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def caller_id_num(self) -> str: ...
    @property
    def caller_id_name(self) -> str: ...
    @property
    def caller_id_dnid(self) -> str: ...
    @property
    def exten(self) -> str: ...
    @property
    def context(self) -> str: ...
    @property
    def application(self) -> str: ...
    @property
    def app_data(self) -> str: ...
    @property
    def extra(self) -> str: ...


def extra_of(event: ChannelEvent) -> dict[str, Any]:
    """`Extra` as JSON (Asterisk 12+); {} when it is plain text or absent. An event made here
    rather than received (`cdr_calls.LegEvent`) may carry it already parsed."""
    parsed = getattr(event, "extra_fields", None)
    if parsed is not None:
        return dict(parsed)
    if not event.extra.startswith("{"):
        return {}
    try:
        value = json.loads(event.extra)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass
class Stay:
    """One channel's time in one bridge."""

    bridge: str
    start: datetime
    end: datetime | None = None
    holding: bool = False


@dataclass
class Channel:
    unique_id: str
    name: str
    linked_id: str
    started: datetime
    order: int  # position of its first event: ties in time keep arrival order
    number: str = ""
    cid_name: str = ""
    exten: str = ""
    context: str = ""
    dnid: str = ""
    ended: datetime | None = None
    stays: list[Stay] = field(default_factory=list)
    apps: list[str] = field(default_factory=list)
    dial_status: str = ""
    bridged_as: str = ""  # its name when it first entered a bridge (a pickup renames it)
    dialled_as: str = ""  # a trunk channel: the number the Dial that made it called

    @functools.cached_property
    def local(self) -> bool:
        return self.name.lower().startswith("local/")

    @functools.cached_property
    def local_key(self) -> str:
        """Both halves of one Local channel share this (`Local/101@ctx-00000001`)."""
        return self.name.rsplit(";", 1)[0] if self.local else self.unique_id


def channels_of(events: Sequence[ChannelEvent]) -> list[Channel]:
    """Rebuild the channels of one call; events in arrival order, sorted here by time."""
    ordered = sorted(enumerate(events), key=lambda item: (item[1].event_time, item[0]))
    channels: dict[str, Channel] = {}
    for order, event in ordered:
        channel = channels.get(event.unique_id)
        if channel is None:
            channel = channels[event.unique_id] = Channel(
                event.unique_id, event.channel, event.linked_id, event.event_time, order
            )
        _apply(channel, event)
    return sorted(channels.values(), key=lambda c: (c.started, c.order))


def _apply(channel: Channel, event: ChannelEvent) -> None:
    name = event.event_name
    if name == "CHAN_START" or (not channel.number and not channel.cid_name):
        channel.number = channel.number or event.caller_id_num.strip()
        channel.cid_name = channel.cid_name or event.caller_id_name.strip()
    if name == "CHAN_START":
        channel.started = min(channel.started, event.event_time)
        channel.exten, channel.context = event.exten.strip(), event.context.strip()
    channel.dnid = channel.dnid or event.caller_id_dnid.strip()
    if name == "APP_START" and event.application:
        channel.apps.append(event.application.strip().lower())
    elif name == "BRIDGE_ENTER":
        extra = extra_of(event)
        technology = str(extra.get("bridge_technology", ""))
        # Asterisk 12+ names every bridge; one without a name joins nobody (never a false answer).
        bridge = str(extra.get("bridge_id") or f"unnamed:{event.unique_id}")
        channel.stays.append(Stay(bridge, event.event_time, holding=technology == HOLDING))
        channel.bridged_as = channel.bridged_as or event.channel.removesuffix(ZOMBIE)
    elif name == "BRIDGE_EXIT":
        bridge = str(extra_of(event).get("bridge_id") or "")
        for stay in reversed(channel.stays):
            if stay.end is None and (not bridge or stay.bridge == bridge):
                stay.end = event.event_time
                break
    elif name == "HANGUP":
        channel.dial_status = str(extra_of(event).get("dialstatus") or "").upper()
        channel.ended = channel.ended or event.event_time
    elif name == "CHAN_END":
        channel.ended = event.event_time


# --- who talked with whom ---------------------------------------------------------------------


@dataclass
class Contact:
    """A real callee's time connected to the caller's side."""

    first: datetime
    seconds: float


def _intervals(channel: Channel, end: datetime) -> list[tuple[str, datetime, datetime]]:
    out = []
    for stay in channel.stays:
        if stay.holding:
            continue
        stop = stay.end or channel.ended or end
        if stop > stay.start:
            out.append((stay.bridge, stay.start, stop))
    return out


def _overlaps(
    mine: list[tuple[str, datetime, datetime]], theirs: list[tuple[str, datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    spans = []
    for bridge, start, stop in mine:
        for other, o_start, o_stop in theirs:
            if bridge == other and start < o_stop and o_start < stop:
                spans.append((max(start, o_start), min(stop, o_stop)))
    return spans


def _union_seconds(spans: list[tuple[datetime, datetime]]) -> float:
    total = 0.0
    current: tuple[datetime, datetime] | None = None
    for start, stop in sorted(spans):
        if current is None or start > current[1]:
            if current is not None:
                total += (current[1] - current[0]).total_seconds()
            current = (start, stop)
        else:
            current = (current[0], max(current[1], stop))
    if current is not None:
        total += (current[1] - current[0]).total_seconds()
    return round(total, 3)


def contacts(caller: Channel, channels: Sequence[Channel], end: datetime) -> dict[str, Contact]:
    """Real channels (by unique id) that shared a bridge with the caller's side at once.

    The caller's side is the caller and every Local channel reachable from it through
    bridges and Local halves: what a real channel meets there, it meets the caller through.
    """
    spans = {c.unique_id: _intervals(c, end) for c in channels}
    halves: dict[str, list[Channel]] = {}
    for channel in channels:
        if channel.local:
            halves.setdefault(channel.local_key, []).append(channel)
    side: list[Channel] = [caller]
    seen = {caller.unique_id}
    frontier = [caller]
    while frontier:
        current = frontier.pop()
        for other in channels:
            if not other.local or other.unique_id in seen:
                continue
            met = _overlaps(spans[current.unique_id], spans[other.unique_id])
            if met or (current.local and other.local_key == current.local_key):
                for half in halves.get(other.local_key, [other]):
                    if half.unique_id not in seen:
                        seen.add(half.unique_id)
                        side.append(half)
                        frontier.append(half)
    found: dict[str, Contact] = {}
    for channel in channels:
        if channel.local or channel is caller:
            continue
        met_spans = [
            s
            for member in side
            for s in _overlaps(spans[channel.unique_id], spans[member.unique_id])
        ]
        if met_spans:
            found[channel.unique_id] = Contact(
                min(s for s, _ in met_spans), _union_seconds(met_spans)
            )
    return found


# --- the call ---------------------------------------------------------------------------------


@dataclass
class Party:
    """The channels of one line, folded."""

    key: str
    number: str
    extension: str | None
    name: str
    first_seen: datetime
    ring_s: float = 0.0
    talk_s: float = 0.0
    connected_at: datetime | None = None


def _party_key(channel: Channel, rules: Rules, name: str = "") -> tuple[str, str | None]:
    """(fold key, extension): a line is its endpoint; a trunk channel is the number on it."""
    name = name or channel.name
    if is_trunk(name, rules):
        return f"trunk:{channel.number or channel.dialled_as or channel.unique_id}", None
    endpoint = endpoint_of(name)
    return (f"line:{endpoint}" if endpoint else f"chan:{channel.unique_id}"), endpoint


_NUMBER_RE = re.compile(r"\+?[0-9*#]{2,32}")


def dial_target(exten: str, app_data: str) -> str:
    """The number a Dial to a trunk called: the dialplan extension it ran at, else the first
    target's number (`PJSIP/0301234@trunk`, `PJSIP/trunk/sip:0301234@host`, `SIP/trunk/0301234`,
    `DAHDI/g0/0301234`)."""
    if _NUMBER_RE.fullmatch(exten.strip()):
        return exten.strip()
    target = app_data.split(",", 1)[0].split("&", 1)[0]
    for part in reversed(target.replace("sip:", "/").split("/")[1:]):
        number = part.split("@", 1)[0].strip()
        if _NUMBER_RE.fullmatch(number):
            return number
    return ""


def _trunk_numbers(
    events: Sequence[ChannelEvent], channels: Sequence[Channel], rules: Rules
) -> dict[str, str]:
    """What each trunk channel without a caller ID was dialled as: the latest Dial before it."""
    dials = [
        (e.event_time, dial_target(e.exten, e.app_data))
        for e in events
        if e.event_name == "APP_START" and e.application.lower() == "dial"
    ]
    out: dict[str, str] = {}
    for channel in channels:
        if channel.number or not is_trunk(channel.name, rules):
            continue
        before = [number for at, number in dials if at <= channel.started and number]
        if before:
            out[channel.unique_id] = before[-1]
    return out


def _extension(endpoint: str | None, number: str, policy: PhonePolicy, region: str) -> str | None:
    """Our extension for a line: its endpoint when that is an extension (`PJSIP/101`), else the
    line's own caller ID number when that is one (Wazo names endpoints `PJSIP/Ogrp1Zgu`)."""
    if endpoint is None:
        return None
    if normalise_phone(endpoint, policy, region=region).kind is NumberKind.INTERNAL:
        return endpoint
    if number and normalise_phone(number, policy, region=region).kind is NumberKind.INTERNAL:
        return number
    return endpoint


def _party(
    parties: dict[str, Party],
    channel: Channel,
    rules: Rules,
    dialled: str,
    caller_key: str,
    name: str = "",
) -> Party | None:
    """The participant this channel (under `name`) belongs to; None for the caller's own
    second channel (an attended transfer's consultation) or past the participants bound."""
    key, extension = _party_key(channel, rules, name)
    if key == caller_key:
        return None
    party = parties.get(key)
    if party is None:
        if len(parties) >= MAX_PARTICIPANTS - 1:
            return None
        number = "" if name else (channel.number or channel.dialled_as)
        number = number or (dialled if key.startswith("trunk:") else "") or (extension or "")
        cid_name = "" if name else channel.cid_name
        party = parties[key] = Party(key, number, extension, cid_name, channel.started)
    return party


def _dialled(
    caller: Channel, events: Sequence[ChannelEvent], rung_from: datetime | None
) -> tuple[str, str]:
    """(the number the caller dialled, what was requested): the first and the last dialplan
    extension of the caller's channel before anyone was rung (a DID, then the ring group)."""
    positions = [
        e.exten.strip()
        for e in events
        if e.unique_id == caller.unique_id and (rung_from is None or e.event_time <= rung_from)
    ]
    extens = [x for x in positions if x.lower() not in NOT_AN_EXTEN]
    first = caller.exten if caller.exten.lower() not in NOT_AN_EXTEN else ""
    first = first or caller.dnid or (extens[0] if extens else "")
    return first, (extens[-1] if extens else first)


def _direction(
    caller: Channel,
    callees: Iterable[Channel],
    dialled: str,
    rules: Rules,
    policy: PhonePolicy,
    region: str,
) -> CallDirection:
    if is_trunk(caller.name, rules) or caller.context.casefold() in rules.inbound_contexts:
        return CallDirection.INBOUND
    if any(is_trunk(c.name, rules) for c in callees):
        return CallDirection.OUTBOUND
    caller_kind = normalise_phone(caller.number, policy, region=region).kind
    if caller_kind is NumberKind.EXTERNAL:
        return CallDirection.INBOUND
    if normalise_phone(dialled, policy, region=region).kind is NumberKind.EXTERNAL:
        return CallDirection.OUTBOUND
    return CallDirection.INTERNAL


def _transfers(
    events: Sequence[ChannelEvent], by_id: dict[str, Channel], rules: Rules
) -> list[Transfer]:
    out: list[Transfer] = []
    for event in events:
        kind = TRANSFER_KINDS.get(event.event_name)
        if kind is None or len(out) >= MAX_TRANSFERS:
            continue
        extra = extra_of(event)
        by_channel = by_id.get(event.unique_id)
        by = _label(by_channel, rules) if by_channel else None
        target: str | None = None
        if kind is TransferKind.BLIND:
            target = str(extra.get("extension") or "") or None
        elif kind is TransferKind.ATTENDED:
            chan = by_id.get(str(extra.get("transfer_target_channel_uniqueid") or ""))
            target = (
                _label(chan, rules)
                if chan
                else str(extra.get("transfer_target_channel_name") or "") or None
            )
        elif kind is TransferKind.PICKUP:
            name = str(extra.get("pickup_channel") or "")
            target = endpoint_of(name) if name else None
        else:
            target = str(extra.get("forward") or event.app_data or "") or None
        out.append(
            Transfer(kind=kind, at=event.event_time, by=by, to=(target or None) and target[:128])
        )
    return out


def _label(channel: Channel, rules: Rules) -> str | None:
    if is_trunk(channel.name, rules):
        return channel.number or None
    return endpoint_of(channel.name) or channel.number or None


def build_call(
    events: Sequence[ChannelEvent],
    rules: Rules,
    policy: PhonePolicy,
    region: str,
    *,
    complete: bool = True,
    raw: dict[str, Any] | None = None,
    recording_url: str | None = None,
) -> CallRecorded | None:
    """The call these events (every linkedid of one call) describe; None without a real channel.
    `raw` replaces the summary of the events kept in `raw` (a call built from other records)."""
    if not events:
        return None
    channels = channels_of(events)
    real = [c for c in channels if not c.local]
    if not real:
        return None
    caller = real[0]
    end = max([e.event_time for e in events] + [c.ended for c in channels if c.ended is not None])
    others = [c for c in channels if c is not caller]
    for unique_id, number in _trunk_numbers(events, channels, rules).items():
        next(c for c in channels if c.unique_id == unique_id).dialled_as = number
    rung_from = min((c.started for c in others), default=None)
    dialled, requested = _dialled(caller, events, rung_from)
    met = contacts(caller, channels, end)
    caller_key, caller_endpoint = _party_key(caller, rules)
    caller_ext = _extension(caller_endpoint, caller.number, policy, region)
    parties: dict[str, Party] = {}
    for channel in real[1:]:
        contact = met.get(channel.unique_id)
        stop = contact.first if contact else (channel.ended or end)
        party = _party(parties, channel, rules, dialled, caller_key)
        if party is not None:
            party.ring_s += max(0.0, (stop - channel.started).total_seconds())
        if contact and channel.bridged_as and channel.bridged_as != channel.name:
            # Picked up: the ringing channel became the picking phone's.
            party = _party(parties, channel, rules, dialled, caller_key, channel.bridged_as)
        if contact and party is not None:
            party.talk_s += contact.seconds
            if party.connected_at is None or contact.first < party.connected_at:
                party.connected_at = contact.first
    transfers = _transfers(events, {c.unique_id: c for c in channels}, rules)
    connected = sorted(
        (p for p in parties.values() if p.connected_at), key=lambda p: p.connected_at or end
    )
    answered_at = connected[0].connected_at if connected else None
    ended_in_voicemail = any("voicemail" in c.apps for c in channels if c is caller or c.local)
    if connected:
        status = CallStatus.ANSWERED
    elif ended_in_voicemail:
        status = CallStatus.VOICEMAIL
    else:
        status = DIAL_STATUS.get(caller.dial_status, CallStatus.NO_ANSWER)
    direction = _direction(caller, real[1:], dialled or requested, rules, policy, region)
    participants = [
        Participant(
            number=caller.number or None,
            extension=caller_ext,
            name=caller.cid_name or None,
            role=ParticipantRole.CALLER,
            ring_s=seconds_between(caller.started, answered_at or end) or 0.0,
            talk_s=(seconds_between(answered_at, end) or 0.0) if answered_at else 0.0,
            answered_at=answered_at,
        )
    ]
    for party in parties.values():
        party.extension = _extension(party.extension, party.number, policy, region)
    for party in sorted(parties.values(), key=lambda p: (p.connected_at or end, p.first_seen)):
        role = ParticipantRole.RUNG
        if party.connected_at is not None:
            role = ParticipantRole.ANSWERED
            if party is not connected[0] and any(t.at <= party.connected_at for t in transfers):
                role = ParticipantRole.TRANSFERRED_TO
        participants.append(
            Participant(
                number=party.number or None,
                extension=party.extension,
                name=party.name or None,
                role=role,
                ring_s=round(party.ring_s, 3),
                talk_s=round(party.talk_s, 3),
                answered_at=party.connected_at,
            )
        )
    talker = max(connected, key=lambda p: (p.talk_s, p.connected_at or end), default=None)
    if direction is CallDirection.OUTBOUND:
        agent = caller_ext
    elif talker is not None:
        agent = talker.extension or talker.number or None
    else:
        agent = None
    linked = sorted({e.linked_id for e in events})
    to = dialled if direction is CallDirection.INBOUND else requested
    return build_recorded(
        provider=PROVIDER,
        provider_call_id=linked[0],
        direction=direction,
        status=status,
        started_at=caller.started,
        answered_at=answered_at,
        ended_at=end,
        caller=caller.number,
        callee=to or requested,
        policy=policy,
        region=region,
        agent=agent,
        linked_id=linked[0],
        talk_s=None if answered_at else 0.0,
        hangup_cause=None if connected else (caller.dial_status or None),
        raw=raw
        or {
            "source": "cel",
            "linked_ids": linked[:50],
            "events": len(events),
            "channels": [c.name for c in channels[:50]],
            "complete": complete,
        },
        recording_url=recording_url,
        participants=participants,
        requested=requested or None,
        transfers=transfers,
    )
