"""The CEL assembler restarted in the middle of a call loses nothing: it committed only below
the call's first event, re-reads it and emits the call once, whole. On a broker of its own:
the session's assembler must not take part."""

from __future__ import annotations

import contextlib
import json
import random
import secrets
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI

from ingest_calls.app import create_app
from ingest_calls.cel_assembler import GROUP_ID, CelAssembler
from ingest_calls.domain import asterisk, cel
from ingest_calls.domain.cel_assembly import calls_from
from integration.ingest_calls.webhooks import ASTERISK_TOKEN, settings_for
from support.cel_traces import SCENARIOS, Pbx
from support.conditions import eventually
from support.offsets import committed
from support.private_broker import private_broker
from support.records import read_to_end
from switchboard_shared.cloudevents import decode
from switchboard_shared.events import CallRecorded
from switchboard_shared.topics import CALLS_CEL, CALLS_RECORDED

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.xdist_group("cel")]
AUTH = {"Authorization": f"Bearer {ASTERISK_TOKEN}", "Content-Type": "application/json"}


async def push(app: FastAPI, events: list[dict[str, object]]) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        answer = await client.post(
            "/webhooks/asterisk-cel", content=json.dumps(events), headers=AUTH
        )
    assert answer.status_code == 200, answer.text


async def calls_on(bootstrap: str) -> list[CallRecorded]:
    out = []
    for record in await read_to_end(bootstrap, CALLS_RECORDED.name):
        _, data = decode(record.headers, record.value)
        assert isinstance(data, CallRecorded)
        out.append(data)
    return out


async def test_a_restart_mid_call_rebuilds_the_call_from_the_topic(tmp_path: Path) -> None:
    def pbx() -> Pbx:
        return Pbx(epoch=random.randrange(10**9, 2 * 10**9), tag=secrets.token_hex(3))

    done, _ = SCENARIOS["busy"](pbx())
    long, _ = SCENARIOS["attended_transfer"](pbx())  # two linkedids: maybe two partitions
    cut = len(long.events) // 2
    async with private_broker(tmp_path) as bootstrap:
        settings = settings_for(bootstrap)
        rules = asterisk.rules_from(settings.options_for("asterisk"))
        policy, region = settings.phone_policy, settings.region_for("asterisk")
        whole = calls_from(
            cel.parse_batch(long.events, ZoneInfo("UTC"), "x"), rules, policy, region
        )
        first = create_app(settings)
        async with first.router.lifespan_context(first):
            assert await first.state.bus.wait_connected(20)
            await push(first, done.events)
            await push(first, long.events[:cut])
            await eventually(lambda: calls_on(bootstrap), timeout=60, what="the finished call")
            linked = {str(e["LinkedID"]).encode() for e in long.events}
            held_from: dict[int, int] = {}
            for record in await read_to_end(bootstrap, CALLS_CEL.name):
                if record.key in linked:
                    held_from.setdefault(record.partition, record.offset)

            async def commit_stops_at_the_held_call() -> bool:
                positions = await committed(bootstrap, GROUP_ID, CALLS_CEL.name)
                return all(positions[p] == offset for p, offset in held_from.items())

            await eventually(commit_stops_at_the_held_call, timeout=30, what="commit held back")
        second = create_app(settings)
        async with second.router.lifespan_context(second):
            assert await second.state.bus.wait_connected(20)
            await push(second, long.events[cut:])

            async def both() -> list[CallRecorded] | None:
                calls = await calls_on(bootstrap)
                return calls if len({c.call_id for c in calls}) == 2 else None

            calls = await eventually(both, timeout=60, what="the call held across the restart")
        assert sorted(c.call_id for c in calls) == sorted(
            [f"asterisk:{done.events[0]['LinkedID']}", whole[0].call_id]
        )  # each once
        rebuilt = next(c for c in calls if c.call_id == whole[0].call_id)
        assert rebuilt.participants == whole[0].participants
        assert rebuilt.transfers == whole[0].transfers
        assert rebuilt.raw["complete"] is True


def assembler_of(app: FastAPI) -> CelAssembler:
    [worker] = [w for w in app.state.workers if isinstance(w, CelAssembler)]
    return worker


def owned(app: FastAPI) -> int:
    consumer = assembler_of(app).consumer
    return len(consumer.assignment()) if consumer is not None else 0


async def test_every_replica_runs_the_assembler_but_one_reads_all_partitions(
    tmp_path: Path,
) -> None:
    """Calls whose linkedids sit on different partitions stay whole with two replicas; when
    the active one goes, the stand-by takes the call it was holding over."""

    def pbx() -> Pbx:
        return Pbx(epoch=random.randrange(10**9, 2 * 10**9), tag=secrets.token_hex(3))

    traces = [SCENARIOS[name](pbx())[0] for name in ["attended_transfer", "pickup"] * 3]
    held, _ = SCENARIOS["attended_transfer"](pbx())
    cut = len(held.events) // 2
    async with private_broker(tmp_path) as bootstrap:
        settings = settings_for(bootstrap)
        rules = asterisk.rules_from(settings.options_for("asterisk"))
        policy, region = settings.phone_policy, settings.region_for("asterisk")
        wanted = {}
        for trace in [*traces, held]:
            parsed = cel.parse_batch(trace.events, ZoneInfo("UTC"), "x")
            (call,) = calls_from(parsed, rules, policy, region)
            wanted[call.call_id] = call
        apps = [create_app(settings), create_app(settings)]
        async with contextlib.AsyncExitStack() as stack:
            for app in apps:
                await stack.enter_async_context(app.router.lifespan_context(app))

            async def one_owns_all() -> bool:
                return sorted(owned(app) for app in apps) == [0, 3]

            await eventually(one_owns_all, timeout=60, what="one member owning every partition")
            for trace in traces:
                await push(apps[0], trace.events)
            await push(apps[1], held.events[:cut])
            first = {c.call_id for c in wanted.values()} - {
                f"asterisk:{held.events[0]['LinkedID']}"
            }

            async def first_calls() -> list[CallRecorded] | None:
                calls = await calls_on(bootstrap)
                return calls if {c.call_id for c in calls} == first else None

            await eventually(first_calls, timeout=60, what="the calls of both partitions")
            active = next(app for app in apps if owned(app) == 3)
            standby = next(app for app in apps if app is not active)
            await eventually(
                lambda: _committed_below(bootstrap, held.events), timeout=30, what="commit held"
            )
            await assembler_of(active).stop()  # the active replica goes away
            await eventually(lambda: _owns_all(standby), timeout=60, what="the stand-by takes over")
            await push(standby, held.events[cut:])

            async def all_calls() -> list[CallRecorded] | None:
                calls = await calls_on(bootstrap)
                return calls if {c.call_id for c in calls} == set(wanted) else None

            calls = await eventually(all_calls, timeout=60, what="the held call, whole")
        assert sorted(c.call_id for c in calls) == sorted(wanted)  # each once
        for call in calls:
            assert call.participants == wanted[call.call_id].participants
            assert call.raw["complete"] is True


async def _owns_all(app: FastAPI) -> bool:
    return owned(app) == 3


async def _committed_below(bootstrap: str, events: list[dict[str, object]]) -> bool:
    linked = {str(e["LinkedID"]).encode() for e in events}
    first: dict[int, int] = {}
    for record in await read_to_end(bootstrap, CALLS_CEL.name):
        if record.key in linked:
            first.setdefault(record.partition, record.offset)
    positions = await committed(bootstrap, GROUP_ID, CALLS_CEL.name)
    return bool(first) and all(positions[p] == offset for p, offset in first.items())
