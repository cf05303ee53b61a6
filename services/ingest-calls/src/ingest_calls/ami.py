"""Asterisk Manager Interface (AMI) client: CEL events from the PBX to `calls.cel.v1`.

`INGEST_CALLS_ASTERISK_AMI_URL=tcp://user:secret@pbx:5038`. The client connects, reads the
`Asterisk Call Manager/X.Y.Z` banner, logs in with `Action: Login` and `Events: call` (the class
cel_manager sends `CEL` events in; manager.conf grants it with `read = call`), and reads
`Key: Value` blocks ending in an empty line. Anything but `Event: CEL` is ignored. `Action:
Ping` every `PING_INTERVAL_S` keeps the connection honest: with nothing read for
`IDLE_TIMEOUT_S` the connection is dropped and made again, with backoff (0.5 s doubling to
30 s); a refused login waits the longest.

Nothing read is lost on our side: the events read from the socket are published (acks=all)
before the next ones are read; while the broker does not acknowledge, the batch is retried
and the socket is not read (Asterisk buffers, then drops, on its side: events it sends while
nobody is connected are lost there too; the CSV backend fills such a gap). Events are
published with deterministic ids, so a batch sent twice is assembled once.

Bounded: a message is at most `MAX_MESSAGE_BYTES` (the stream's limit: longer, and the
connection is dropped as broken), a batch at most `MAX_BATCH` events.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from zoneinfo import ZoneInfo

from ingest_calls.config import AmiTarget
from ingest_calls.domain import cel
from ingest_calls.domain.errors import InvalidPayload
from ingest_calls.metrics import AMI_CONNECTED, AMI_RECONNECTS, CEL_EVENTS, METRICS
from ingest_calls.publisher import CallPublisher
from switchboard_shared.background import Background
from switchboard_shared.events import CelEvent
from switchboard_shared.kafka import BrokerUnavailable

log = logging.getLogger(__name__)
SOURCE = "ami"
REJECTED_SOURCE = "asterisk-ami"  # ingest.rejected.v1 source: ingest-calls/asterisk-ami
AMI_MEDIA_TYPE = "text/x-asterisk-manager"
BANNER = b"Asterisk Call Manager/"
MAX_MESSAGE_BYTES = 64 * 1024
MAX_FIELDS = 64
MAX_BATCH = 200
BATCH_WAIT_S = 0.05
CONNECT_TIMEOUT_S = 10.0
PING_INTERVAL_S = 20.0
IDLE_TIMEOUT_S = 60.0
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0
END = b"\r\n\r\n"


class AmiError(Exception):
    """The server broke the protocol or refused us; the connection is made again."""


class LoginRefused(AmiError):
    pass


def action(fields: dict[str, str]) -> bytes:
    """An AMI action block; values cannot carry a line break into the next field."""
    lines = [f"{k}: {v.replace(chr(13), ' ').replace(chr(10), ' ')}" for k, v in fields.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_message(block: bytes) -> dict[str, str]:
    """One `Key: Value` block -> fields (first occurrence of a key wins)."""
    text = block.decode("utf-8", "replace")
    fields: dict[str, str] = {}
    for line in text.split("\r\n"):
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            continue
        if len(fields) >= MAX_FIELDS:
            raise AmiError(f"a message with more than {MAX_FIELDS} fields")
        fields.setdefault(key.strip(), value.strip())
    return fields


class AmiClient(Background):
    task_name = "ami-client"

    def __init__(
        self,
        target: AmiTarget,
        publisher: CallPublisher,
        zone: ZoneInfo,
        *,
        ping_interval_s: float = PING_INTERVAL_S,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        backoff_max_s: float = BACKOFF_MAX_S,
    ) -> None:
        self.target = target
        self.publisher = publisher
        self.zone = zone
        self.ping_interval_s = ping_interval_s
        self.idle_timeout_s = idle_timeout_s
        self.backoff_max_s = backoff_max_s
        self.sessions = 0  # logins that succeeded
        self._refused: list[tuple[str, bytes]] = []  # CEL messages that did not parse
        self._ids = itertools.count(1)

    async def _run(self) -> None:
        """Stay connected until cancelled."""
        delay = BACKOFF_START_S
        while True:
            logged_in = self.sessions
            try:
                await self.session()
                reason = "closed"
            except LoginRefused as exc:
                reason = "login_refused"
                log.error("AMI login refused", extra={"ami": str(self.target), "error": str(exc)})
                delay = self.backoff_max_s
            except asyncio.LimitOverrunError:
                reason = "message_too_large"
                log.warning("AMI message over the limit", extra={"ami": str(self.target)})
            except (OSError, TimeoutError, AmiError, asyncio.IncompleteReadError) as exc:
                reason = type(exc).__name__
                log.warning(
                    "AMI connection lost", extra={"ami": str(self.target), "error": repr(exc)}
                )
            finally:
                AMI_CONNECTED.set(0)
            AMI_RECONNECTS.labels(reason).inc()
            if self.sessions > logged_in and reason != "login_refused":
                delay = BACKOFF_START_S  # it worked until now: try again at once
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff_max_s)

    async def session(self) -> None:
        """One connection: banner, login, then events until the server goes away."""
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.target.host, self.target.port, limit=MAX_MESSAGE_BYTES),
            CONNECT_TIMEOUT_S,
        )
        pinger: asyncio.Task[None] | None = None
        try:
            banner = await asyncio.wait_for(reader.readuntil(b"\r\n"), CONNECT_TIMEOUT_S)
            if not banner.startswith(BANNER):
                raise AmiError(f"not an AMI server: {banner[:60]!r}")
            await self._login(reader, writer)
            self.sessions += 1
            AMI_CONNECTED.set(1)
            log.info("AMI logged in", extra={"ami": str(self.target)})
            pinger = asyncio.create_task(self._ping(writer), name="ami-ping")
            await self._events(reader)
        finally:
            if pinger is not None:
                pinger.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pinger
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 2.0)

    async def _login(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        action_id = f"switchboard-login-{next(self._ids)}"
        writer.write(
            action(
                {
                    "Action": "Login",
                    "ActionID": action_id,
                    "Username": self.target.username,
                    "Secret": self.target.secret,
                    "Events": "call",
                }
            )
        )
        await writer.drain()
        while True:
            block = await asyncio.wait_for(reader.readuntil(END), CONNECT_TIMEOUT_S)
            fields = parse_message(block)
            if fields.get("ActionID") != action_id:
                continue  # an event before the answer (Asterisk sends FullyBooted, ...)
            if fields.get("Response", "").lower() != "success":
                raise LoginRefused(fields.get("Message", "no reason given")[:200])
            return

    async def _ping(self, writer: asyncio.StreamWriter) -> None:
        while True:
            await asyncio.sleep(self.ping_interval_s)
            writer.write(
                action({"Action": "Ping", "ActionID": f"switchboard-ping-{next(self._ids)}"})
            )
            await writer.drain()

    async def _events(self, reader: asyncio.StreamReader) -> None:
        while True:
            block = await asyncio.wait_for(reader.readuntil(END), self.idle_timeout_s)
            batch: list[CelEvent] = []
            try:
                self._take(block, batch)
                while len(batch) < MAX_BATCH:  # what else has arrived already
                    try:
                        block = await asyncio.wait_for(reader.readuntil(END), BATCH_WAIT_S)
                    except TimeoutError:
                        break
                    self._take(block, batch)
            except asyncio.CancelledError:
                # Shutting down: a last, short try for what was read.
                with contextlib.suppress(BrokerUnavailable, TimeoutError):
                    await asyncio.wait_for(self.publisher.publish_cel(batch, SOURCE), 2.0)
                raise
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, AmiError, OSError):
                await self._publish(batch)  # the connection broke: keep what was read
                raise
            await self._publish(batch)

    def _take(self, block: bytes, batch: list[CelEvent]) -> None:
        fields = parse_message(block)
        if fields.get("Event") != "CEL":
            return
        try:
            batch.append(cel.to_event(fields, self.zone, str(self.target)))
        except InvalidPayload as exc:
            CEL_EVENTS.labels(SOURCE, "rejected").inc()
            METRICS.rejected.labels("invalid_cel").inc()
            log.warning("CEL event from AMI rejected", extra={"error": exc.detail[:300]})
            self._refused.append((exc.detail, block))

    async def _publish(self, batch: list[CelEvent]) -> None:
        """Until the broker acknowledged the whole batch: nothing read is dropped. A CEL message
        that did not parse is kept on `ingest.rejected.v1` (`make replay-rejected`)."""
        attempt = 0
        while batch or self._refused:
            try:
                for detail, block in list(self._refused):
                    await self.publisher.reject(
                        REJECTED_SOURCE, "invalid_payload", detail, AMI_MEDIA_TYPE, block
                    )
                    self._refused.pop(0)
                published, duplicates = await self.publisher.publish_cel(batch, SOURCE)
            except BrokerUnavailable as exc:
                attempt += 1
                if attempt == 1:
                    log.warning(
                        "CEL events not acknowledged, holding them", extra={"error": str(exc)}
                    )
                await asyncio.sleep(min(self.backoff_max_s, 0.2 * 2**attempt))
                continue
            CEL_EVENTS.labels(SOURCE, "published").inc(published)
            CEL_EVENTS.labels(SOURCE, "duplicate").inc(duplicates)
            return
