"""Importing a call-record file: read rows, parse them in worker processes, publish in order.

Rows are read as complete records (`csvfile`); where a call is several rows (Asterisk's legs,
CEL's events), the rows of one call are gathered first (`grouping`). Chunks of calls are
parsed in parallel by a pool of processes with the provider's own adapter or call builder
(`callformats`), and published in order in produce batches on `calls.recorded.history.v1`.
The checkpoint moves only after the broker acknowledged a chunk and everything before it, to
the first row of the oldest call still being gathered (with the keys of the calls already sent
that have rows past it, skipped when a resumed run reads them again); a chunk is parsed while
the one before it is being published.

A chunk the adapter refuses as a whole (the webhook's all-or-nothing rule) is parsed again row
by row, so one bad row is reported with its line and reason and the others go through.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import re
import signal
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ingest_calls.domain.calls import event_id
from ingest_calls.domain.errors import InvalidPayload
from ingest_calls.publisher import MAX_RECORD_BYTES, call_record
from switchboard_import.callformats import FORMATS, Format, Job, header_of
from switchboard_import.checkpoint import Checkpoint, CheckpointStore, Counts, file_fingerprint
from switchboard_import.csvfile import Row, rows
from switchboard_import.grouping import Grouper
from switchboard_import.progress import Meter
from switchboard_import.report import Rejected, Report
from switchboard_import.sink import Sink, first_sends
from switchboard_shared.cloudevents import KafkaRecord
from switchboard_shared.events import CallRecorded
from switchboard_shared.intake import RecentIds
from switchboard_shared.topics import CALLS_RECORDED, history_of

HISTORY = history_of(CALLS_RECORDED)
CHUNK_BYTES = 512 * 1024
DEDUPE_WINDOW = 1_000_000  # ids remembered within one run (a repeated row is not re-sent)
SEND_RECORDS = 8000  # records per acknowledged send, at most (several chunks)


LATE = (
    "a leg of a call already imported (its other rows are more than {window} rows away); left out"
)


@dataclass
class Parsed:
    """One chunk, parsed: records to publish (with their ids) and the rows refused."""

    position: dict[str, Any]  # the checkpoint once this chunk and all before it are acked
    done: int  # bytes of the file read when the chunk was cut (progress)
    rows: int
    duplicate_rows: int = 0  # a row written twice in one call
    records: list[KafkaRecord] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    rejected: list[tuple[int, str, str]] = field(default_factory=list)  # line, reason, excerpt
    cpu_s: float = 0.0  # the parsing process's CPU time for this chunk


def _record(event: CallRecorded) -> tuple[KafkaRecord, str]:
    ce_id = event_id(event)  # the live path's id: a call seen live and imported is one event
    past = event.model_copy(update={"historical": True})
    record = call_record(HISTORY, past, ce_id)
    if len(record.value or b"") + sum(map(len, record.headers.values())) > MAX_RECORD_BYTES:
        trimmed = past.model_copy(update={"raw": {"omitted": "too large for a Kafka record"}})
        record = call_record(HISTORY, trimmed, ce_id)
    return record, ce_id


# The adapter names a position within the one-row body it was given ("line 1, column 15",
# "[0].direction"); the report names the file's line instead.
_BODY_POSITION = re.compile(r"^(?:line \d+(?=[,:])[,:]? ?|\[\d+\]\.)")


def _reason(detail: str) -> str:
    return _BODY_POSITION.sub("", detail, count=1)


def _excerpt(row: Row) -> str:
    return row.text.decode("utf-8", "replace").rstrip("\r\n")


def _parse_rows(fmt: Format, job: Job, header: bytes, chunk: Sequence[Row], out: Parsed) -> None:
    try:
        events = fmt.parse(job, header, [r.text for r in chunk])
    except InvalidPayload as exc:
        if len(chunk) == 1:
            out.rejected.append((chunk[0].line, _reason(exc.detail), _excerpt(chunk[0])))
            return
        for row in chunk:
            _parse_rows(fmt, job, header, [row], out)
        return
    if len(events) != len(chunk):  # defensive: one event per row is the adapters' contract
        for row in chunk:
            _parse_rows(fmt, job, header, [row], out)
        return
    for row, event in zip(chunk, events, strict=True):
        if not isinstance(event, CallRecorded):
            out.rejected.append((row.line, "not a finished call (a progress state)", _excerpt(row)))
            continue
        record, ce_id = _record(event)
        out.records.append(record)
        out.ids.append(ce_id)


def _build_units(fmt: Format, job: Job, header: bytes, units: list[list[Row]], out: Parsed) -> None:
    assert fmt.build is not None
    for unit in units:
        seen: set[bytes] = set()
        good = []
        for row in unit:
            if row.problem:
                out.rejected.append((row.line, row.problem, _excerpt(row)))
            elif row.text in seen:
                out.duplicate_rows += 1
            else:
                seen.add(row.text)
                good.append(row)
        if not good:
            continue
        by_line = {row.line: row for row in good}
        try:
            calls, refused = fmt.build(job, header, good)
        except InvalidPayload as exc:
            calls, refused = [], [(row.line, exc.detail) for row in good]
        for line, reason in refused:
            found = by_line.get(line)
            out.rejected.append((line, _reason(reason), _excerpt(found) if found else ""))
        for call in calls:
            record, ce_id = _record(call)
            out.records.append(record)
            out.ids.append(ce_id)


def parse_chunk(
    job: Job, header: bytes, units: list[list[Row]], position: dict[str, Any], done: int
) -> Parsed:
    """In a worker process (or inline): one chunk of calls (their rows) -> records, rejects."""
    started = time.process_time()
    fmt = FORMATS[job.format]
    out = Parsed(position=position, done=done, rows=sum(len(unit) for unit in units))
    if fmt.build is not None:
        _build_units(fmt, job, header, units, out)
    else:
        chunk = [row for unit in units for row in unit]
        good = [row for row in chunk if not row.problem]
        for row in chunk:
            if row.problem:
                out.rejected.append((row.line, row.problem, ""))
        if good:
            _parse_rows(fmt, job, header, good, out)
    out.cpu_s = time.process_time() - started
    return out


@dataclass
class Chunk:
    units: list[list[Row]]
    position: dict[str, Any]
    done: int


def _next_line(row: Row) -> int:
    return row.line + max(1, row.text.count(b"\n"))


def chunks(
    fmt: Format,
    job: Job,
    header: bytes,
    source: Iterator[Row],
    sent: list[str],
    *,
    window: int | None = None,
    max_rows: int | None = None,
) -> Iterator[Chunk]:
    """Calls (their rows), in chunks of about `max_rows` rows or CHUNK_BYTES; each chunk with
    the checkpoint that holds once it and all before it are acknowledged."""
    window = window or fmt.window
    max_rows = max_rows or fmt.max_rows
    grouper = Grouper(window=window, sent=sent) if fmt.keys is not None else None
    units: list[list[Row]] = []
    count = size = 0
    row: Row | None = None

    def cut(last: Row) -> Chunk:
        if grouper is None:
            position: dict[str, Any] = {"offset": last.end, "line": _next_line(last)}
        else:
            offset, line, keys = grouper.cut(last.end, _next_line(last))
            position = {"offset": offset, "line": line, "sent": keys}
        return Chunk(units, position, last.end)

    for row in source:
        if grouper is None or fmt.keys is None or row.problem:
            ready = [[row]]
        else:
            keys = fmt.keys(job, header, row.text)
            added = grouper.add(row, keys.keys, linked=keys.linked, ends=keys.ends)
            ready = list(added.ready)
            if added.late:
                ready.append([replace(row, text=b"", problem=LATE.format(window=window))])
        for unit in ready:
            units.append(unit)
            count += len(unit)
            size += sum(len(r.text) for r in unit)
        if count >= max_rows or size >= CHUNK_BYTES:
            yield cut(row)
            units, count, size = [], 0, 0
    if row is None:
        return
    if grouper is not None:
        units += grouper.flush()
    if units or grouper is not None:
        yield cut(row)


class _Inline(Executor):
    """Parse on the calling thread (`workers=0`): small files, tests."""

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        future: Future[object] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


def _worker_ignores_ctrl_c() -> None:
    """Ctrl-C reaches the whole process group: the import stops its workers itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def executor_for(workers: int) -> Executor:
    if workers <= 0:
        return _Inline()
    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("forkserver"),
        initializer=_worker_ignores_ctrl_c,
    )


