"""A frozen broker (SIGSTOP: its sockets stay open, nothing answers), as in a stall.

A provider's webhook is answered 503 within 3 s (it used to hang 10 s), every service's
`*_broker_up` reads 0 within 5 s without anyone calling /readyz, `/healthz` stays answered;
after the broker wakes up the gauges come back, the provider's retry is accepted and the call
is stored once. (Runs last in the tier: conftest orders it so.)
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest

from security.conftest import Besiege
from security.harness import metric, read_topic
from support.broker import BrokerProcess
from support.conditions import blocking_until
from support.generic_webhook import signed_missed_call
from support.stack import ADMIN_TOKEN, GENERIC_SECRET, Stack
from switchboard_shared.topics import CALLS_RECORDED

pytestmark = pytest.mark.security

GAUGES = {
    "ingest_calls": "ingest_calls_broker_up",
    "ingest_mail": "ingest_mail_broker_up",
    "classifier": "classifier_broker_up",
    "crm_store": "crm_store_broker_up",
}


def webhook(stack: Stack, call_id: str, number: str) -> tuple[httpx.Response, float]:
    body, headers = signed_missed_call(call_id, GENERIC_SECRET, caller=number)
    started = time.monotonic()
    response = httpx.post(
        f"{stack.url('ingest_calls')}/webhooks/generic", content=body, headers=headers, timeout=30
    )
    return response, time.monotonic() - started


def broker_up(stack: Stack) -> dict[str, float]:
    """Each service's gauge, from /metrics only (never /readyz, which would probe)."""
    return {s: metric(stack.services[s].port, gauge) for s, gauge in GAUGES.items()}


def callbacks_for(stack: Stack, number: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{stack.url('crm_store')}/api/v1/activities",
        params={"kind": "callback", "limit": "200"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return [a for a in response.json()["items"] if a.get("counterpart") == number]


def test_a_stalled_broker_is_refused_fast_and_seen_down_then_recovers(
    stack: Stack, stack_broker: BrokerProcess, siege: Besiege
) -> None:
    blocking_until(lambda: set(broker_up(stack).values()) == {1.0}, "every broker_up reads 1", 15)
    call_id = f"stall-{uuid.uuid4().hex[:8]}"
    number = f"+1415555{uuid.uuid4().int % 10_000:04d}"
    with siege("broker frozen (SIGSTOP)") as measured:
        stack_broker.freeze()
        try:
            frozen = time.monotonic()
            down, took = webhook(stack, call_id, number)
            assert down.status_code == 503, down.text
            assert took < 3, f"503 after {took:.2f}s"
            assert down.headers["retry-after"].isdigit()
            measured.notes["first_503_s"] = round(took, 2)

            blocking_until(lambda: set(broker_up(stack).values()) == {0.0}, "every broker_up 0", 5)
            measured.notes["all_broker_up_0_s"] = round(time.monotonic() - frozen, 2)
            again, took = webhook(stack, call_id, number)
            assert again.status_code == 503
            assert took < 1, f"the retry waited {took:.2f}s while the broker is known down"
        finally:
            stack_broker.thaw()
        woke = time.monotonic()
        blocking_until(
            lambda: set(broker_up(stack).values()) == {1.0}, "every broker_up 1 again", 15
        )
        measured.notes["all_broker_up_1_s"] = round(time.monotonic() - woke, 2)
    measured.check()

    answers: list[httpx.Response] = []

    def retried() -> bool:
        answers.append(webhook(stack, call_id, number)[0])
        return answers[-1].status_code != 503

    blocking_until(retried, "the provider's retry is accepted", 20)
    assert answers[-1].status_code == 200, answers[-1].text

    [callback] = blocking_until(lambda: callbacks_for(stack, number), "the call is stored", 30)
    assert callback["count"] == 1, f"the call was counted twice: {callback}"

    wanted = f"generic:{call_id}"
    records = read_topic(
        stack.env["SWITCHBOARD_KAFKA_BOOTSTRAP"],
        CALLS_RECORDED.name,
        lambda records: any(json.loads(r.value)["call_id"] == wanted for r in records),
    )
    copies = sum(1 for r in records if json.loads(r.value)["call_id"] == wanted)
    assert copies == 1, f"{copies} records of the call on {CALLS_RECORDED.name}"
