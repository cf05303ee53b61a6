"""ingest-calls as a process on a broker of its own, which the tests freeze (SIGSTOP).

What a provider and an operator see: a webhook answers 503 within the publish deadline and the
next ones at once; `ingest_calls_broker_up` drops to 0 with nobody calling /readyz; after the
broker wakes up the retried call is accepted and is on the topic exactly once. And the lag of
the classifier's group on calls.recorded.v1 is visible from ingest-calls while no classifier
runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from support.broker import BrokerProcess, start_broker
from support.conditions import blocking_until
from support.generic_webhook import signed_missed_call
from support.ports import free_port
from switchboard_shared.admin import create_topics
from switchboard_shared.settings import CommonSettings
from switchboard_shared.topics import CALLS_RECORDED

pytestmark = pytest.mark.integration
SECRET = "stall-test-secret-0123456789abcdef"


class IngestCalls:
    def __init__(self, url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.url = url
        self.process = process
        self.log_path = log_path
        self.http = httpx.Client(base_url=url, timeout=30)

    def post(self, call_id: str) -> tuple[httpx.Response, float]:
        body, headers = signed_missed_call(call_id, SECRET)
        start = time.monotonic()
        response = self.http.post("/webhooks/generic", content=body, headers=headers)
        return response, time.monotonic() - start

    def metric(self, name: str, **labels: str) -> float | None:
        """A sample of /metrics (never /readyz, which would probe the broker itself)."""
        text = self.http.get("/metrics").text
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "")
        match = re.search(rf"^{pattern} (\S+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else None

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    broker = start_broker(tmp_path / "broker.log")
    try:
        yield broker
    finally:
        broker.thaw()  # never leave it frozen
        broker.stop()


@pytest.fixture
def ingest(own_broker: BrokerProcess, tmp_path: Path) -> Iterator[IngestCalls]:
    asyncio.run(create_topics(CommonSettings(kafka_bootstrap=own_broker.bootstrap)))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "INGEST_"))}
    env.update(
        {
            "SWITCHBOARD_KAFKA_BOOTSTRAP": own_broker.bootstrap,
            "SWITCHBOARD_CONSUMER_LAG_INTERVAL_S": "0.5",
            "INGEST_CALLS_PORT": str(port),
            "INGEST_CALLS_GENERIC_HMAC_SECRET": SECRET,
        }
    )
    log_path = tmp_path / "ingest-calls.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "ingest_calls"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    service = IngestCalls(f"http://127.0.0.1:{port}", process, log_path)
    try:

        def ready() -> bool:
            assert process.poll() is None, service.log_tail()
            try:
                return service.http.get("/readyz").status_code == 200
            except httpx.HTTPError:
                return False

        blocking_until(ready, "ingest-calls ready", 30)
        yield service
    finally:
        service.http.close()
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def count_records(bootstrap: str, call_id: str) -> int:
    """Every record of this call on calls.recorded.v1, duplicates included."""

    async def count() -> int:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            numbers = consumer.partitions_for_topic(CALLS_RECORDED.name) or set()
            partitions = [TopicPartition(CALLS_RECORDED.name, n) for n in sorted(numbers)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            wanted, found = f"generic:{call_id}", 0
            deadline = time.monotonic() + 20
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                assert time.monotonic() < deadline, "could not read the topic to its end"
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    found += sum(1 for r in records if json.loads(r.value)["call_id"] == wanted)
            return found
        finally:
            await consumer.stop()

    return asyncio.run(count())


def test_a_stalled_broker_is_seen_in_the_background_and_webhooks_fail_fast(
    own_broker: BrokerProcess, ingest: IngestCalls
) -> None:
    assert ingest.metric("ingest_calls_broker_up") == 1.0
    call_id = f"stall-{uuid.uuid4().hex[:8]}"
    own_broker.freeze()
    try:
        frozen = time.monotonic()
        blocking_until(
            lambda: ingest.metric("ingest_calls_broker_up") == 0.0, "broker_up reads 0", 5
        )
        assert time.monotonic() - frozen < 5
        for attempt in range(3):  # the breaker is open: each answered at once
            down, took = ingest.post(f"{call_id}-{attempt}")
            assert down.status_code == 503, down.text
            assert down.headers["retry-after"].isdigit()
            assert took < 0.5, f"503 after {took:.2f}s while the broker is known down"
    finally:
        own_broker.thaw()
    blocking_until(lambda: ingest.metric("ingest_calls_broker_up") == 1.0, "broker_up reads 1", 10)
    accepted, _ = ingest.post(f"{call_id}-0")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["accepted"][0]["outcome"] == "published"
    assert count_records(own_broker.bootstrap, f"{call_id}-0") == 1


def test_a_webhook_caught_in_a_stall_answers_503_in_time_and_its_retry_is_stored_once(
    own_broker: BrokerProcess, ingest: IngestCalls
) -> None:
    call_id = f"caught-{uuid.uuid4().hex[:8]}"
    own_broker.freeze()
    try:
        down, took = ingest.post(call_id)  # sent before anything knows the broker froze
        assert down.status_code == 503, down.text
        assert took < 3, f"503 after {took:.2f}s"
        assert down.headers["content-type"] == "application/problem+json"
        again, took = ingest.post(call_id)  # the provider's retry, still in the stall
        assert again.status_code == 503
        assert took < 0.5, f"the retry waited {took:.2f}s while the broker is known down"
    finally:
        own_broker.thaw()

    answers: list[httpx.Response] = []

    def retried() -> bool:
        answers.append(ingest.post(call_id)[0])
        return answers[-1].status_code != 503

    blocking_until(retried, "the retry is accepted", 20)
    assert answers[-1].status_code == 200, answers[-1].text
    # The send made in the stall was written when the broker woke; the retry did not add one.
    assert count_records(own_broker.bootstrap, call_id) == 1


def test_the_classifier_groups_lag_grows_while_no_classifier_runs(
    own_broker: BrokerProcess, ingest: IngestCalls
) -> None:
    def lag() -> float | None:
        return ingest.metric(
            "ingest_calls_downstream_lag", group="classifier", topic=CALLS_RECORDED.name
        )

    blocking_until(lambda: lag() == 0.0, "lag is reported, 0 on a fresh broker", 10)
    base = 0
    for n in range(3):
        assert ingest.post(f"lag-{uuid.uuid4().hex[:8]}-{n}")[0].status_code == 200
    blocking_until(lambda: lag() == base + 3, "lag grows by 3", 10)
    for n in range(2):
        assert ingest.post(f"lag-{uuid.uuid4().hex[:8]}-{n}")[0].status_code == 200
    blocking_until(lambda: lag() == base + 5, "lag grows by 5", 10)

    async def catch_up() -> None:  # the classifier's group reads everything and commits
        consumer = AIOKafkaConsumer(
            CALLS_RECORDED.name,
            bootstrap_servers=own_broker.bootstrap,
            group_id="classifier",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            seen = 0
            deadline = time.monotonic() + 20
            while seen < base + 5 and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                seen += sum(len(records) for records in batch.values())
            await consumer.commit()
        finally:
            await consumer.stop()

    asyncio.run(catch_up())
    blocking_until(lambda: lag() == 0.0, "lag drops to 0 once the group caught up", 10)