class NoHeader(ValueError):
    pass


def read_header(path: Path, fmt: Format) -> tuple[bytes, int, int]:
    """(header row or b"", byte offset after it, next line)."""
    with path.open("rb") as stream:
        for row in rows(stream):
            if not row.problem and header_of(fmt, row.text):
                return row.text, row.end, row.line + 1
            break
    if fmt.needs_header:
        raise NoHeader(f"{path}: a {fmt.name} file starts with a line of column names")
    return b"", 0, 1


@dataclass(frozen=True)
class Start:
    source: str
    header: bytes
    offset: int
    line: int
    sent: list[str] = field(default_factory=list)  # calls sent with rows past `offset`


def prepare(
    path: Path, job: Job, store: CheckpointStore, restart: bool
) -> tuple[Start, Checkpoint]:
    """Where this file's import starts: its checkpoint (unless `restart`) and its header."""
    fmt = FORMATS[job.format]
    source = f"calls:{job.format}:{path.resolve()}"
    fingerprint = f"{job.format}:{file_fingerprint(path)}"
    if restart:
        store.forget(source)
    checkpoint = store.load(source, fingerprint)
    header, after_header, first_line = read_header(path, fmt)
    offset = int(checkpoint.position.get("offset", 0)) or after_header
    line = int(checkpoint.position.get("line", 0)) or first_line
    sent = [str(key) for key in checkpoint.position.get("sent", [])]
    return Start(source, header, offset, line, sent), checkpoint


