"""Grouping CEL events into calls: union-find over linkedids, held until every one has ended.

Events arrive per linkedid. Linkedids that share a channel (`UniqueID` seen under both), a
bridge (`bridge_id` in `Extra`) or a transfer's channels form one call: transfers and pickups
join the call of the consultation or the picking phone to the original one. A group is ready
when every linkedid in it has seen `LINKEDID_END` (and `settle_s` has passed, for a merging
event still on its way); a PBX that lost events is not waited for forever: when every channel
has ended but a `LINKEDID_END` is missing, after `lost_end_s`; in any case `timeout_s` after
the group's last event.

No I/O: the caller passes the clock and a position for each event (the Kafka consumer passes
(partition, offset), so that it can commit only below the oldest call still held). `assemble()`
is the whole thing over a finished list of events, for imports and tests.

Bounded: `max_calls` groups and `max_events_held` events held in all (past either, the quietest
call is given up early, as it stands),
`max_events` events and `max_linked` linkedids per group (past them the group is emitted as it
stands and its later events dropped). Linkedids already emitted are remembered (bounded) so a
straggler does not open a second, partial call.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from ingest_calls.domain.asterisk import Rules
from ingest_calls.domain.cel import event_id
from ingest_calls.domain.cel_calls import build_call, extra_of
from switchboard_shared.events import CallRecorded, CelEvent
from switchboard_shared.phone import PhonePolicy

Position = tuple[int, int]  # (partition, offset); (0, index) for a plain list
MAX_CALLS = 10_000
MAX_EVENTS_HELD = 50_000  # all calls together: about 90 MB
MAX_EVENTS_PER_CALL = 2_000
MAX_LINKED_PER_CALL = 32
MAX_CHANNELS_PER_CALL = 256
SETTLE_S = 2.0
LOST_END_S = 60.0
TIMEOUT_S = 6 * 3600.0
REMEMBERED_DONE = 100_000
JOINING_KEYS = (
    "transferee_channel_uniqueid",
    "transfer_target_channel_uniqueid",
    "channel2_uniqueid",
    "pickup_channel_uniqueid",
)
ZOMBIE = "<ZOMBIE>"


class Added(StrEnum):
    HELD = "held"
    DUPLICATE = "duplicate"
    LATE = "late"  # its call was already emitted
    OVERFLOW = "overflow"  # its call is past the bounds; dropped


class Why(StrEnum):
    """Why a group was emitted (the `ingest_calls_cel_calls_total` outcome)."""

    COMPLETE = "complete"
    LOST_END = "lost_end"  # every channel ended, a LINKEDID_END never came
    TIMED_OUT = "timed_out"
    EVICTED = "evicted"  # too many calls held
    OVERFLOW = "overflow"  # too many events, linkedids or channels
    FLUSHED = "flushed"  # end of input (an import)


@dataclass
class Group:
    linked: set[str] = field(default_factory=set)
    ended: set[str] = field(default_factory=set)
    events: list[CelEvent] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    channels: set[str] = field(default_factory=set)
    open_channels: set[str] = field(default_factory=set)
    first: dict[int, int] = field(default_factory=dict)  # partition -> lowest offset held
    keys: set[Hashable] = field(default_factory=set)  # channels and bridges it owns
    last_seen: float = 0.0
    overflow: bool = False

    @property
    def complete(self) -> bool:
        return bool(self.linked) and self.linked <= self.ended


@dataclass(frozen=True)
class Ready:
    events: list[CelEvent]
    why: Why


def joining_keys(event: CelEvent) -> list[tuple[str, str]]:
    """What ties an event to other linkedids of its call: its channel (by unique id and by
    name), and the bridges and channels a bridge, transfer or pickup event names."""
    # A channel name is unique while the channel lives; a pickup moves the picking phone
    # into the ringing channel, which then carries the picker's name under the other
    # linkedid.
    keys: list[tuple[str, str]] = [("chan", event.unique_id)]
    if event.channel:
        keys.append(("name", event.channel.removesuffix(ZOMBIE)))
    if event.event_name in ("BRIDGE_ENTER", "BRIDGE_EXIT", "PICKUP") or (
        "TRANSFER" in event.event_name
    ):
        extra = extra_of(event)
        for name in ("bridge_id", "bridge1_id", "bridge2_id"):
            if extra.get(name):
                keys.append(("bridge", str(extra[name])[:150]))
        for name in JOINING_KEYS:
            if extra.get(name):
                keys.append(("chan", str(extra[name])[:150]))
        if extra.get("pickup_channel"):
            keys.append(("name", str(extra["pickup_channel"])[:256]))
    return keys


@dataclass
class Assembly:
    settle_s: float = SETTLE_S
    lost_end_s: float = LOST_END_S
    timeout_s: float = TIMEOUT_S
    max_calls: int = MAX_CALLS
    max_events_held: int = MAX_EVENTS_HELD
    max_events: int = MAX_EVENTS_PER_CALL
    max_linked: int = MAX_LINKED_PER_CALL
    max_channels: int = MAX_CHANNELS_PER_CALL
    _parent: dict[str, str] = field(default_factory=dict)
    # root linkedid -> group, the quietest first (moved to the end on every event)
    _groups: OrderedDict[str, Group] = field(default_factory=OrderedDict)
    _owner: dict[Hashable, str] = field(default_factory=dict)  # channel/bridge -> a linkedid
    _done: OrderedDict[str, None] = field(default_factory=OrderedDict)
    _forced: list[Ready] = field(default_factory=list)
    _events_held: int = 0

    # --- union-find ---------------------------------------------------------------------

    def _find(self, linked: str) -> str:
        root = linked
        while self._parent[root] != root:
            root = self._parent[root]
        while self._parent[linked] != root:  # path compression
            self._parent[linked], linked = root, self._parent[linked]
        return root

    def _union(self, a: str, b: str) -> str:
        ra, rb = self._find(a), self._find(b)
        if ra == rb:
            return ra
        ga, gb = self._groups[ra], self._groups[rb]
        if len(ga.events) < len(gb.events):
            ra, rb, ga, gb = rb, ra, gb, ga
        self._parent[rb] = ra
        ga.linked |= gb.linked
        ga.ended |= gb.ended
        ga.events.extend(gb.events)
        ga.ids |= gb.ids
        ga.channels |= gb.channels
        ga.open_channels |= gb.open_channels
        ga.keys |= gb.keys
        for partition, offset in gb.first.items():
            ga.first[partition] = min(offset, ga.first.get(partition, offset))
        ga.last_seen = max(ga.last_seen, gb.last_seen)
        ga.overflow = ga.overflow or gb.overflow
        del self._groups[rb]
        return ra

    # --- input ----------------------------------------------------------------------------

    @property
    def held(self) -> int:
        return len(self._groups)

    def add(self, event: CelEvent, event_id: str, position: Position, now: float) -> Added:
        linked = event.linked_id
        if linked in self._done:
            return Added.LATE
        if linked not in self._parent:
            self._parent[linked] = linked
            self._groups[linked] = Group(linked={linked}, last_seen=now)
            self._make_room(linked)
        root = self._find(linked)
        for key in joining_keys(event):
            other = self._owner.setdefault(key, linked)
            if other == linked:
                self._groups[root].keys.add(key)
            elif other in self._parent:
                root = self._union(root, other)
        group = self._groups[root]
        self._groups.move_to_end(root)
        if event_id in group.ids:
            return Added.DUPLICATE
        if group.overflow:
            return Added.OVERFLOW
        group.ids.add(event_id)
        group.events.append(event)
        self._events_held += 1
        group.channels.add(event.unique_id)
        partition, offset = position
        group.first[partition] = min(offset, group.first.get(partition, offset))
        group.last_seen = now
        if event.event_name == "CHAN_START":
            group.open_channels.add(event.unique_id)
        elif event.event_name == "CHAN_END":
            group.open_channels.discard(event.unique_id)
        elif event.event_name == "LINKEDID_END":
            group.ended.add(linked)
        if (
            len(group.events) >= self.max_events
            or len(group.linked) > self.max_linked
            or len(group.channels) > self.max_channels
        ):
            group.overflow = True
            self._forced.append(self._take(root, Why.OVERFLOW))
        elif self._events_held > self.max_events_held:
            self._make_room(root)
        return Added.HELD

    def _make_room(self, newest: str) -> None:
        """Give up the quietest calls (never `newest`) while past a bound."""
        while len(self._groups) > 1 and (
            len(self._groups) > self.max_calls or self._events_held > self.max_events_held
        ):
            quietest = next(root for root in self._groups if root != newest)
            self._forced.append(self._take(quietest, Why.EVICTED))

    # --- output ---------------------------------------------------------------------------

    def forced(self) -> list[Ready]:
        """Groups given up on while adding (evicted, past the bounds): emit them now."""
        out, self._forced = self._forced, []
        return out

    def ready(self, now: float) -> list[Ready]:
        """Groups to emit now: complete and settled, or given up on."""
        out = self.forced()
        for root in list(self._groups):
            group = self._groups[root]
            idle = now - group.last_seen
            if group.complete and idle >= self.settle_s:
                out.append(self._take(root, Why.COMPLETE))
            elif not group.open_channels and group.channels and idle >= self.lost_end_s:
                out.append(self._take(root, Why.LOST_END))
            elif idle >= self.timeout_s:
                out.append(self._take(root, Why.TIMED_OUT))
        return out

    def flush(self) -> list[Ready]:
        """Every group, as it stands (end of an import's input)."""
        out = self.forced()
        for root in list(self._groups):
            group = self._groups[root]
            out.append(self._take(root, Why.COMPLETE if group.complete else Why.FLUSHED))
        return out

    def oldest_held(self) -> dict[int, int]:
        """Per partition, the lowest offset of an event still held: commit below it."""
        out: dict[int, int] = {}
        for group in self._groups.values():
            for partition, offset in group.first.items():
                out[partition] = min(offset, out.get(partition, offset))
        return out

    def _take(self, root: str, why: Why) -> Ready:
        group = self._groups.pop(root)
        self._events_held -= len(group.events)
        for linked in group.linked:
            self._parent.pop(linked, None)
            self._done[linked] = None
        for key in group.keys:
            self._owner.pop(key, None)
        while len(self._done) > REMEMBERED_DONE:
            self._done.popitem(last=False)
        return Ready(group.events, why)


def assemble(events: Iterable[CelEvent]) -> list[Ready]:
    """Group a finished list of CEL events (an import, a test) into calls, in input order."""
    assembly = Assembly(max_calls=2**62)
    out: list[Ready] = []
    for index, event in enumerate(events):
        assembly.add(event, event_id(event), (0, index), 0.0)
        out.extend(assembly.forced())
    return out + assembly.flush()


def calls_from(
    events: Iterable[CelEvent], rules: Rules, policy: PhonePolicy, region: str
) -> list[CallRecorded]:
    """`calls.recorded.v1` events from a finished list of CEL events: the pure assembler."""
    calls = []
    for ready in assemble(events):
        call = build_call(ready.events, rules, policy, region, complete=ready.why is Why.COMPLETE)
        if call is not None:
            calls.append(call)
    return calls
