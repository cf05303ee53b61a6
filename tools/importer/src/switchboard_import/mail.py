"""Importing mail: items from a source, parsed by ingest-mail's parser pool, published in order.

Every message is parsed as the live intake parses it (`ingest_mail.parsing.ParserPool`: the
same caps, worker processes a hostile message can only kill), gets the live id
(`mail_event_id`: mailbox + Message-ID), is marked `historical` and goes to
`mail.received.history.v1`. Messages are parsed a batch at a time, in parallel, and published
in source order; the checkpoint takes the position of the last message of an acknowledged batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

from ingest_mail.domain.parse import MailboxIdentity, UnparseableMessage
from ingest_mail.parsing import ParserPool
from ingest_mail.publisher import SOURCE, mail_event_id
from switchboard_import.checkpoint import Checkpoint, CheckpointStore, Counts
from switchboard_import.mailsources import Item
from switchboard_import.progress import Meter
from switchboard_import.report import Rejected, Report
from switchboard_import.sink import Sink, first_sends
from switchboard_shared.cloudevents import KafkaRecord, encode
from switchboard_shared.events import MailReceived
from switchboard_shared.intake import RecentIds
from switchboard_shared.topics import MAIL_RECEIVED, history_of

HISTORY = history_of(MAIL_RECEIVED)
BATCH_ITEMS = 64
BATCH_BYTES = 16 * 1024 * 1024
DEDUPE_WINDOW = 1_000_000


@dataclass(frozen=True)
class MailJob:
    identity: MailboxIdentity
    max_bytes: int


def mail_record(event: MailReceived) -> tuple[KafkaRecord, str]:
    ce_id = mail_event_id(event)
    past = event.model_copy(update={"historical": True})
    record = encode(
        HISTORY,
        past,
        id=ce_id,
        source=f"{SOURCE}/import",
        key=past.counterpart or past.message_id,
        time=past.sent_at,
        subject=past.message_id,
    )
    return record, ce_id


def _batches(items: Iterator[Item]) -> Iterator[list[Item]]:
    batch: list[Item] = []
    size = 0
    for item in items:
        batch.append(item)
        size += len(item.raw)
        if len(batch) >= BATCH_ITEMS or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


_END = object()


async def import_mail(
    items: Iterator[Item],
    job: MailJob,
    *,
    label: str,
    checkpoint: Checkpoint,
    store: CheckpointStore,
    pool: ParserPool,
    sink: Sink,
    report: Report,
    meter: Meter,
) -> Counts:
    """Import the items (read on a thread: IMAP and big files block); this run's counts."""
    recent = RecentIds(DEDUPE_WINDOW)
    counts = Counts()
    batches = _batches(items)
    done = checkpoint.counts.rows

    async def parse(item: Item) -> MailReceived | str:
        if item.problem:
            return item.problem
        try:
            return await pool.parse(
                item.raw,
                mailbox=job.identity,
                folder=item.folder,
                max_bytes=job.max_bytes,
                sent_folder=item.sent,
            )
        except UnparseableMessage as exc:
            return f"{exc.reason}: {exc.detail}"

    while True:
        batch = await asyncio.to_thread(next, batches, _END)
        if batch is _END:
            break
        assert isinstance(batch, list)
        outcomes = await asyncio.gather(*(parse(item) for item in batch))
        step = Counts(rows=len(batch))
        parsed: list[tuple[KafkaRecord, str]] = []
        for item, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, str):
                step.rejected += 1
                excerpt = item.raw[:300].decode("utf-8", "replace")
                report.add(Rejected(label, item.where, outcome, excerpt))
                continue
            parsed.append(mail_record(outcome))
        fresh, step.duplicate = first_sends(parsed, recent)
        step.accepted = len(fresh)
        await sink.send(fresh)
        report.flush()
        checkpoint.position = batch[-1].position
        checkpoint.counts.add(step)
        store.save(checkpoint)
        counts.add(step)
        done += step.rows
        meter.advance(step, done)
    checkpoint.done = True
    store.save(checkpoint)
    return counts
