"""Replicas of ingest-mail on one database (a SQLite file, and PostgreSQL), reading a real
Dovecot and publishing to the real broker.

Two `python -m ingest_mail` processes share one mailbox: only one polls it. The one polling is
killed with SIGKILL and its working directory deleted (a pod gone with its files); the other
takes the mailbox over once the lease runs out, from the shared checkpoint, and every message is
on `mail.received.v1` exactly once. One frozen (SIGSTOP) past its lease wakes up to find the
mailbox taken and publishes nothing again. One cut off from PostgreSQL stops polling before the
other starts. In-process, several intakes share mailboxes fairly and a
graceful stop hands its mailboxes over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from ingest_mail.checkpoints import CheckpointStore
from ingest_mail.imap import ImapIntake, PollerOptions
from ingest_mail.leases import LeaseOptions
from ingest_mail.mailboxes import MailboxConfig
from integration.crm_store.tcp_proxy import TcpProxy
from integration.ingest_mail.conftest import open_store
from integration.ingest_mail.imap_app import HTTP_TOKEN, MailTopic, at_least
from integration.ingest_mail.mailboxes import key_of, mailbox, mailbox_entry, subjects
from support.conditions import eventually, until
from support.dovecot import MailAccount, make_message
from support.ports import free_port

pytestmark = pytest.mark.integration

LEASE_TTL_S = 3.0


@dataclass
class Replica:
    """One `python -m ingest_mail` process, in a working directory of its own."""

    process: subprocess.Popen[bytes]
    url: str
    workdir: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    async def mailboxes(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            answer = await client.get("/mailboxes")
        assert answer.status_code == 200, answer.text
        body: list[dict[str, Any]] = answer.json()
        return body

    async def polls(self) -> bool:
        [state] = await self.mailboxes()
        return bool(state["polling"])

    async def delivered(self, name: str) -> float:
        """`ingest_mail_imap_messages_total{outcome="delivered"}` of this replica."""
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            text = (await client.get("/metrics")).text
        for line in text.splitlines():
            if line.startswith("ingest_mail_imap_messages_total{") and (
                f'mailbox="{name}"' in line and 'outcome="delivered"' in line
            ):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def kill(self) -> None:
        """SIGKILL the process and its parser workers, then delete its local files."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        shutil.rmtree(self.workdir)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_replica(
    root: Path, bootstrap: str, database_url: str, mailboxes: list[dict[str, Any]]
) -> Replica:
    """`python -m ingest_mail` as deployed, in a fresh working directory; returns once /readyz
    answers 200."""
    port = free_port()
    workdir = root / f"replica-{port}"
    workdir.mkdir()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "INGEST_MAIL_"))
    }
    env.update(
        {
            "SWITCHBOARD_KAFKA_BOOTSTRAP": bootstrap,
            "SWITCHBOARD_OWN_DOMAINS": "acme.test",
            "SWITCHBOARD_LOG_FORMAT": "json",
            "INGEST_MAIL_PORT": str(port),
            "INGEST_MAIL_LMTP_PORT": "0",
            "INGEST_MAIL_HTTP_TOKEN": HTTP_TOKEN,
            "INGEST_MAIL_DATABASE_URL": database_url,
            "INGEST_MAIL_LEASE_TTL_S": str(LEASE_TTL_S),
            "INGEST_MAIL_MAILBOXES": json.dumps(mailboxes),
        }
    )
    log_path = root / f"replica-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "ingest_mail"],
            env=env,
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    replica = Replica(process, f"http://127.0.0.1:{port}", workdir, log_path)
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise AssertionError(f"ingest-mail exited:\n{replica.log()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{replica.url}/readyz", timeout=2).status_code == 200:
                return replica
        if time.monotonic() > deadline:
            replica.stop()
            raise AssertionError(f"ingest-mail not ready:\n{replica.log()}")
        time.sleep(0.1)


@contextlib.asynccontextmanager
async def replicas(
    count: int, root: Path, bootstrap: str, database_url: str, entries: list[dict[str, Any]]
) -> AsyncIterator[list[Replica]]:
    started: list[Replica] = []
    try:
        for _ in range(count):
            started.append(
                await asyncio.to_thread(start_replica, root, bootstrap, database_url, entries)
            )
        yield started
    finally:
        for replica in started:
            await asyncio.to_thread(replica.stop)


