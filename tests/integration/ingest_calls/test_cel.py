"""Asterisk CEL through the real broker: pushed or read over AMI, assembled into one call each.

The session's ingest-calls app runs the assembler (group `ingest-calls-cel`); these tests feed
`calls.cel.v1` through its two doors and read `calls.recorded.v1` back to its end, so a call
published twice, or split in two, fails them. Each run uses unique ids and channel names.
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from ingest_calls.app import create_app
from ingest_calls.domain import asterisk, cel
from ingest_calls.domain.cel_assembly import calls_from
from integration.ingest_calls.webhooks import ASTERISK_TOKEN, settings_for
from support.cel_traces import SCENARIOS, Pbx
from support.conditions import eventually
from support.fake_ami import FakeAmi
from support.records import read_to_end
from switchboard_shared.cloudevents import decode
from switchboard_shared.events import CallRecorded, IngestRejected
from switchboard_shared.topics import CALLS_CEL, CALLS_RECORDED, INGEST_REJECTED

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.xdist_group("cel")]
AUTH = {"Authorization": f"Bearer {ASTERISK_TOKEN}", "Content-Type": "application/json"}


def fresh_pbx() -> Pbx:
    return Pbx(epoch=random.randrange(10**9, 2 * 10**9), tag=secrets.token_hex(3))


def expected(events: list[dict[str, Any]], settings: Any) -> list[CallRecorded]:
    parsed = cel.parse_batch(events, ZoneInfo("UTC"), "expected")
    rules = asterisk.rules_from(settings.options_for("asterisk"))
    return calls_from(parsed, rules, settings.phone_policy, settings.region_for("asterisk"))


async def recorded(bootstrap: str, call_ids: set[str]) -> list[CallRecorded]:
    found = []
    for record in await read_to_end(bootstrap, CALLS_RECORDED.name):
        _, data = decode(record.headers, record.value)
        if isinstance(data, CallRecorded) and data.call_id in call_ids:
            found.append(data)
    return found


def same_call(got: CallRecorded, want: CallRecorded) -> None:
    assert got.status == want.status
    assert got.direction == want.direction
    assert (got.from_, got.to, got.requested) == (want.from_, want.to, want.requested)
    assert got.participants == want.participants
    assert got.transfers == want.transfers
    assert got.talk_s == want.talk_s
    assert got.raw["complete"] is True


async def test_pushed_cel_of_every_scenario_becomes_one_call_each(
    client: httpx.AsyncClient, ingest_app: FastAPI, kafka_bootstrap: str
) -> None:
    settings = ingest_app.state.settings
    wanted: dict[str, CallRecorded] = {}
    for name, scenario in SCENARIOS.items():
        pbx, _ = scenario(fresh_pbx())
        (call,) = expected(pbx.events, settings)
        wanted[call.call_id] = call
        half = len(pbx.events) // 2
        for part in (pbx.events[:half], pbx.events[half:], pbx.events[:3]):  # with a retry
            answer = await client.post(
                "/webhooks/asterisk-cel", content=json.dumps(part), headers=AUTH
            )
            assert answer.status_code == 200, (name, answer.text)
    got = await eventually(
        lambda: _all_of(kafka_bootstrap, set(wanted)), timeout=60, what="every call assembled"
    )
    assert sorted(c.call_id for c in got) == sorted(wanted)  # once each
    for call in got:
        same_call(call, wanted[call.call_id])


async def _all_of(bootstrap: str, ids: set[str]) -> list[CallRecorded] | None:
    found = await recorded(bootstrap, ids)
    return found if {c.call_id for c in found} == ids else None


async def test_raw_cel_is_keyed_by_linkedid_and_a_retry_is_not_published_again(
    client: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    pbx, _ = SCENARIOS["busy"](fresh_pbx())
    for _ in range(2):
        answer = await client.post(
            "/webhooks/asterisk-cel", content=json.dumps(pbx.events), headers=AUTH
        )
        assert answer.status_code == 200
    assert answer.json()["duplicates"] == len(pbx.events)
    linked = pbx.events[0]["LinkedID"]
    mine = [
        r for r in await read_to_end(kafka_bootstrap, CALLS_CEL.name) if r.key == linked.encode()
    ]
    assert len(mine) == len(pbx.events)


async def test_cel_push_refuses_a_wrong_token_and_keeps_malformed_events(
    client: httpx.AsyncClient,
) -> None:
    pbx, _ = SCENARIOS["busy"](fresh_pbx())
    wrong = {**AUTH, "Authorization": "Bearer not-the-token-at-all-00000"}
    answer = await client.post(
        "/webhooks/asterisk-cel", content=json.dumps(pbx.events), headers=wrong
    )
    assert answer.status_code == 401
    broken = [{**pbx.events[0], "LinkedID": ""}]
    answer = await client.post("/webhooks/asterisk-cel", content=json.dumps(broken), headers=AUTH)
    assert answer.status_code == 422
    assert answer.json()["field"] == "[0].LinkedID"
    assert answer.json()["rejected_event_id"]


@pytest_asyncio.fixture(loop_scope="session")
async def ami_server() -> AsyncIterator[FakeAmi]:
    server = FakeAmi(username="switchboard", secret="s3cret-" + secrets.token_hex(8))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def ami_time(event: dict[str, Any]) -> dict[str, Any]:
    """cel_manager writes EventTime as local time to the second (the PBX here runs in UTC)."""
    when = datetime.fromtimestamp(float(event["EventTime"]), UTC)
    return {**event, "EventTime": when.strftime("%Y-%m-%d %H:%M:%S")}


async def test_ami_events_survive_a_disconnect_mid_call_and_give_the_same_calls(
    ami_server: FakeAmi, ingest_app: FastAPI, kafka_bootstrap: str
) -> None:
    """`ingest_app` (the session's) assembles; this app only reads AMI and publishes."""
    settings = ingest_app.state.settings
    wanted: dict[str, CallRecorded] = {}
    for scenario in SCENARIOS.values():
        pbx, _ = scenario(fresh_pbx())
        events = [ami_time(e) for e in pbx.events]
        (call,) = expected(events, settings)
        wanted[call.call_id] = call
        ami_server.events.extend(events)
    broken = {
        "EventName": "CHAN_START",
        "EventTime": "2026-03-02 09:00:00",
        "UniqueID": f"broken-{secrets.token_hex(4)}",
    }  # no LinkedID
    ami_server.events.insert(5, broken)
    # The first connection drops in the middle of a call; the second, at once too.
    ami_server.drop_after = [len(ami_server.events) // 3, 7]
    url = f"tcp://{ami_server.username}:{ami_server.secret}@127.0.0.1:{ami_server.port}"
    reader = create_app(settings_for(kafka_bootstrap, asterisk_ami_url=url, cel_assembler=False))
    async with reader.router.lifespan_context(reader):
        got = await eventually(
            lambda: _all_of(kafka_bootstrap, set(wanted)), timeout=120, what="AMI calls"
        )
    assert ami_server.connections >= 3
    assert ami_server.sent == len(ami_server.events)
    assert {login["Events"] for login in ami_server.logins} == {"call"}
    assert sorted(c.call_id for c in got) == sorted(wanted)
    for call in got:
        same_call(call, wanted[call.call_id])
    kept = []
    for record in await read_to_end(kafka_bootstrap, INGEST_REJECTED.name):
        _, data = decode(record.headers, record.value)
        if isinstance(data, IngestRejected) and broken["UniqueID"] in data.body:
            kept.append(data)
    assert [(k.source, k.detail) for k in kept] == [
        ("ingest-calls/asterisk-ami", "LinkedID is missing")
    ]


async def test_ami_login_refused_is_not_a_session(ami_server: FakeAmi) -> None:
    from ingest_calls.ami import AmiClient, LoginRefused
    from ingest_calls.config import ami_target

    target = ami_target(f"tcp://switchboard:wrong-secret@127.0.0.1:{ami_server.port}")
    client = AmiClient(target, publisher=None, zone=ZoneInfo("UTC"))  # type: ignore[arg-type]
    with pytest.raises(LoginRefused, match="Authentication failed"):
        await client.session()
    assert client.sessions == 0


async def test_rejected_cel_is_replayed_into_the_assembler(
    ingest_app: FastAPI, kafka_bootstrap: str
) -> None:
    """CEL kept on ingest.rejected.v1 (by an older version, say) is published again by
    `make replay-rejected`, a push as its array and an AMI message as its block."""
    from ingest_calls.ami import AMI_MEDIA_TYPE, REJECTED_SOURCE
    from ingest_calls.replay import replay
    from support.fake_ami import block

    settings = ingest_app.state.settings
    publisher = ingest_app.state.publisher
    pbx, _ = SCENARIOS["busy"](fresh_pbx())
    (call,) = expected(pbx.events, settings)
    pushed, last = pbx.events[:-1], pbx.events[-1]
    await publisher.reject(
        "asterisk-cel", "invalid_payload", "old", "application/json", json.dumps(pushed).encode()
    )
    await publisher.reject(
        REJECTED_SOURCE, "invalid_payload", "old", AMI_MEDIA_TYPE, block({"Event": "CEL", **last})
    )
    for source in ("asterisk-cel", REJECTED_SOURCE):
        report = await replay(settings, provider=source)
        assert report.replayed >= 1  # (other tests' rejects, still invalid, are there too)
    got = await eventually(
        lambda: _all_of(kafka_bootstrap, {call.call_id}), timeout=60, what="the replayed call"
    )
    same_call(got[0], call)
