"""The CEL assembler restarted in the middle of a call loses nothing: it committed only below
the call's first event, re-reads it and emits the call once, whole. On a broker of its own:
the session's assembler must not take part."""

from __future__ import annotations

import json
import random
import secrets
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI

from ingest_calls.app import create_app
from ingest_calls.cel_assembler import GROUP_ID
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