async def import_calls(
    path: Path,
    job: Job,
    *,
    store: CheckpointStore,
    sink: Sink,
    report: Report,
    meter: Meter,
    executor: Executor,
    restart: bool = False,
    in_flight: int = 4,
) -> Counts:
    """Import one file; returns this run's counts. The checkpoint records the total."""
    fmt = FORMATS[job.format]
    start, checkpoint = await asyncio.to_thread(prepare, path, job, store, restart)
    header, offset, line = start.header, start.offset, start.line
    meter.resume_from(Counts(), offset)
    loop = asyncio.get_running_loop()
    recent = RecentIds(DEDUPE_WINDOW)
    counts = Counts()
    # Parsed chunks in file order; a bounded queue, so reading stays a few chunks ahead.
    pending: asyncio.Queue[asyncio.Future[Parsed] | None] = asyncio.Queue(in_flight)

    async def feed() -> None:
        try:
            with path.open("rb") as stream:
                source = rows(stream, start=offset, first_line=line)
                for chunk in chunks(fmt, job, header, source, start.sent):
                    future = executor.submit(
                        parse_chunk, job, header, chunk.units, chunk.position, chunk.done
                    )
                    await pending.put(asyncio.wrap_future(future, loop=loop))
        except Exception:
            await pending.put(None)  # the end of what was read; `await feeder` raises it
            raise
        await pending.put(None)  # (cancelled: nobody reads the queue any more)

    async def finish(group: list[Parsed]) -> None:
        fresh: list[KafkaRecord] = []
        step = Counts()
        for parsed in group:
            if not isinstance(executor, _Inline):  # else counted in this process's own time
                meter.cpu_s += parsed.cpu_s
            step.rows += parsed.rows
            step.rejected += len(parsed.rejected)
            sends, repeats = first_sends(zip(parsed.records, parsed.ids, strict=True), recent)
            fresh += sends
            step.duplicate += repeats + parsed.duplicate_rows
        step.accepted = len(fresh)
        await sink.send(fresh)
        for parsed in group:
            for at, reason, excerpt in parsed.rejected:
                report.add(Rejected(str(path), f"line {at}", reason, excerpt))
        report.flush()
        last = group[-1]
        checkpoint.position = last.position
        checkpoint.counts.add(step)
        store.save(checkpoint)
        counts.add(step)
        meter.advance(step, last.done)

    feeder = asyncio.create_task(feed(), name="import-reader")
    try:
        ended = False
        while not ended:
            head = await pending.get()
            if head is None:
                break
            group = [await head]
            size = len(group[0].records)
            # What else is parsed already goes in the same send: one acknowledgement for
            # several chunks, so the broker's round trip does not set the pace.
            while size < SEND_RECORDS and not pending.empty():
                following = pending.get_nowait()
                if following is None:
                    ended = True
                    break
                if not following.done():
                    group.append(await following)
                    size += len(group[-1].records)
                    break
                group.append(following.result())
                size += len(group[-1].records)
            await finish(group)
        await feeder
    finally:
        if not feeder.done():
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder
    checkpoint.done = True
    store.save(checkpoint)
    return counts
