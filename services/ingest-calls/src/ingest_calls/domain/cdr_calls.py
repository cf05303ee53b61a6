"""The CDRs of one call (its legs) -> the one `calls.recorded.v1` the CEL path makes of it.

cdr_csv writes a record per leg, party A to party B: a ring group or a queue rings several
phones (a record each, all NO ANSWER but the one that answered), a transfer adds a record for
the new party, a Local channel (FreePBX ring groups, follow-me) a record for each half. The legs
of one call share `linkedid` and party A's `uniqueid` (`leg_keys`).

The legs are rewritten as the channel events they stand for -- `CHAN_START` of each channel,
`APP_START` of the leg's application at its extension, `BRIDGE_ENTER`/`BRIDGE_EXIT` of the two
parties of an answered leg, `HANGUP` with the Dial status, and a transfer where the caller's
side reached a second party after the first had answered -- and handed to
`cel_calls.build_call`, so a call imported from CDRs reads as the same call seen live through
CEL: caller, participants (rung / answered / transferred to), requested, transfers, status,
direction, and the same `call_id` (`asterisk:<linkedid>`) and ce_id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ingest_calls.domain.asterisk import (
    Record,
    Rules,
    _fail,
    _recording_url,
    _seconds,
    _status,
    _time,
    endpoint_of,
    is_trunk,
    provider_call_id,
)
from ingest_calls.domain.cel_calls import build_call
from switchboard_shared.events import CallRecorded, CallStatus
from switchboard_shared.phone import PhonePolicy

MAX_LEGS = 200  # legs of one call built into it; past them, the rest are left out
MAX_RAW_LEGS = 20
# Asterisk names a channel `<tech>/<resource>-<8 hex digits>` (`;1`/`;2` for Local halves):
# unique while it lives, so two legs naming the same channel are one call. Names without the
# counter (`DAHDI/1-1`) are reused call after call and join nothing.
_UNIQUE_NAME_RE = re.compile(r".+-[0-9a-fA-F]{8}(?:;[12])?")
DIAL_STATUS = {
    CallStatus.NO_ANSWER: "NOANSWER",
    CallStatus.BUSY: "BUSY",
    CallStatus.FAILED: "CHANUNAVAIL",
    CallStatus.CANCELED: "CANCEL",
}


def _name_key(channel: str) -> str | None:
    name = channel.strip()
    if not _UNIQUE_NAME_RE.fullmatch(name):
        return None
    return "name:" + name.rsplit(";", 1)[0]


def leg_keys(values: dict[str, str]) -> list[str]:
    """What ties a CDR (canonical column -> text) to the other legs of its call: its linkedid,
    party A's uniqueid, and the names of both channels when Asterisk made them unique."""
    keys = []
    for column, prefix in (("linkedid", "id:"), ("uniqueid", "id:")):
        value = values.get(column, "").strip()
        if value:
            keys.append(prefix + value)
    for column in ("channel", "dstchannel"):
        key = _name_key(values.get(column, ""))
        if key:
            keys.append(key)
    return keys


@dataclass(frozen=True)
class Leg:
    """One CDR, its times read and checked (InvalidPayload names the line and column)."""

    record: Record
    start: datetime
    answer: datetime | None
    end: datetime
    status: CallStatus
    order: int

    @property
    def channel(self) -> str:
        return self.record.get("channel")

    @property
    def dstchannel(self) -> str:
        return self.record.get("dstchannel")

    @property
    def connected(self) -> bool:
        return (
            self.status is CallStatus.ANSWERED and self.answer is not None and bool(self.dstchannel)
        )


def _in_order(leg: Leg) -> tuple[datetime, int, str, str, int]:
    """Legs by start, then CDR sequence and channels: not by where the file put them."""
    sequence = leg.record.get("sequence")
    number = int(sequence) if sequence.isdigit() and len(sequence) < 18 else -1
    return (leg.start, number, leg.channel, leg.dstchannel, leg.order)


def leg_of(record: Record, rules: Rules, order: int = 0) -> Leg:
    status = _status(record)
    start = _time(record, "start", rules.zone)
    if start is None:
        raise _fail(record, "start", "the start time is missing")
    answer = _time(record, "answer", rules.zone)
    end = _time(record, "end", rules.zone)
    duration = _seconds(record, "duration")
    billsec = _seconds(record, "billsec")
    try:
        if end is None:
            end = start + timedelta(seconds=duration or 0.0)
        if status is CallStatus.ANSWERED and answer is None and billsec is not None:
            answer = end - timedelta(seconds=billsec)
    except OverflowError as exc:
        raise _fail(record, "start", "the call times are out of range") from exc
    if end < start:
        raise _fail(record, "end", "the call ends before it starts")
    if answer is not None and not start <= answer <= end:
        answer = None if status is not CallStatus.ANSWERED else max(start, min(answer, end))
    return Leg(record, start, answer, end, status, order)


def _cid_name(record: Record) -> str:
    """`"Smith, John" <2125550100>` -> `Smith, John` (FreePBX has it in `cnam`)."""
    if record.get("cnam"):
        return record.get("cnam")
    clid = record.get("clid")
    if "<" in clid:
        clid = clid.rsplit("<", 1)[0]
    return clid.strip().strip('"').strip()


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs 3x
class LegEvent:
    """A channel event a leg stands for (the fields of `CelEvent` the builder reads)."""

    event_name: str
    event_time: datetime
    unique_id: str
    linked_id: str
    channel: str
    caller_id_num: str = ""
    caller_id_name: str = ""
    caller_id_dnid: str = ""
    exten: str = ""
    context: str = ""
    application: str = ""
    app_data: str = ""
    extra: str = ""
    extra_fields: Mapping[str, str] | None = None  # `extra`, parsed (read by `extra_of`)


