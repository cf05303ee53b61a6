"""Asterisk channel events through every service: a ring group nobody answered asks for one
callback, not one per phone, for the group's owner; one a colleague answered asks nobody to call
back; a transferred call's outcome is for whoever talked last."""

from __future__ import annotations

import json
import random
import secrets
import uuid
from typing import Any

import httpx
import pytest

from e2e.test_walking_skeleton import ADMIN, eventually, for_number
from support.cel_traces import CLIENT, SCENARIOS, Pbx
from support.stack import ASTERISK_TOKEN, GROUP_OWNER, Stack

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


TEAM = {"cel-101@acme-corp.com": ["101"], "cel-102@acme-corp.com": ["102"], GROUP_OWNER: []}


async def team(stack: Stack) -> dict[str, str]:
    """Manager ids by e-mail: extensions 101 and 102, and ring group 600's owner (the stack's
    CRM_STORE_GROUP_OWNERS), created once per stack."""
    async with httpx.AsyncClient(base_url=stack.url("crm_store"), headers=ADMIN) as client:
        listed = await client.get("/api/v1/managers")
        assert listed.status_code == 200, listed.text
        ids = {m["email"]: m["id"] for m in listed.json()}
        for email, extensions in TEAM.items():
            if email not in ids:
                body = {"name": email.split("@")[0], "email": email, "extensions": extensions}
                created = await client.post("/api/v1/managers", json=body)
                assert created.status_code == 201, created.text
                ids[email] = created.json()["id"]
    return ids


def new_number() -> str:
    return f"+1415555{uuid.uuid4().int % 10_000:04d}"


async def test_a_ring_group_nobody_answered_opens_one_callback_for_the_group_s_owner(
    stack: Stack,
) -> None:
    ids = await team(stack)
    number = new_number()
    await push(stack, from_number("ring_group_missed", number))

    [activity] = await eventually(for_number(stack, number), timeout=60)
    assert (activity["kind"], activity["count"]) == ("callback", 1)
    assert activity["assignee_id"] == ids[GROUP_OWNER]


async def test_a_ring_group_a_colleague_answered_asks_nobody_to_call_back(stack: Stack) -> None:
    """The call is one event: the activity it opens (a person talked to an unknown number: pick
    an outcome) is all it opens."""
    number = new_number()
    await push(stack, from_number("ring_group", number))

    found = await eventually(for_number(stack, number), timeout=60)
    assert "callback" not in [a["kind"] for a in found]


async def test_a_transferred_call_s_outcome_is_for_whoever_talked_last(stack: Stack) -> None:
    """101 answers, consults 102 and hands the client over: 102 finished the conversation."""
    ids = await team(stack)
    number = new_number()
    await push(stack, from_number("attended_transfer", number))

    async def outcome() -> list[dict[str, Any]]:
        return [a for a in await for_number(stack, number)() if a["kind"] == "log_outcome"]

    [activity] = await eventually(outcome, timeout=60)
    assert activity["assignee_id"] == ids["cel-102@acme-corp.com"]
