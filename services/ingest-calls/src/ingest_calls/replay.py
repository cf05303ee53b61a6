"""Replay rejected call records after a fix: `python -m ingest_calls.replay`.

`make replay-rejected` runs it.

Reads `ingest.rejected.v1` from the beginning up to its current end, parses every record that
ingest-calls rejected again with today's adapters and publishes what now parses. Signatures
are not checked again: the records were authenticated when they arrived. Event ids are
deterministic, so replaying twice publishes nothing new for consumers.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import sys
from dataclasses import dataclass, field
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition

from ingest_calls import ami
from ingest_calls.config import Settings
from ingest_calls.domain import asterisk, cel
from ingest_calls.domain.calls import CallEvent
from ingest_calls.domain.errors import InvalidPayload
from ingest_calls.domain.request import Context, WebhookRequest
from ingest_calls.metrics import METRICS
from ingest_calls.providers import PROVIDERS
from ingest_calls.publisher import CallPublisher
from switchboard_shared.cloudevents import CloudEventError, decode
from switchboard_shared.events import CelEvent, IngestRejected
from switchboard_shared.kafka import Bus
from switchboard_shared.logging import configure_logging
from switchboard_shared.topics import INGEST_REJECTED

log = logging.getLogger(__name__)
SOURCE_PREFIX = "ingest-calls/"
CEL_SOURCES = ("asterisk-cel", "asterisk-ami")


@dataclass
class Report:
    read: int = 0
    replayed: int = 0
    events: int = 0
    still_invalid: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)


async def rejected_records(bootstrap: str) -> list[IngestRejected]:
    """Every rejected record on the topic now (no consumer group: nothing is committed)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(INGEST_REJECTED.name) or set()
        assigned = [TopicPartition(INGEST_REJECTED.name, p) for p in sorted(partitions)]
        if not assigned:
            return []
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        out: list[IngestRejected] = []
        while await _behind(consumer, assigned, ends):
            batch = await consumer.getmany(*assigned, timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    try:
                        _, event = decode(record.headers, record.value)
                    except CloudEventError as exc:
                        log.warning("skipping an undecodable record", extra={"error": str(exc)})
                        continue
                    if isinstance(event, IngestRejected):
                        out.append(event)
        return out
    finally:
        await consumer.stop()


async def _behind(
    consumer: AIOKafkaConsumer, assigned: list[TopicPartition], ends: dict[TopicPartition, int]
) -> bool:
    for tp in assigned:
        if await consumer.position(tp) < ends[tp]:
            return True
    return False


def to_request(rejected: IngestRejected) -> WebhookRequest:
    body = (
        base64.b64decode(rejected.body)
        if rejected.body_encoding == "base64"
        else rejected.body.encode("utf-8")
    )
    content_type = rejected.content_type or ""
    return WebhookRequest(
        method="POST",
        url="",
        headers={"content-type": content_type},
        body=body,
        content_type=content_type,
    )


def cel_of(name: str, rejected: IngestRejected, settings: Settings) -> list[CelEvent]:
    """The CEL events of a rejected push (a JSON array) or AMI message (one `Key: Value` block)."""
    zone = asterisk.zone_of(settings.options_for("asterisk"))
    request = to_request(rejected)
    if name == ami.REJECTED_SOURCE:
        try:
            fields = ami.parse_message(request.body)
        except ami.AmiError as exc:
            raise InvalidPayload(str(exc)) from exc
        return [cel.to_event(fields, zone, "replay")]
    return cel.parse_batch(request.json(), zone, "push")


async def replay(
    settings: Settings,
    *,
    since: datetime | None = None,
    provider: str | None = None,
    dry_run: bool = False,
) -> Report:
    report = Report()
    bus = Bus(settings.common, client_id="ingest-calls-replay", metrics=METRICS)
    publisher = CallPublisher(bus, settings.dedupe_window)
    if not dry_run:
        await bus.start()
        if not await bus.wait_connected(30):
            raise SystemExit(f"cannot reach Kafka at {settings.common.kafka_bootstrap}")
    try:
        for rejected in await rejected_records(settings.common.kafka_bootstrap):
            report.read += 1
            name = rejected.source.removeprefix(SOURCE_PREFIX)
            adapter = PROVIDERS.get(name)
            if (
                not rejected.source.startswith(SOURCE_PREFIX)
                or (adapter is None and name not in CEL_SOURCES)
                or (provider and name != provider)
                or (since and rejected.received_at < since)
            ):
                report.skipped += 1
                continue
            if rejected.truncated:
                report.still_invalid += 1
                report.failures.append(f"{name}: only the first bytes were kept (too large)")
                continue
            calls: list[CallEvent] = []
            cel_events: list[CelEvent] = []
            try:
                if adapter is None:  # raw CEL events, for the assembler
                    cel_events = cel_of(name, rejected, settings)
                else:
                    ctx = Context(
                        secret="",
                        region=settings.region_for(name),
                        options=settings.options_for(name),
                    )
                    calls = adapter.parse(to_request(rejected), ctx, settings.phone_policy)
            except InvalidPayload as exc:
                report.still_invalid += 1
                report.failures.append(f"{name}: {exc.detail}")
                continue
            report.replayed += 1
            report.events += len(calls) + len(cel_events)
            if not dry_run:
                for event in calls:
                    await publisher.publish(event)
                if cel_events:
                    await publisher.publish_cel(cel_events, name)
    finally:
        if not dry_run:
            await bus.stop()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest_calls.replay", description=__doc__)
    parser.add_argument("--since", type=datetime.fromisoformat, help="only records received since")
    parser.add_argument("--provider", help="only this provider's records")
    parser.add_argument("--dry-run", action="store_true", help="parse, but publish nothing")
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging("ingest-calls-replay", settings.common.log_level, "text")
    report = asyncio.run(
        replay(settings, since=args.since, provider=args.provider, dry_run=args.dry_run)
    )
    for failure in report.failures:
        sys.stdout.write(f"still invalid: {failure}\n")
    sys.stdout.write(
        f"read {report.read} rejected records: {report.replayed} replayed "
        f"({report.events} events{' not published: dry run' if args.dry_run else ''}), "
        f"{report.still_invalid} still invalid, {report.skipped} not ours or filtered out\n"
    )
    return 1 if report.still_invalid else 0


if __name__ == "__main__":
    sys.exit(main())