class _Trace:
    """The channel events of the legs, written channel by channel."""

    def __init__(self, linked: str) -> None:
        self.linked = linked
        self.events: list[LegEvent] = []
        self.ids: dict[str, str] = {}  # channel name -> unique id

    def unique_id(self, channel: str, uniqueid: str = "") -> str:
        known = self.ids.get(channel)
        if known is None:
            known = self.ids[channel] = uniqueid or f"cdr:{channel}:{self.linked}"[:150]
        return known

    def emit(
        self,
        name: str,
        at: datetime,
        channel: str,
        *,
        extra: dict[str, str] | None = None,
        **fields: str,
    ) -> None:
        unique_id = self.ids.get(channel) or self.unique_id(channel)
        self.events.append(
            LegEvent(name, at, unique_id, self.linked, channel, extra_fields=extra, **fields)
        )


def _trace(legs: Sequence[Leg], rules: Rules) -> list[LegEvent]:
    # The CEL path names a call after the lowest of its linkedids: so does this.
    linked = min(
        (leg.record.get("linkedid") or leg.record.get("uniqueid") or provider_call_id(leg.record))
        for leg in legs
    )[:150]
    trace = _Trace(linked)
    parties_a: dict[str, list[Leg]] = {}
    for leg in legs:
        channel = leg.channel or f"cdr-{leg.order}"
        parties_a.setdefault(channel, []).append(leg)
        trace.unique_id(channel, leg.record.get("uniqueid"))
    for channel, own in parties_a.items():
        head = own[0].record
        trace.emit(
            "CHAN_START",
            own[0].start,
            channel,
            caller_id_num=(head.get("src") or head.get("cnum"))[:128],
            caller_id_name=_cid_name(head)[:128],
            caller_id_dnid=head.get("did")[:128],
            exten=(head.get("did") or head.get("dst"))[:128],
            context=head.get("dcontext")[:128],
        )
        for leg in own:
            trace.emit(
                "APP_START",
                leg.start,
                channel,
                application=leg.record.get("lastapp")[:64],
                app_data=leg.record.get("lastdata")[:1024],
                exten=leg.record.get("dst")[:128],
                context=leg.record.get("dcontext")[:128],
            )
        last = max(own, key=lambda leg: (leg.end, _in_order(leg)))
        ended = max(leg.end for leg in own)
        status = DIAL_STATUS.get(last.status, "ANSWER")
        trace.emit("HANGUP", ended, channel, extra={"dialstatus": status})
    answered_by: dict[str, Leg] = {}  # party A -> the leg of the first party B it talked to
    for leg in legs:
        if not leg.dstchannel:
            continue
        callee = leg.dstchannel
        party_a = leg.channel or f"cdr-{leg.order}"
        if callee not in parties_a:
            number = leg.record.get("dst") if is_trunk(callee, rules) else ""
            trace.emit(
                "CHAN_START",
                leg.start,
                callee,
                caller_id_num=(number or endpoint_of(callee) or "")[:128],
                exten="s",
            )
            trace.emit("HANGUP", leg.end, callee, extra={"dialstatus": ""})
        if not leg.connected:
            continue
        assert leg.answer is not None
        earlier = answered_by.get(party_a)
        if earlier is not None and endpoint_of(earlier.dstchannel) != endpoint_of(callee):
            # The caller reached someone else after the first answer: a transfer by the first.
            _transfer(trace, leg, earlier, legs)
        answered_by.setdefault(party_a, leg)
        bridge = {"bridge_id": f"cdr:{trace.unique_id(party_a)}:{leg.start}:{callee}"}
        bridge["bridge_technology"] = "simple_bridge"
        for channel in (party_a, callee):
            trace.emit("BRIDGE_ENTER", leg.answer, channel, extra=bridge)
            trace.emit("BRIDGE_EXIT", leg.end, channel, extra=bridge)
    return trace.events


def _transfer(trace: _Trace, leg: Leg, earlier: Leg, legs: Sequence[Leg]) -> None:
    """The transfer by the first party B that put the caller through to this leg's party B:
    attended when that line had itself called the new party (a consultation leg), else blind
    (to the extension the caller's channel went on to)."""
    by = earlier.dstchannel
    line = endpoint_of(by)
    consulted = any(
        other is not earlier
        and other.dstchannel == leg.dstchannel
        and other.channel != leg.channel
        and endpoint_of(other.channel) == line
        for other in legs
    )
    at = min(leg.start, earlier.end)
    if consulted:
        target = {"transfer_target_channel_uniqueid": trace.unique_id(leg.dstchannel)}
        trace.emit("ATTENDEDTRANSFER", at, by, extra=target)
    else:
        exten = leg.record.get("dst")[:128]
        trace.emit("BLINDTRANSFER", at, by, extra={"extension": exten})


def build_from_legs(
    legs: Sequence[Leg], rules: Rules, policy: PhonePolicy, region: str
) -> CallRecorded | None:
    """The call these legs (all of one call, any order) describe; None when none is usable."""
    if not legs:
        return None
    ordered = sorted(legs, key=_in_order)[:MAX_LEGS]
    recording = next(
        (
            url
            for leg in ordered
            if (url := _recording_url(leg.record, leg.start, rules)) is not None
        ),
        None,
    )
    raw = {
        "source": "cdr",
        "legs": [leg.record.raw for leg in ordered[:MAX_RAW_LEGS]],
        "leg_count": len(legs),
    }
    events = _trace(ordered, rules)
    return build_call(events, rules, policy, region, raw=raw, recording_url=recording)
