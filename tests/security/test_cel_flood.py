"""Channel events for calls that never end, from a PBX gone wrong or a leaked token: the
assembler holds a bounded number of them (`INGEST_CALLS_CEL_MAX_HELD_EVENTS`, set low for this
stack) and gives up the quietest calls as they stand, instead of growing until the process dies;
every service stays healthy meanwhile. The calls given up flow on like any others, so the test
ends when the classifier and crm-store have caught up, not to disturb the next attack."""

from __future__ import annotations

import functools
import json
import re
import secrets

import httpx
import pytest

from security.conftest import CEL_MAX_HELD_EVENTS, Besiege
from support.conditions import eventually
from support.offsets import committed, end_offsets
from support.stack import ASTERISK_TOKEN, Stack
from switchboard_shared.topics import CALLS_RECORDED, INTERACTIONS_CLASSIFIED

pytestmark = pytest.mark.security
REQUESTS = 4
PER_REQUEST = 1500  # ~900 kB: under the 1 MiB body limit
AUTH = {"Authorization": f"Bearer {ASTERISK_TOKEN}", "Content-Type": "application/json"}


def opened_calls(run: str, request: int) -> bytes:
    """CHAN_STARTs of calls that never end, each a linkedid of its own."""
    events = []
    for n in range(PER_REQUEST):
        linked = f"{run}.{request}.{n}"
        events.append(
            {
                "EventName": "CHAN_START",
                "EventTime": "1772442000.000000",
                "CallerIDnum": "+493012345678",
                "Exten": "+4930555000",
                "Context": "from-trunk",
                "Channel": f"PJSIP/trunk-{run}{request:04x}{n:04x}",
                "UniqueID": linked,
                "LinkedID": linked,
                "AppData": "x" * 200,
            }
        )
    return json.dumps(events).encode()


async def evicted(stack: Stack) -> float:
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"{stack.url('ingest_calls')}/metrics")).text
    found = re.search(r'^ingest_calls_cel_calls_total\{outcome="evicted"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_calls_that_never_end_cost_bounded_memory(stack: Stack, siege: Besiege) -> None:
    run = secrets.token_hex(3)
    before = await evicted(stack)
    with siege(f"{REQUESTS * PER_REQUEST} CEL events of calls that never end") as measured:
        async with httpx.AsyncClient(base_url=stack.url("ingest_calls"), timeout=60) as client:
            for request in range(REQUESTS):
                answer = await client.post(
                    "/webhooks/asterisk-cel", content=opened_calls(run, request), headers=AUTH
                )
                assert answer.status_code in (200, 503), answer.text
        # Held: up to the bound; the rest built as they stand (and published as calls).
        flood = REQUESTS * PER_REQUEST - CEL_MAX_HELD_EVENTS
        await eventually(lambda: _more(stack, before + flood), timeout=120, what="calls given up")
        measured.notes["evicted"] = int(await evicted(stack) - before)
        bootstrap = stack.env["SWITCHBOARD_KAFKA_BOOTSTRAP"]
        for group, topic in (
            ("classifier", CALLS_RECORDED),
            ("crm-store", INTERACTIONS_CLASSIFIED),
        ):
            await eventually(
                functools.partial(_caught_up, bootstrap, group, topic.name),
                timeout=180,
                what=f"{group} caught up",
            )
    measured.check()


async def _more(stack: Stack, at_least: float) -> bool:
    return await evicted(stack) >= at_least


async def _caught_up(bootstrap: str, group: str, topic: str) -> bool:
    # At or past the end: the development broker's end offsets can run behind the records a
    # batched produce wrote, never ahead of them; an empty partition has no commit (-1).
    ends = await end_offsets(bootstrap, topic)
    done = await committed(bootstrap, group, topic)
    return all(max(done.get(partition, 0), 0) >= end for partition, end in ends.items())
