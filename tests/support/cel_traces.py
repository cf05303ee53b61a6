"""Asterisk CEL sequences for the call scenarios, as Asterisk 12+ writes them.

Each scenario follows the event order Asterisk's CEL documentation and real `cel` tables show
(Wazo's call-logd fixtures are the same shape): `CHAN_START` with the line's own caller ID on a
dialled channel and `Exten` `s`, `APP_START` of the dialplan applications, `ANSWER`,
`BRIDGE_ENTER`/`BRIDGE_EXIT` with `{"bridge_id", "bridge_technology"}` in `Extra`, `HANGUP` with
`{"hangupcause", "hangupsource", "dialstatus"}`, `CHAN_END`, and `LINKEDID_END` when the last
channel of a linkedid is gone. Local channels come in `;1`/`;2` halves; transfers and pickups
carry the `Extra` keys `cel.c` writes.

`Pbx` writes one trace: channels get unique ids in creation order, time moves only when told.
`SCENARIOS` maps a name to (events as AMI-named dicts, what the assembled call must show).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

START = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


@dataclass
class Chan:
    name: str
    unique_id: str
    linked_id: str
    cid_num: str
    cid_name: str
    exten: str
    context: str


@dataclass
class Pbx:
    epoch: int = 1772442000
    tag: str = ""  # hex digits put in channel names, so that runs never share a name
    now: datetime = START
    events: list[dict[str, Any]] = field(default_factory=list)
    _seq: int = 0
    _bridges: int = 0
    _open: dict[str, set[str]] = field(default_factory=dict)  # linkedid -> live channels

    def wait(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def emit(self, chan: Chan, name: str, **fields: Any) -> None:
        extra = fields.pop("extra", None)
        event = {
            "Event": "CEL",
            "EventName": name,
            "EventTime": f"{self.now.timestamp():.6f}",
            "CallerIDnum": fields.pop("cid_num", chan.cid_num),
            "CallerIDname": fields.pop("cid_name", chan.cid_name),
            "CallerIDani": chan.cid_num,
            "CallerIDdnid": fields.pop("dnid", ""),
            "Exten": fields.pop("exten", chan.exten),
            "Context": fields.pop("context", chan.context),
            "Channel": fields.pop("channel", chan.name),
            "Application": fields.pop("app", ""),
            "AppData": fields.pop("appdata", ""),
            "UniqueID": chan.unique_id,
            "LinkedID": chan.linked_id,
            "Peer": fields.pop("peer", ""),
            "Extra": json.dumps(extra) if extra is not None else "",
        }
        assert not fields, fields
        self.events.append(event)

    def start(
        self,
        name: str,
        cid_num: str,
        cid_name: str = "",
        exten: str = "s",
        context: str = "from-internal",
        linked_to: Chan | None = None,
    ) -> Chan:
        self._seq += 1
        unique_id = f"{self.epoch}.{self._seq}"
        linked = linked_to.linked_id if linked_to else unique_id
        chan = Chan(
            f"{name}-{self.tag}{self._seq:08x}" if "/" in name and ";" not in name else name,
            unique_id,
            linked,
            cid_num,
            cid_name,
            exten,
            context,
        )
        self._open.setdefault(linked, set()).add(unique_id)
        self.emit(chan, "CHAN_START")
        return chan

    def local(self, target: str, context: str, linked_to: Chan) -> tuple[Chan, Chan]:
        self._seq += 1
        base = f"Local/{target}@{context}-{self.tag}{self._seq:08x}"
        one = self.start(f"{base};1", "", exten=target, context=context, linked_to=linked_to)
        two = self.start(f"{base};2", "", exten=target, context=context, linked_to=linked_to)
        return one, two

    def app(self, chan: Chan, app: str, data: str = "", exten: str | None = None) -> None:
        if exten is not None:
            chan.exten = exten
        self.emit(chan, "APP_START", app=app, appdata=data)

    def app_end(self, chan: Chan, app: str) -> None:
        self.emit(chan, "APP_END", app=app)

    def answer(self, chan: Chan) -> None:
        self.emit(chan, "ANSWER")

    def bridge(self, *chans: Chan, technology: str = "simple_bridge") -> str:
        self._bridges += 1
        bridge_id = f"{self.epoch:08x}-{self._bridges:04d}-4b8a-9f0d-{self.tag or 'b'}"
        for chan in chans:
            self.enter(chan, bridge_id, technology)
        return bridge_id

    def enter(self, chan: Chan, bridge_id: str, technology: str = "simple_bridge") -> None:
        extra = {"bridge_id": bridge_id, "bridge_technology": technology}
        self.emit(chan, "BRIDGE_ENTER", extra=extra)

    def leave(self, chan: Chan, bridge_id: str, technology: str = "simple_bridge") -> None:
        extra = {"bridge_id": bridge_id, "bridge_technology": technology}
        self.emit(chan, "BRIDGE_EXIT", extra=extra)

    def hangup(self, chan: Chan, cause: int = 16, dialstatus: str = "") -> None:
        extra = {"hangupcause": cause, "hangupsource": chan.name, "dialstatus": dialstatus}
        self.emit(chan, "HANGUP", extra=extra)
        self.emit(chan, "CHAN_END")
        live = self._open[chan.linked_id]
        live.discard(chan.unique_id)
        if not live:
            self.emit(chan, "LINKEDID_END")


@dataclass(frozen=True)
class Expect:
    status: str
    direction: str
    caller: str
    to: str
    requested: str
    # (extension or number, role, talked) per participant after the caller, in order
    parties: tuple[tuple[str, str, bool], ...]
    talk_s: float = 0.0  # the call's: from the first answer to the end
    transfers: tuple[str, ...] = ()
    parties_talk_s: float | None = None  # the participants' together, when not talk_s


TRUNK = "PJSIP/trunk"
CLIENT = "+493012345678"
DID = "+4930555000"


def direct_answered(pbx: Pbx | None = None) -> tuple[Pbx, Expect]:
    """An inbound call to a DID routed to extension 101, answered, 60 s of talk."""
    pbx = pbx or Pbx()
    caller = pbx.start(TRUNK, CLIENT, "Client", exten=DID, context="from-trunk")
    pbx.app(caller, "Dial", "PJSIP/101,30", exten="101")
    phone = pbx.start("PJSIP/101", "101", "Alice", linked_to=caller)
    pbx.wait(5)
    pbx.answer(phone)
    pbx.answer(caller)
    bridge = pbx.bridge(caller, phone)
    pbx.wait(60)
    pbx.leave(phone, bridge)
    pbx.hangup(phone)
    pbx.leave(caller, bridge)
    pbx.app_end(caller, "Dial")
    pbx.hangup(caller, dialstatus="ANSWER")
    return pbx, Expect("answered", "inbound", CLIENT, DID, "101", (("101", "answered", True),), 60)


def no_answer(pbx: Pbx | None = None) -> tuple[Pbx, Expect]:
    """Extension 101 rings 30 s; Dial gives up (NOANSWER) and the caller is hung up."""
    pbx = pbx or Pbx()
    caller = pbx.start(TRUNK, CLIENT, exten=DID, context="from-trunk")
    pbx.app(caller, "Dial", "PJSIP/101,30", exten="101")
    phone = pbx.start("PJSIP/101", "101", "Alice", linked_to=caller)
    pbx.wait(30)
    pbx.hangup(phone, cause=19)
    pbx.app_end(caller, "Dial")
    pbx.hangup(caller, cause=19, dialstatus="NOANSWER")
    return pbx, Expect("no_answer", "inbound", CLIENT, DID, "101", (("101", "rung", False),))


def busy(pbx: Pbx | None = None) -> tuple[Pbx, Expect]:
    """An internal call from 101 to 102, who is busy."""
    pbx = pbx or Pbx()
    caller = pbx.start("PJSIP/101", "101", "Alice", exten="102")
    pbx.app(caller, "Dial", "PJSIP/102,30")
    phone = pbx.start("PJSIP/102", "102", "Bob", linked_to=caller)
    pbx.wait(1)
    pbx.hangup(phone, cause=17)
    pbx.app_end(caller, "Dial")
    pbx.hangup(caller, cause=17, dialstatus="BUSY")
    return pbx, Expect("busy", "internal", "101", "102", "102", (("102", "rung", False),))


def ring_group(pbx: Pbx | None = None) -> tuple[Pbx, Expect]:
    """DID -> ring group 600 ringing 101 and 102 at once; 102 answers, 101 stops ringing."""
    pbx = pbx or Pbx()
    caller = pbx.start(TRUNK, CLIENT, exten=DID, context="from-trunk")
    pbx.app(caller, "Dial", "PJSIP/101&PJSIP/102,20", exten="600")
    first = pbx.start("PJSIP/101", "101", "Alice", linked_to=caller)
    second = pbx.start("PJSIP/102", "102", "Bob", linked_to=caller)
    pbx.wait(8)
    pbx.answer(second)
    pbx.answer(caller)
    pbx.hangup(first, cause=26)  # answered elsewhere
    bridge = pbx.bridge(caller, second)
    pbx.wait(45)
    pbx.leave(caller, bridge)
    pbx.app_end(caller, "Dial")
    pbx.hangup(caller, dialstatus="ANSWER")
    pbx.leave(second, bridge)
    pbx.hangup(second)
    parties = (("102", "answered", True), ("101", "rung", False))
    return pbx, Expect("answered", "inbound", CLIENT, DID, "600", parties, 45)


def ring_group_missed(pbx: Pbx | None = None) -> tuple[Pbx, Expect]:
    """DID -> ring group 600 ringing 101 and 102 for 20 s; nobody answers."""
    pbx = pbx or Pbx()
    caller = pbx.start(TRUNK, CLIENT, exten=DID, context="from-trunk")
    pbx.app(caller, "Dial", "PJSIP/101&PJSIP/102,20", exten="600")
    first = pbx.start("PJSIP/101", "101", "Alice", linked_to=caller)
    second = pbx.start("PJSIP/102", "102", "Bob", linked_to=caller)
    pbx.wait(20)
    pbx.hangup(first, cause=19)
    pbx.hangup(second, cause=19)
    pbx.app_end(caller, "Dial")
    pbx.hangup(caller, cause=19, dialstatus="NOANSWER")
    parties = (("101", "rung", False), ("102", "rung", False))
    return pbx, Expect("no_answer", "inbound", CLIENT, DID, "600", parties)


def queue(pbx: Pbx | None = None) -> tuple[Pbx, Expect]:
    """DID -> Queue(support): members 101 and 102 rung through Local channels; 102 answers,
    the Local channel is optimised away."""
    pbx = pbx or Pbx()
    caller = pbx.start(TRUNK, CLIENT, exten=DID, context="from-trunk")
    pbx.answer(caller)
    pbx.app(caller, "Queue", "support,t", exten="700")
    l1a, l1b = pbx.local("101", "from-queue", caller)
    l2a, l2b = pbx.local("102", "from-queue", caller)
    pbx.app(l1b, "Dial", "PJSIP/101")
    m1 = pbx.start("PJSIP/101", "101", "Alice", linked_to=caller)
    pbx.app(l2b, "Dial", "PJSIP/102")
    m2 = pbx.start("PJSIP/102", "102", "Bob", linked_to=caller)
    pbx.wait(12)
    pbx.answer(m2)
    pbx.answer(l2b)
    pbx.answer(l2a)
    outer = pbx.bridge(caller, l2a)
    inner = pbx.bridge(l2b, m2)
    pbx.hangup(m1, cause=26)
    pbx.hangup(l1b, dialstatus="CANCEL")
    pbx.hangup(l1a)
    # LOCAL_OPTIMIZE: member 102 takes the Local channel's place in the caller's bridge.
    pbx.emit(l2a, "LOCAL_OPTIMIZE")
    pbx.leave(m2, inner)
    pbx.enter(m2, outer)
    pbx.leave(l2a, outer)
    pbx.leave(l2b, inner)
    pbx.hangup(l2a)
    pbx.hangup(l2b)
    pbx.wait(90)
    pbx.leave(m2, outer)
    pbx.hangup(m2)
    pbx.leave(caller, outer)
    pbx.hangup(caller)
    parties = (("102", "answered", True), ("101", "rung", False))
    return pbx, Expect("answered", "inbound", CLIENT, DID, "700", parties, 90)


def blind_transfer(pbx: Pbx | None = None) -> tuple[Pbx, Expect]:
    """101 answers a client, talks 20 s, blind-transfers to 102, who talks 100 s."""
    pbx = pbx or Pbx()
    caller = pbx.start(TRUNK, CLIENT, exten=DID, context="from-trunk")
    pbx.app(caller, "Dial", "PJSIP/101,30", exten="101")
    first = pbx.start("PJSIP/101", "101", "Alice", linked_to=caller)
    pbx.wait(4)
    pbx.answer(first)
    pbx.answer(caller)
    bridge = pbx.bridge(caller, first)
    pbx.wait(20)
    pbx.emit(
        first,
        "BLINDTRANSFER",
        extra={
            "extension": "102",
            "context": "from-internal",
            "bridge_id": bridge,
            "transferee_channel_name": caller.name,
            "transferee_channel_uniqueid": caller.unique_id,
        },
    )
    pbx.leave(first, bridge)
    pbx.hangup(first)
    pbx.leave(caller, bridge)
    pbx.app(caller, "Dial", "PJSIP/102,30", exten="102")
    second = pbx.start("PJSIP/102", "102", "Bob", linked_to=caller)
    pbx.wait(6)
    pbx.answer(second)
    bridge2 = pbx.bridge(caller, second)
    pbx.wait(100)
    pbx.leave(second, bridge2)
    pbx.hangup(second)
    pbx.leave(caller, bridge2)
    pbx.hangup(caller, dialstatus="ANSWER")
    parties = (("101", "answered", True), ("102", "transferred_to", True))
    return pbx, Expect(
        "answered",
        "inbound",
        CLIENT,
        DID,
        "101",
        parties,
        126,  # 102 rang for 6 s of it
        transfers=("blind",),
        parties_talk_s=120,
    )


def attended_transfer(pbx: Pbx | None = None) -> tuple[Pbx, Expect]:
    """101 answers, puts the client on hold, calls 102 on a second channel (a linkedid of its
    own), talks to 102, then completes the transfer: the client and 102 are bridged."""
    pbx = pbx or Pbx()
    caller = pbx.start(TRUNK, CLIENT, exten=DID, context="from-trunk")
    pbx.app(caller, "Dial", "PJSIP/101,30", exten="101")
    first = pbx.start("PJSIP/101", "101", "Alice", linked_to=caller)
    pbx.wait(3)
    pbx.answer(first)
    pbx.answer(caller)
    bridge1 = pbx.bridge(caller, first)
    pbx.wait(30)
    consult = pbx.start("PJSIP/101", "101", "Alice", exten="102")  # a new call, new linkedid
    pbx.app(consult, "Dial", "PJSIP/102,30")
    target = pbx.start("PJSIP/102", "102", "Bob", linked_to=consult)
    pbx.wait(5)
    pbx.answer(target)
    pbx.answer(consult)
    bridge2 = pbx.bridge(consult, target)
    pbx.wait(15)
    pbx.emit(
        first,
        "ATTENDEDTRANSFER",
        extra={
            "bridge1_id": bridge1,
            "channel2_name": consult.name,
            "channel2_uniqueid": consult.unique_id,
            "bridge2_id": bridge2,
            "transferee_channel_name": caller.name,
            "transferee_channel_uniqueid": caller.unique_id,
            "transfer_target_channel_name": target.name,
            "transfer_target_channel_uniqueid": target.unique_id,
        },
    )
    pbx.leave(first, bridge1)
    pbx.leave(consult, bridge2)
    pbx.leave(target, bridge2)
    pbx.enter(target, bridge1)  # the target joins the client's bridge
    pbx.hangup(first)
    pbx.hangup(consult)
    pbx.wait(200)
    pbx.leave(target, bridge1)
    pbx.hangup(target)
    pbx.leave(caller, bridge1)
    pbx.hangup(caller, dialstatus="ANSWER")
    parties = (("101", "answered", True), ("102", "transferred_to", True))
    return pbx, Expect(
        "answered", "inbound", CLIENT, DID, "101", parties, 250, transfers=("attended",)
    )


def pickup(pbx: Pbx | None = None) -> tuple[Pbx, Expect]:
    """101 rings; 103 dials *8 and picks the call up: the ringing channel becomes 103's."""
    pbx = pbx or Pbx()
    caller = pbx.start(TRUNK, CLIENT, exten=DID, context="from-trunk")
    pbx.app(caller, "Dial", "PJSIP/101,30", exten="101")
    ringing = pbx.start("PJSIP/101", "101", "Alice", linked_to=caller)
    pbx.wait(7)
    picker = pbx.start("PJSIP/103", "103", "Carol", exten="*8")
    pbx.app(picker, "Pickup", "")
    pbx.emit(ringing, "PICKUP", extra={"pickup_channel": picker.name})
    pbx.answer(picker)
    # The picking phone is moved into the ringing channel, which takes its name; what is left
    # of the picking channel hangs up as a zombie.
    taken = picker.name
    picker.name = f"{taken}<ZOMBIE>"
    ringing.name, ringing.cid_num, ringing.cid_name = taken, "103", "Carol"
    pbx.answer(ringing)
    pbx.answer(caller)
    bridge = pbx.bridge(caller, ringing)
    pbx.hangup(picker)
    pbx.wait(40)
    pbx.leave(ringing, bridge)
    pbx.hangup(ringing)
    pbx.leave(caller, bridge)
    pbx.hangup(caller, dialstatus="ANSWER")
    parties = (("103", "answered", True), ("101", "rung", False))
    return pbx, Expect(
        "answered", "inbound", CLIENT, DID, "101", parties, 40, transfers=("pickup",)
    )


