"""Asterisk channel events through every service: a ring group nobody answered asks for one
callback, not one per phone; one a colleague answered asks nobody to call back."""

from __future__ import annotations

import json
import random
import secrets
import uuid
from typing import Any

import httpx
import pytest

from e2e.test_walking_skeleton import activities, eventually
from support.cel_traces import CLIENT, SCENARIOS, Pbx
from support.stack import ASTERISK_TOKEN, Stack

pytestmark = pytest.mark.e2e
AUTH = {"Authorization": f"Bearer {ASTERISK_TOKEN}", "Content-Type": "application/json"}


def from_number(name: str, number: str) -> list[dict[str, Any]]:
    """The scenario's events, the client calling from `number`."""
    pbx = Pbx(epoch=random.randrange(10**9, 2 * 10**9), tag=secrets.token_hex(3))
    events, _ = SCENARIOS[name](pbx)
    return [
        {k: (number if v == CLIENT else v) for k, v in event.items()} for event in events.events
    ]


async def push(stack: Stack, events: list[dict[str, Any]]) -> None:
    async with httpx.AsyncClient(base_url=stack.url("ingest_calls")) as client:
        answer = await client.post(
            "/webhooks/asterisk-cel", content=json.dumps(events), headers=AUTH
        )
    assert answer.status_code == 200, answer.text


def new_number() -> str:
    return f"+1415555{uuid.uuid4().int % 10_000:04d}"


async def test_a_ring_group_nobody_answered_opens_one_callback(stack: Stack) -> None:
    number = new_number()
    await push(stack, from_number("ring_group_missed", number))

    async def callbacks() -> list[dict[str, Any]]:
        return [a for a in await activities(stack) if a.get("counterpart") == number]

    [activity] = await eventually(callbacks, timeout=60)
    assert (activity["kind"], activity["count"]) == ("callback", 1)


async def test_a_ring_group_a_colleague_answered_asks_nobody_to_call_back(stack: Stack) -> None:
    """The call is one event: the activity it opens (a person talked to an unknown number: pick
    an outcome) is all it opens."""
    number = new_number()
    await push(stack, from_number("ring_group", number))

    async def opened() -> list[dict[str, Any]]:
        return [a for a in await activities(stack) if a.get("counterpart") == number]

    found = await eventually(opened, timeout=60)
    assert "callback" not in [a["kind"] for a in found]
