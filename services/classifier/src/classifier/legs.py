"""Judging the legs of one call as one call.

A ring group rings several extensions and the PBX reports one leg per extension, all sharing a
`linked_id`; the legs nobody picked up arrive as unanswered calls, often before the answered
one. An unanswered inbound leg is therefore held for `legs.hold_s` seconds: if a sibling leg is
answered meanwhile, the held leg is released at once as "answered elsewhere"; otherwise it is
judged when its time is up, and only the first unanswered leg of the call asks for a callback.

`LegBook` remembers, per `linked_id`, what the legs showed so far (bounded, in memory; after a
restart a leg is judged on what arrives from then on). Held legs are kept in memory too, each
with the record (topic, partition, offset) it came from: the consumer commits a partition's
offset no further than its oldest held leg, so a leg is acknowledged only once its verdict was
published, and a process that dies holding legs loses none of them: the partition's next owner
reads them again and holds them again (`consumer.py`).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from classifier.rules import LegContext
from switchboard_shared.events import CallRecorded

MAX_CALLS = 100_000
TTL_S = 6 * 3600.0


@dataclass
class _Call:
    answered_by: str | None = None  # the first leg (interaction id) that was answered
    missed_by: str | None = None  # the leg that asked for the callback
    seen_at: float = 0.0


class LegBook:
    def __init__(self, max_calls: int = MAX_CALLS, ttl_s: float = TTL_S) -> None:
        self._calls: OrderedDict[str, _Call] = OrderedDict()
        self._max = max_calls
        self._ttl = ttl_s

    def context(self, linked_id: str | None, leg_id: str, now: float) -> LegContext:
        """What the *other* legs showed: judging a leg again (a retry) gives the same answer."""
        call = self._get(linked_id, now)
        if call is None:
            return LegContext()
        return LegContext(
            sibling_answered=call.answered_by not in (None, leg_id),
            sibling_missed=call.missed_by not in (None, leg_id),
        )

    def mark_answered(self, linked_id: str, leg_id: str, now: float) -> None:
        call = self._touch(linked_id, now)
        call.answered_by = call.answered_by or leg_id

    def mark_missed(self, linked_id: str, leg_id: str, now: float) -> None:
        call = self._touch(linked_id, now)
        call.missed_by = call.missed_by or leg_id

    def _get(self, linked_id: str | None, now: float) -> _Call | None:
        if not linked_id:
            return None
        call = self._calls.get(linked_id)
        if call is not None and now - call.seen_at > self._ttl:
            del self._calls[linked_id]
            return None
        return call

    def _touch(self, linked_id: str, now: float) -> _Call:
        call = self._get(linked_id, now) or _Call()
        call.seen_at = now
        self._calls[linked_id] = call
        self._calls.move_to_end(linked_id)
        while len(self._calls) > self._max:
            self._calls.popitem(last=False)
        return call


@dataclass(frozen=True)
class Source:
    """Where a held leg was read: its offset is not committed while it is held."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class HeldLeg:
    interaction_id: str
    linked_id: str
    due_at: float  # wall-clock seconds
    call: CallRecorded
    source: Source | None = None


class HeldLegs(Protocol):
    def hold(self, leg: HeldLeg) -> None: ...

    def due(self, now: float, topic: str | None = None) -> list[HeldLeg]:
        """Legs whose time is up (read from `topic`, when given), oldest first."""
        ...

    def release_now(self, linked_id: str) -> int:
        """Make every held leg of this call due at once; returns how many."""
        ...

    def remove(self, interaction_id: str) -> None: ...

    def count(self) -> int: ...

    def oldest(self, topic: str, partition: int) -> int | None:
        """The lowest offset held from this partition: the furthest it may be committed."""
        ...

    def next_due(self, topic: str | None = None) -> float | None:
        """When the next leg (read from `topic`, when given) is due."""
        ...

    def drop(self, topic: str, partitions: set[int]) -> int:
        """Forget the legs read from these partitions (no longer ours: their next owner reads
        them again); returns how many."""
        ...


class MemoryHeldLegs:
    """Held legs, in memory."""

    def __init__(self) -> None:
        self._legs: dict[str, HeldLeg] = {}

    def hold(self, leg: HeldLeg) -> None:
        self._legs.setdefault(leg.interaction_id, leg)

    def due(self, now: float, topic: str | None = None) -> list[HeldLeg]:
        return sorted(
            (
                leg
                for leg in self._legs.values()
                if leg.due_at <= now
                and (topic is None or (leg.source is not None and leg.source.topic == topic))
            ),
            key=lambda leg: (leg.due_at, leg.call.started_at),
        )

    def release_now(self, linked_id: str) -> int:
        hits = [leg for leg in self._legs.values() if leg.linked_id == linked_id]
        for leg in hits:
            self._legs[leg.interaction_id] = HeldLeg(
                leg.interaction_id, leg.linked_id, float("-inf"), leg.call, leg.source
            )
        return len(hits)

    def remove(self, interaction_id: str) -> None:
        self._legs.pop(interaction_id, None)

    def count(self) -> int:
        return len(self._legs)

    def oldest(self, topic: str, partition: int) -> int | None:
        offsets = [
            leg.source.offset
            for leg in self._legs.values()
            if leg.source is not None
            and leg.source.topic == topic
            and leg.source.partition == partition
        ]
        return min(offsets) if offsets else None

    def next_due(self, topic: str | None = None) -> float | None:
        return min(
            (
                leg.due_at
                for leg in self._legs.values()
                if topic is None or (leg.source is not None and leg.source.topic == topic)
            ),
            default=None,
        )

    def drop(self, topic: str, partitions: set[int]) -> int:
        gone = [
            leg.interaction_id
            for leg in self._legs.values()
            if leg.source is not None
            and leg.source.topic == topic
            and leg.source.partition in partitions
        ]
        for interaction_id in gone:
            del self._legs[interaction_id]
        return len(gone)
