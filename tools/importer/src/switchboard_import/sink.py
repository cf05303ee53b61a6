"""Where imported events go: the history topics, in produce batches, acks=all.

`send` returns only once the broker acknowledged every record of the batch, which is what lets
the caller move its checkpoint. A broker that stops answering is waited for (with backoff) up
to `patience_s`, then `BrokerUnavailable` ends the import; the checkpoint still holds the last
acknowledged row, so a re-run resumes there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence

from switchboard_import import __version__
from switchboard_shared.cloudevents import KafkaRecord
from switchboard_shared.intake import RecentIds
from switchboard_shared.kafka import BrokerUnavailable, Bus
from switchboard_shared.metrics import ServiceMetrics
from switchboard_shared.settings import CommonSettings

log = logging.getLogger(__name__)

CLIENT_ID = "switchboard-import"
_METRICS: ServiceMetrics | None = None


def metrics() -> ServiceMetrics:
    global _METRICS
    if _METRICS is None:
        _METRICS = ServiceMetrics.create("switchboard_import", __version__)
    return _METRICS


def first_sends(
    pairs: Iterable[tuple[KafkaRecord, str]], recent: RecentIds
) -> tuple[list[KafkaRecord], int]:
    """The records whose ce_id this run has not sent yet (a row repeated in a file, a message
    in two folders), and how many were repeats."""
    fresh: list[KafkaRecord] = []
    repeats = 0
    for record, ce_id in pairs:
        if ce_id in recent:
            repeats += 1
            continue
        recent.add(ce_id)
        fresh.append(record)
    return fresh, repeats


class Sink:
    def __init__(
        self, settings: CommonSettings, *, patience_s: float = 120.0, timeout_s: float = 30.0
    ) -> None:
        self.bus = Bus(settings, client_id=CLIENT_ID, metrics=metrics(), publishes=())
        self.patience_s = patience_s
        self.timeout_s = timeout_s

    async def start(self, connect_timeout_s: float = 30.0) -> None:
        await self.bus.start()
        if not await self.bus.wait_connected(connect_timeout_s):
            await self.bus.stop()
            raise BrokerUnavailable(
                f"no Kafka broker at {self.bus.bootstrap} after {connect_timeout_s:g} s"
            )

    async def stop(self) -> None:
        await self.bus.stop()

    async def send(self, records: Sequence[KafkaRecord]) -> None:
        """All of `records` acknowledged, in order, or BrokerUnavailable."""
        rest = list(records)
        deadline = time.monotonic() + self.patience_s
        delay = 0.2
        while rest:
            try:
                acked = await self.bus.publish_batch(rest, self.timeout_s)
            except BrokerUnavailable:
                acked = 0
            rest = rest[acked:]
            if not rest:
                return
            if time.monotonic() > deadline:
                raise BrokerUnavailable(
                    f"the broker did not acknowledge {len(rest)} record(s) "
                    f"within {self.patience_s:g} s"
                )
            log.warning("broker did not acknowledge a batch; retrying", extra={"left": len(rest)})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