def shared_database(url: str, tmp_path: Path) -> str:
    """The SQLite file outside every replica's working directory (PostgreSQL as it is)."""
    if url.startswith("sqlite"):
        return f"sqlite+aiosqlite:///{tmp_path / 'shared' / 'ingest-mail.db'}"
    return url


async def test_one_replica_polls_a_mailbox_and_a_killed_ones_mailbox_moves_exactly_once(
    kafka_bootstrap: str, account: MailAccount, mail_database_url: str, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    entry = mailbox_entry(account)
    name = entry["name"]
    database = shared_database(mail_database_url, tmp_path)
    account.append("INBOX", *(make_message(n, tag) for n in range(1, 6)))

    async with (
        MailTopic(kafka_bootstrap, account.username) as topic,
        replicas(2, tmp_path, kafka_bootstrap, database, [entry]) as (a, b),
    ):
        await topic.until("the first five messages", lambda r: len(r) >= 5)

        async def one_polls() -> list[Replica] | None:
            polling = [r for r in (a, b) if await r.polls()]
            return polling if len(polling) == 1 else None

        [holder] = await eventually(one_polls, timeout=20, what="exactly one replica polling")
        [other] = [r for r in (a, b) if r is not holder]
        # For two lease periods more, and while more mail arrives, the other one never polls.
        account.append("INBOX", make_message(6, tag))
        await topic.until("message 6", lambda r: len(r) >= 6)
        deadline = time.monotonic() + 2 * LEASE_TTL_S
        while time.monotonic() < deadline:
            assert await holder.polls()
            assert not await other.polls()
            await asyncio.sleep(0.2)
        assert await other.delivered(name) == 0
        assert await holder.delivered(name) == 6

        await asyncio.to_thread(holder.kill)
        assert not holder.workdir.exists()
        killed = time.monotonic()
        account.append("INBOX", *(make_message(n, tag) for n in range(7, 11)))
        await topic.until("the mail that came after the kill", lambda r: len(r) >= 10, 30)
        moved_after = time.monotonic() - killed
        assert await other.polls()
        records = await topic.to_the_end()
        await asyncio.sleep(1.0)  # a second copy, if any, would show up in this time
        records = await topic.to_the_end()
        survivor_delivered = await other.delivered(name)

    assert sorted(r.event.subject for r in records) == sorted(subjects(*range(1, 11)))
    assert len(records) == 10  # each once: none read again by the replica that took over
    assert survivor_delivered == 4  # only what came after the kill: the checkpoint is shared
    # Within the lease time, one renewal round and a poll, with room for a loaded machine.
    assert moved_after < LEASE_TTL_S + 15


async def test_a_replica_frozen_past_its_lease_stops_polling_and_publishes_nothing_again(
    kafka_bootstrap: str, account: MailAccount, mail_database_url: str, tmp_path: Path
) -> None:
    """SIGSTOP the replica polling (a paused VM, a long GC, a partitioned node): the other one
    takes over when the lease runs out; when the frozen one wakes up, it finds its lease gone
    and stops, and no message is published twice."""
    tag = uuid.uuid4().hex[:8]
    entry = mailbox_entry(account)
    name = entry["name"]
    database = shared_database(mail_database_url, tmp_path)
    account.append("INBOX", make_message(1, tag))

    async with (
        MailTopic(kafka_bootstrap, account.username) as topic,
        replicas(2, tmp_path, kafka_bootstrap, database, [entry]) as (a, b),
    ):
        await topic.until("message 1", lambda r: len(r) >= 1)

        async def holder_of() -> Replica | None:
            polling = [r for r in (a, b) if await r.polls()]
            return polling[0] if len(polling) == 1 else None

        frozen = await eventually(holder_of, timeout=20, what="one replica polling")
        [other] = [r for r in (a, b) if r is not frozen]
        os.killpg(frozen.process.pid, signal.SIGSTOP)
        try:
            account.append("INBOX", *(make_message(n, tag) for n in (2, 3)))
            await topic.until("the mail read by the replica that took over", at_least(3), 30)
        finally:
            os.killpg(frozen.process.pid, signal.SIGCONT)

        async def stopped_polling() -> bool:
            return not await frozen.polls()

        await eventually(stopped_polling, timeout=20, what="the woken replica to stop polling")
        account.append("INBOX", *(make_message(n, tag) for n in (4, 5)))
        await topic.until("messages 4 and 5", at_least(5), 30)
        await asyncio.sleep(LEASE_TTL_S)  # a late copy from the woken replica would show now
        records = await topic.to_the_end()
        assert await other.polls()
        assert not await frozen.polls()
        assert await frozen.delivered(name) == 1
        assert await other.delivered(name) == 4

    assert sorted(r.event.subject for r in records) == sorted(subjects(1, 2, 3, 4, 5))
    assert len(records) == 5


@dataclass
class Sink:
    deliveries: list[tuple[str, str]]

    async def __call__(self, raw: bytes, config: MailboxConfig, folder: str) -> None:
        self.deliveries.append((config.name, key_of(raw)))


FAST = PollerOptions(backoff_initial_s=0.1, backoff_max_s=0.5)


def intake(configs: list[MailboxConfig], store: CheckpointStore, sink: Sink) -> ImapIntake:
    return ImapIntake(
        configs, store, sink, key_of=key_of, options=FAST, leases=LeaseOptions(ttl_s=3)
    )


async def test_replicas_share_mailboxes_fairly_and_a_graceful_stop_hands_them_over(
    account: MailAccount, mail_database_url: str
) -> None:
    account.append("INBOX", make_message(1))
    configs = [mailbox(account, name=f"share-{n}-{uuid.uuid4().hex[:6]}") for n in range(4)]
    stores = [await open_store(mail_database_url) for _ in range(2)]
    sink = Sink([])
    first, second = (intake(configs, store, sink) for store in stores)
    try:
        async with first.running():
            await until(lambda: len(first.keeper.held()) == 4, "the only replica takes all", 20)
            async with second.running():
                await until(
                    lambda: len(first.keeper.held()) == 2 and len(second.keeper.held()) == 2,
                    "two each",
                    30,
                )
                assert first.keeper.held().isdisjoint(second.keeper.held())
                await until(lambda: len(sink.deliveries) == 4, "each mailbox read once", 20)
            # The second replica stopped gracefully: its leases were deleted, not left to run
            # out, so the first takes them on its next round.
            assert set((await first.keeper.leases.holders()).values()) <= {stores[0].holder}
            await until(lambda: len(first.keeper.held()) == 4, "all back to the first", 20)
            await asyncio.sleep(1.0)  # a second delivery, if any, would show up in this time
    finally:
        for store in stores:
            await store.close()
    assert sorted(d[0] for d in sink.deliveries) == sorted(c.name for c in configs)


@pytest.mark.parametrize("mail_database_url", ["postgresql"], indirect=True)
async def test_a_replica_cut_off_from_the_database_stops_polling_before_another_starts(
    account: MailAccount, mail_database_url: str
) -> None:
    """The database is cut off from one replica (a TCP proxy in front of PostgreSQL): it cannot
    renew, so it stops its poller before its lease can run out; the other replica starts only
    once the lease ran out, and reads the mail that came meanwhile, once."""
    url = make_url(mail_database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    config = mailbox(account, name=f"cut-{uuid.uuid4().hex[:6]}")
    account.append("INBOX", make_message(1))
    stores = [await open_store(proxied), await open_store(mail_database_url)]
    sink = Sink([])
    cut_off, direct = (intake([config], store, sink) for store in stores)
    seen: dict[str, float] = {}

    async def watch() -> None:
        while True:
            now = time.monotonic()
            if not cut_off.keeper.held():
                seen.setdefault("cut_off stopped", now)
            if direct.keeper.held():
                seen.setdefault("direct started", now)
            await asyncio.sleep(0.01)

    try:
        async with cut_off.running():
            await until(lambda: len(sink.deliveries) == 1, "message 1 read", 20)
            async with direct.running():
                await asyncio.sleep(2 * direct.keeper.options.renew_every_s)
                assert cut_off.keeper.held() == {config.name}
                assert not direct.keeper.held()
                watcher = asyncio.create_task(watch())
                await proxy.cut()
                account.append("INBOX", make_message(2))
                await until(lambda: len(sink.deliveries) == 2, "message 2 read", 30)
                await until(lambda: "cut_off stopped" in seen, "the cut-off replica to stop", 10)
                watcher.cancel()
                await asyncio.sleep(1.0)  # a second delivery, if any, would show up now
    finally:
        await proxy.cut()
        for store in stores:
            await store.close()
    assert seen["cut_off stopped"] < seen["direct started"], seen
    assert [d[0] for d in sink.deliveries] == [config.name] * 2
    assert len({d[1] for d in sink.deliveries}) == 2
