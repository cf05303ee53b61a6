"""The real ingest-mail app served by uvicorn on a real socket, reading IMAP mailboxes and
publishing to the real broker; and a reader of what it published on `mail.received.v1`.

Used by test_imap_app.py and test_imap_tls.py. Nothing here stands in for the app: the
settings go through `create_app(Settings(...))` as `python -m ingest_mail` does, and the
lifespan (broker connection, parser pool, IMAP pollers) runs as in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from aiokafka import AIOKafkaConsumer, TopicPartition

from ingest_mail.app import create_app
from ingest_mail.config import Settings
from integration.ingest_mail import mailboxes as shared
from support.conditions import until
from support.dovecot import MailAccount
from switchboard_shared.cloudevents import decode
from switchboard_shared.events import MailReceived
from switchboard_shared.settings import CommonSettings
from switchboard_shared.topics import MAIL_RECEIVED

HTTP_TOKEN = "mail-http-token-0123456789abcdef"


def mailbox_entry(account: MailAccount, **overrides: Any) -> dict[str, Any]:
    """One entry of INGEST_MAIL_MAILBOXES, as an operator writes it, polled every half second."""
    return shared.mailbox_entry(account, **{"poll_interval_s": 0.5, **overrides})


def app_settings(bootstrap: str, tmp_path: Path, mailboxes: list[dict[str, Any]]) -> Settings:
    return Settings(
        lmtp_port=0,
        http_token=HTTP_TOKEN,
        mailboxes=json.dumps(mailboxes),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'var' / 'ingest-mail.db'}",
        common=CommonSettings(kafka_bootstrap=bootstrap, own_domains=["acme.test", "acme.example"]),
    )


@dataclass
class Served:
    url: str
    server: uvicorn.Server

    async def mailboxes(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            response = await client.get("/mailboxes")
        assert response.status_code == 200, response.text
        body = response.json()
        assert isinstance(body, list)
        return body

    async def wait_for_state(
        self, what: str, check: Callable[[list[dict[str, Any]]], bool], timeout: float = 30
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            state = await self.mailboxes()
            if check(state):
                return state
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}: {state}")
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Served]:
    """The app on a loopback port, its lifespan run by uvicorn; stopped (pollers too) on exit."""
    app = create_app(settings)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="on", log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        await until(lambda: server.started or task.done(), "uvicorn to start", 60)
        if task.done():
            task.result()
            raise AssertionError("uvicorn stopped during start-up")
        yield Served(f"http://127.0.0.1:{port}", server)
    finally:
        server.should_exit = True
        await task
        listener.close()


@dataclass(frozen=True)
class Published:
    partition: int
    offset: int
    event: MailReceived


def at_least(count: int) -> Callable[[list[Published]], bool]:
    return lambda records: len(records) >= count


class MailTopic:
    """Every `mail.received.v1` record of one mailbox address, read from the start of the topic
    (the session's broker is shared by many tests: the address tells ours apart)."""

    def __init__(self, bootstrap: str, mailbox: str) -> None:
        self.bootstrap = bootstrap
        self.mailbox = mailbox.lower()
        self.records: list[Published] = []
        self._consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> MailTopic:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False
        )
        await self._consumer.start()
        try:
            partitions = self._consumer.partitions_for_topic(MAIL_RECEIVED.name)
            assert partitions, "mail.received.v1 has no partitions"
            self._consumer.assign([TopicPartition(MAIL_RECEIVED.name, p) for p in partitions])
            await self._consumer.seek_to_beginning()
        except BaseException:
            await self._consumer.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def _read(self, timeout_ms: int) -> None:
        assert self._consumer is not None
        batches = await self._consumer.getmany(timeout_ms=timeout_ms)
        for tp, records in batches.items():
            for record in records:
                _, event = decode(record.headers, record.value)
                if isinstance(event, MailReceived) and event.mailbox.lower() == self.mailbox:
                    self.records.append(Published(tp.partition, record.offset, event))

    async def until(
        self, what: str, condition: Callable[[list[Published]], bool], timeout: float = 30
    ) -> list[Published]:
        deadline = time.monotonic() + timeout
        while not condition(self.records):
            if time.monotonic() > deadline:
                subjects = [r.event.subject for r in self.records]
                raise AssertionError(f"timed out after {timeout}s waiting for {what}: {subjects}")
            await self._read(200)
        return self.records

    async def to_the_end(self, timeout: float = 30) -> list[Published]:
        """Everything published up to now: read until each partition's end offset, taken now."""
        assert self._consumer is not None
        assigned = list(self._consumer.assignment())
        ends = await self._consumer.end_offsets(assigned)
        deadline = time.monotonic() + timeout
        while [tp for tp, end in ends.items() if await self._consumer.position(tp) < end]:
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s reading to the end offsets")
            await self._read(200)
        return self.records

    def subjects(self, folder: str | None = None) -> list[str]:
        """In the order published (by offset: one counterpart, one key, one partition)."""
        ordered = sorted(self.records, key=lambda r: (r.partition, r.offset))
        return [r.event.subject for r in ordered if folder is None or r.event.folder == folder]
