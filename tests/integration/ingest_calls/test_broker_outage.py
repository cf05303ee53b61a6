"""ingest-calls against the real broker, including the broker going away and coming back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from ingest_calls.app import create_app
from ingest_calls.config import Settings
from support.broker import BrokerProcess, start_broker
from support.generic_webhook import signed_missed_call
from support.records import read_to_end
from switchboard_shared.admin import create_topics
from switchboard_shared.kafka import Bus
from switchboard_shared.settings import CommonSettings
from switchboard_shared.topics import CALLS_RECORDED

pytestmark = pytest.mark.integration
SECRET = "outage-test-secret-0123456789abcdef"


@contextlib.asynccontextmanager
async def running_app(bootstrap: str) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    settings = Settings(
        generic_hmac_secret=SECRET,
        common=CommonSettings(kafka_bootstrap=bootstrap, intake_publish_timeout_s=2.0),
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        bus: Bus = app.state.bus
        assert await bus.wait_connected(20), "ingest-calls did not connect to the broker"
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
            yield app, client


async def records_for(bootstrap: str, call_id: str) -> int:
    """Copies of the call on calls.recorded.v1: the whole topic, to its end (called once the
    app stopped: nothing it sent can land later)."""
    wanted = f"generic:{call_id}"
    records = await read_to_end(bootstrap, CALLS_RECORDED.name)
    return sum(1 for record in records if json.loads(record.value)["call_id"] == wanted)


async def retry_until_accepted(client: httpx.AsyncClient, call_id: str) -> httpx.Response:
    """What a provider does after a 503: the same call again (freshly signed) until accepted."""
    deadline = time.monotonic() + 60
    while True:
        body, headers = signed_missed_call(call_id, SECRET)
        response = await client.post("/webhooks/generic", content=body, headers=headers)
        if response.status_code != 503 or time.monotonic() > deadline:
            return response
        await asyncio.sleep(1)


async def test_unresponsive_broker_gets_503_and_the_retry_is_published_exactly_once(
    tmp_path: Path,
) -> None:
    """The broker stops answering (frozen, data kept) while a webhook is being published.

    A broker of its own: freezing the session's would stall every other test."""
    broker = start_broker(tmp_path / "broker.log")
    try:
        await _frozen_then_retried(broker)
    finally:
        broker.thaw()
        broker.stop()


async def _frozen_then_retried(broker: BrokerProcess) -> None:
    await create_topics(CommonSettings(kafka_bootstrap=broker.bootstrap))
    async with running_app(broker.bootstrap) as (_, client):
        call_id = f"frozen-{uuid.uuid4().hex[:8]}"
        body, headers = signed_missed_call(call_id, SECRET)
        broker.freeze()
        try:
            down = await client.post("/webhooks/generic", content=body, headers=headers)
        finally:
            broker.thaw()
        assert down.status_code == 503
        assert down.headers["retry-after"].isdigit()
        assert down.headers["content-type"] == "application/problem+json"

        retry = await retry_until_accepted(client, call_id)
        assert retry.status_code == 200, retry.text
        again = await client.post("/webhooks/generic", content=body, headers=headers)
        assert again.json()["accepted"][0]["outcome"] == "duplicate"
    assert await records_for(broker.bootstrap, call_id) == 1


async def test_stopped_broker_gets_503_not_ready_and_recovers(tmp_path: Path) -> None:
    broker = start_broker(tmp_path / "broker.log")
    port = broker.port
    try:
        await create_topics(CommonSettings(kafka_bootstrap=broker.bootstrap))
        async with running_app(broker.bootstrap) as (_, client):
            broker.stop()
            call_id = f"stopped-{uuid.uuid4().hex[:8]}"
            body, headers = signed_missed_call(call_id, SECRET)
            down = await client.post("/webhooks/generic", content=body, headers=headers)
            assert down.status_code == 503
            assert (await client.get("/readyz")).status_code == 503

            broker = start_broker(tmp_path / "broker-again.log", port=port)
            await create_topics(CommonSettings(kafka_bootstrap=broker.bootstrap))
            retry = await retry_until_accepted(client, call_id)
            assert retry.status_code == 200, retry.text
            assert (await client.get("/readyz")).status_code == 200
    finally:
        broker.stop()