def voicemail(pbx: Pbx | None = None) -> tuple[Pbx, Expect]:
    """101 does not answer within 20 s; the caller leaves a message in 101's mailbox."""
    pbx = pbx or Pbx()
    caller = pbx.start(TRUNK, CLIENT, exten=DID, context="from-trunk")
    pbx.app(caller, "Dial", "PJSIP/101,20", exten="101")
    phone = pbx.start("PJSIP/101", "101", "Alice", linked_to=caller)
    pbx.wait(20)
    pbx.hangup(phone, cause=19)
    pbx.app_end(caller, "Dial")
    pbx.answer(caller)
    pbx.app(caller, "VoiceMail", "101@default,u", exten="vm101")
    pbx.wait(25)
    pbx.app_end(caller, "VoiceMail")
    pbx.hangup(caller, dialstatus="NOANSWER")
    return pbx, Expect("voicemail", "inbound", CLIENT, DID, "101", (("101", "rung", False),))


def outbound_trunk(pbx: Pbx | None = None) -> tuple[Pbx, Expect]:
    """101 dials a client's number; the call leaves through the trunk and is answered."""
    pbx = pbx or Pbx()
    caller = pbx.start("PJSIP/101", "101", "Alice", exten="03012345678")
    pbx.app(caller, "Dial", "PJSIP/03012345678@trunk,60")
    line = pbx.start(TRUNK, "", linked_to=caller)
    pbx.wait(9)
    pbx.answer(line)
    bridge = pbx.bridge(caller, line)
    pbx.wait(75)
    pbx.leave(line, bridge)
    pbx.hangup(line)
    pbx.leave(caller, bridge)
    pbx.hangup(caller, dialstatus="ANSWER")
    parties = (("03012345678", "answered", True),)
    return pbx, Expect("answered", "outbound", "101", "03012345678", "03012345678", parties, 75)


