"""The IMAP intake against a real Dovecot: order, no \\Seen, checkpoints, outages, IDLE."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from ingest_mail.checkpoints import CheckpointStore
from ingest_mail.imap import ImapIntake, PollerOptions
from ingest_mail.mailboxes import MailboxConfig
from integration.ingest_mail.conftest import open_store
from integration.ingest_mail.mailboxes import key_of, mailbox, metric, subject_of, subjects
from support.conditions import until
from support.dovecot import DovecotServer, MailAccount, make_message
from support.ports import free_port
from switchboard_shared.kafka import BrokerUnavailable

pytestmark = pytest.mark.integration

FAST = PollerOptions(backoff_initial_s=0.1, backoff_max_s=0.5, batch_size=3)


@dataclass
class RecordingSink:
    """Records what a real sink would have published once the broker acked.

    `down` makes it raise BrokerUnavailable; `block_after` makes it hang without acking once that
    many messages were recorded (a publish in flight when the process stops).
    """

    deliveries: list[tuple[str, str, str, float]] = field(default_factory=list)
    down: bool = False
    refusals: int = 0
    block_after: int | None = None

    async def __call__(self, raw: bytes, mailbox: MailboxConfig, folder: str) -> None:
        if self.block_after is not None and len(self.deliveries) >= self.block_after:
            await asyncio.Event().wait()
        if self.down:
            self.refusals += 1
            raise BrokerUnavailable("test: broker is down")
        self.deliveries.append((subject_of(raw), mailbox.name, folder, time.monotonic()))

    @property
    def subjects(self) -> list[str]:
        return [d[0] for d in self.deliveries]

    async def wait_for(self, count: int, timeout: float = 20.0) -> None:
        await until(lambda: len(self.deliveries) >= count, f"{count} deliveries", timeout)


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@asynccontextmanager
async def running(
    mailboxes: list[MailboxConfig], store: CheckpointStore, sink: RecordingSink
) -> AsyncIterator[ImapIntake]:
    intake = ImapIntake(mailboxes, store, sink, key_of=key_of, options=FAST)
    async with intake.running():
        yield intake


async def test_delivers_in_uid_order_per_folder_and_never_sets_seen(
    account: MailAccount, store: CheckpointStore, sink: RecordingSink
) -> None:
    inbox_uids = account.append("INBOX", *(make_message(n) for n in range(1, 8)))
    account.append("Sent", make_message(20), make_message(21))
    config = mailbox(account, folders=["INBOX", "Sent", "Archive"])

    async with running([config], store, sink) as intake:
        await sink.wait_for(9)
        # the round ends once every folder was looked at, a moment after the last delivery
        await until(
            lambda: intake.status()[0].lag == 0 and intake.status()[0].last_success is not None,
            "a whole round done",
            5,
        )
        status = intake.status()[0]

    assert sink.subjects == subjects(*range(1, 8), 20, 21)
    assert [d[2] for d in sink.deliveries] == ["INBOX"] * 7 + ["Sent"] * 2
    assert {d[1] for d in sink.deliveries} == {config.name}
    assert status.connected
    assert status.last_success is not None
    assert status.missing_folders == ("Archive",)  # logged and skipped, not fatal
    for folder, count in (("INBOX", 7), ("Sent", 2)):
        flags = account.flags(folder)
        assert len(flags) == count
        assert all(b"\\Seen" not in f for f in flags.values()), flags
    checkpoint = await store.get(config.name, "INBOX")
    assert checkpoint is not None
    assert checkpoint.last_uid == inbox_uids[-1]
    assert checkpoint.uidvalidity == account.uidvalidity("INBOX")
    labels = {"mailbox": config.name}
    assert metric("ingest_mail_imap_messages_total", **labels, outcome="delivered") == 9
    assert metric("ingest_mail_imap_checkpoint_lag", **labels) == 0
    assert metric("ingest_mail_imap_connected", **labels) == 0  # stopped


async def test_restart_midway_gives_no_duplicates_and_no_gaps(
    account: MailAccount, store_url: str
) -> None:
    account.append("INBOX", *(make_message(n) for n in range(1, 11)))
    config = mailbox(account)

    first = RecordingSink(block_after=4)  # the 5th publish never acks: the process stops
    store = await open_store(store_url)
    async with running([config], store, first):
        await first.wait_for(4)
        await asyncio.sleep(0.3)
    await store.close()
    assert first.subjects == subjects(1, 2, 3, 4)

    second = RecordingSink()
    reopened = await open_store(store_url)  # as after a process restart
    try:
        async with running([config], reopened, second):
            await second.wait_for(6)
            await asyncio.sleep(0.5)  # time for a duplicate to show up, if there were one
    finally:
        await reopened.close()
    assert first.subjects + second.subjects == subjects(*range(1, 11))


async def test_broker_unavailable_keeps_the_checkpoint_and_delivers_later(
    account: MailAccount, store: CheckpointStore, sink: RecordingSink
) -> None:
    uids = account.append("INBOX", make_message(1))
    config = mailbox(account)
    async with running([config], store, sink):
        await sink.wait_for(1)
        sink.down = True
        account.append("INBOX", make_message(2), make_message(3))
        await until(lambda: sink.refusals >= 2, "two refused rounds", 10)

        checkpoint = await store.get(config.name, "INBOX")
        assert checkpoint is not None
        assert checkpoint.last_uid == uids[0]
        assert sink.subjects == subjects(1)

        sink.down = False
        await sink.wait_for(3)
        await asyncio.sleep(0.3)
    assert sink.subjects == subjects(1, 2, 3)
    assert metric("ingest_mail_imap_messages_total", mailbox=config.name, outcome="deferred") >= 2


async def test_uidvalidity_change_delivers_only_what_is_new(
    account: MailAccount, store: CheckpointStore, sink: RecordingSink
) -> None:
    old = [make_message(n) for n in (1, 2, 3)]
    account.append("Projects", *old)
    config = mailbox(account, folders=["Projects"])
    async with running([config], store, sink):
        await sink.wait_for(3)
    before = account.uidvalidity("Projects")

    account.delete_folder("Projects")
    account.append("Projects", *old, make_message(4))
    assert account.uidvalidity("Projects") != before

    async with running([config], store, sink) as intake:
        await sink.wait_for(4)
        await until(lambda: intake.status()[0].lag == 0, "lag 0", 5)
        await asyncio.sleep(0.5)
    assert sink.subjects == subjects(1, 2, 3, 4)
    checkpoint = await store.get(config.name, "Projects")
    assert checkpoint is not None
    assert checkpoint.uidvalidity == account.uidvalidity("Projects")
    assert checkpoint.last_uid == 4
    assert metric("ingest_mail_imap_messages_total", mailbox=config.name, outcome="duplicate") == 3


async def test_survives_a_server_restart(
    account: MailAccount, dovecot: DovecotServer, store: CheckpointStore, sink: RecordingSink
) -> None:
    account.append("INBOX", make_message(1))
    config = mailbox(account, poll_interval_s=30)  # in IDLE when the server goes away
    async with running([config], store, sink) as intake:
        await sink.wait_for(1)
        await asyncio.sleep(0.3)

        await asyncio.to_thread(dovecot.restart)
        account.append("INBOX", make_message(2))
        await sink.wait_for(2)
        await asyncio.sleep(0.3)
        assert intake.status()[0].connected
    assert sink.subjects == subjects(1, 2)
    assert metric("ingest_mail_imap_reconnects_total", mailbox=config.name) >= 1


async def test_survives_the_session_being_dropped(
    account: MailAccount, dovecot: DovecotServer, store: CheckpointStore, sink: RecordingSink
) -> None:
    account.append("INBOX", make_message(1))
    config = mailbox(account, poll_interval_s=30)

    def reconnects() -> float:
        return metric("ingest_mail_imap_reconnects_total", mailbox=config.name)

    async def kick_and_wait_for_reconnect() -> None:
        before = reconnects()
        await asyncio.to_thread(dovecot.kick, account.username)
        await until(lambda: reconnects() > before, "a reconnect", 10)

    async with running([config], store, sink):
        await sink.wait_for(1)
        await asyncio.sleep(0.3)
        for n in (2, 3):  # kicked while idling, then again after the reconnect
            await kick_and_wait_for_reconnect()
            account.append("INBOX", make_message(n))
            await sink.wait_for(n)
            await asyncio.sleep(0.3)
    assert sink.subjects == subjects(1, 2, 3)


async def test_an_unreachable_server_does_not_hold_up_the_others(
    account: MailAccount, store: CheckpointStore, sink: RecordingSink
) -> None:
    dead = mailbox(account, name="dead", port=free_port())  # nothing listens there
    alive = mailbox(account)
    account.append("INBOX", make_message(1), make_message(2))
    async with running([dead, alive], store, sink) as intake:
        await sink.wait_for(2)
        await until(
            lambda: metric("ingest_mail_imap_reconnects_total", mailbox="dead") >= 2, "retries", 10
        )
        account.append("INBOX", make_message(3))
        await sink.wait_for(3)
        dead_status, alive_status = intake.status()
        assert not await intake.ready()
    assert sink.subjects == subjects(1, 2, 3)
    assert {d[1] for d in sink.deliveries} == {alive.name}
    assert not dead_status.connected
    assert dead_status.last_error is not None
    assert "Connection refused" in dead_status.last_error
    assert alive_status.connected


async def test_idle_wakes_the_poller_long_before_the_poll_interval(
    account: MailAccount, store: CheckpointStore, sink: RecordingSink
) -> None:
    config = mailbox(account, poll_interval_s=120, idle_timeout_s=120)
    account.append("INBOX", make_message(1))
    async with running([config], store, sink):
        await sink.wait_for(1)
        await asyncio.sleep(0.5)  # the poller is now in IDLE
        for n in (2, 3):
            appended = time.monotonic()
            await asyncio.to_thread(account.append, "INBOX", make_message(n))
            await sink.wait_for(n, timeout=10)
            assert sink.deliveries[-1][3] - appended < 5
            await asyncio.sleep(0.3)
    assert sink.subjects == subjects(1, 2, 3)


async def test_mail_arriving_between_the_search_and_idle_is_not_left_waiting(
    account: MailAccount, store: CheckpointStore, sink: RecordingSink
) -> None:
    """The sink appends a message while the round runs: it is on the server before IDLE starts
    and must be picked up without waiting for the IDLE window to end."""
    config = mailbox(account, poll_interval_s=120, idle_timeout_s=120)
    appended: list[int] = []

    async def appending_sink(raw: bytes, box: MailboxConfig, folder: str) -> None:
        await sink(raw, box, folder)
        if not appended:
            appended.extend(await asyncio.to_thread(account.append, "INBOX", make_message(2)))

    account.append("INBOX", make_message(1))
    intake = ImapIntake([config], store, appending_sink, key_of=key_of, options=FAST)
    async with intake.running():
        await sink.wait_for(2, timeout=10)
    assert sink.subjects == subjects(1, 2)


async def test_stop_is_prompt_while_idling_and_the_intake_can_start_again(
    account: MailAccount, store: CheckpointStore, sink: RecordingSink
) -> None:
    config = mailbox(account, poll_interval_s=120, idle_timeout_s=120)
    intake = ImapIntake([config], store, sink, key_of=key_of, options=FAST)
    account.append("INBOX", make_message(1))
    await intake.start()
    await sink.wait_for(1)
    await asyncio.sleep(0.5)  # in IDLE
    started = time.monotonic()
    await intake.stop()
    assert time.monotonic() - started < 3
    assert not intake.status()[0].connected

    account.append("INBOX", make_message(2))
    async with intake.running():
        await sink.wait_for(2)
    assert sink.subjects == subjects(1, 2)


async def test_knows_which_folders_hold_what_the_mailbox_sent(
    account: MailAccount, store: CheckpointStore, sink: RecordingSink
) -> None:
    """The server's \\Sent special-use (RFC 6154), the mailbox's `sent_folders`, or the name."""
    account.append("INBOX", make_message(1))
    account.append("Sent Items", make_message(2))  # the test server flags it \Sent
    account.append("Outbox", make_message(3))
    account.append("Sent", make_message(4))
    account.append("Archive", make_message(5))
    folders = ["INBOX", "Sent Items", "Outbox", "Sent", "Archive"]
    config = mailbox(account, folders=folders, sent_folders=["Outbox"])

    async with running([config], store, sink) as intake:
        await sink.wait_for(5)
        sent = {folder: intake.is_sent_folder(config.name, folder) for folder in folders}

    assert sent == {
        "INBOX": False,
        "Sent Items": True,
        "Outbox": True,
        "Sent": True,
        "Archive": False,
    }
    assert not intake.is_sent_folder("another-mailbox", "Sent Items")