def follow_me(pbx: Pbx | None = None) -> tuple[Pbx, Expect]:
    """DID -> 101's follow-me: the desk phone and, through a Local channel, the mobile
    (out on the trunk) ring; the mobile answers; the Local channel is not optimised."""
    pbx = pbx or Pbx()
    caller = pbx.start(TRUNK, CLIENT, exten=DID, context="from-trunk")
    pbx.app(caller, "Dial", "PJSIP/101&Local/mobile101@followme", exten="101")
    desk = pbx.start("PJSIP/101", "101", "Alice", linked_to=caller)
    half1, half2 = pbx.local("mobile101", "followme", caller)
    pbx.app(half2, "Dial", "PJSIP/+491701234567@trunk", exten="+491701234567")
    mobile = pbx.start(TRUNK, "", linked_to=caller)
    pbx.wait(10)
    pbx.answer(mobile)
    pbx.answer(half2)
    pbx.answer(half1)
    pbx.answer(caller)
    pbx.hangup(desk, cause=26)
    inner = pbx.bridge(half2, mobile)
    outer = pbx.bridge(caller, half1)
    pbx.wait(33)
    pbx.leave(mobile, inner)
    pbx.hangup(mobile)
    pbx.leave(half2, inner)
    pbx.hangup(half2, dialstatus="ANSWER")
    pbx.leave(half1, outer)
    pbx.hangup(half1)
    pbx.leave(caller, outer)
    pbx.hangup(caller, dialstatus="ANSWER")
    parties = (("+491701234567", "answered", True), ("101", "rung", False))
    return pbx, Expect("answered", "inbound", CLIENT, DID, "101", parties, 33)


SCENARIOS: dict[str, Callable[[Pbx | None], tuple[Pbx, Expect]]] = {
    "direct_answered": direct_answered,
    "no_answer": no_answer,
    "busy": busy,
    "ring_group": ring_group,
    "ring_group_missed": ring_group_missed,
    "queue": queue,
    "blind_transfer": blind_transfer,
    "attended_transfer": attended_transfer,
    "pickup": pickup,
    "voicemail": voicemail,
    "outbound_trunk": outbound_trunk,
    "follow_me": follow_me,
}
