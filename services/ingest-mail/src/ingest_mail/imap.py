"""IMAP intake: read new messages from each configured mailbox, at least once, in UID order.

One `MailboxPoller` per mailbox, each with its own connection and its own worker thread
(IMAPClient is synchronous), so a slow or unreachable server holds up only its own mailbox.
A round, per folder: SELECT read-only → compare UIDVALIDITY with the checkpoint (changed: start
the folder over from UID 0) → `UID SEARCH UID last+1:*` → FETCH `BODY.PEEK[]` (never sets
\\Seen) in batches → for each message in UID order: skip it if its key was already delivered from
this mailbox (the same message after a UIDVALIDITY change, or a copy in another folder), else
`await sink(raw, mailbox, folder)`, which returns once the broker acked → checkpoint that UID
together with the message key (one transaction). When the sink raises `BrokerUnavailable` the
round stops without checkpointing and is retried after a backoff, for as long as it takes.

One bad message must not stop a mailbox: each try of a message is counted in the checkpoint
store before the message is handed on (so a try that crashes the process counts too); any
other failure of the sink stops the round and counts, and after `max_attempts` tries the message
is handed to `keep` (kept as rejected, `delivery_failed`) and the checkpoint moves past it. A
message whose RFC822.SIZE is over `max_message_bytes` is never fetched whole: its first bytes
are kept as rejected (`too_large`) and the checkpoint moves on. Between rounds the poller
IDLEs on the first folder (woken by EXISTS) or sleeps `poll_interval_s`; with several folders
IDLE lasts at most `poll_interval_s` so the others are still polled. Connection errors reconnect
with exponential backoff capped at 60 s. Cancelling the task stops the poller cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import ssl
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError
from imapclient.imapclient import SocketTimeout
from prometheus_client import Counter, Gauge

from ingest_mail.checkpoints import CheckpointStore, LeaseLost
from ingest_mail.domain.direction import is_sent_folder_name
from ingest_mail.leases import LeaseKeeper, LeaseOptions, Leases
from ingest_mail.mailboxes import MailboxConfig
from switchboard_shared.intake import MAX_KEPT_BYTES
from switchboard_shared.kafka import BrokerUnavailable

__all__ = [
    "IMAP_CHECKPOINT_LAG",
    "IMAP_CONNECTED",
    "IMAP_MESSAGES",
    "IMAP_RECONNECTS",
    "ImapIntake",
    "Keep",
    "KeptMessage",
    "KeyOf",
    "MailboxPoller",
    "MailboxStatus",
    "PollerOptions",
    "Sink",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

Sink = Callable[[bytes, MailboxConfig, str], Awaitable[None]]
"""Parse and publish one raw message; return only after the broker acked, else raise
`BrokerUnavailable`."""
KeyOf = Callable[[bytes], str]
"""A stable key of a raw message (Message-ID, or a content hash when it has none)."""


async def finished(work: Coroutine[Any, Any, T]) -> T:
    """Await `work` to its end even when the poller is stopped meanwhile: once the broker has a
    message, its checkpoint is written before the poller stops (else it is delivered again)."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise


@dataclass(frozen=True)
class KeptMessage:
    """A message the poller gives up on; `raw` is only its first bytes when `total_bytes` is
    set."""

    raw: bytes
    mailbox: MailboxConfig
    folder: str
    uid: int
    reason: str
    detail: str
    total_bytes: int | None = None


Keep = Callable[[KeptMessage], Awaitable[None]]
"""Keep a message as rejected; return once the broker acked, else raise `BrokerUnavailable`."""

# Label values are configured mailbox names (bounded, chosen by the operator), never addresses.
IMAP_MESSAGES = Counter(
    "ingest_mail_imap_messages_total",
    "IMAP messages by outcome (delivered, duplicate, deferred, failed, vanished, gave_up, "
    "too_large)",
    ["mailbox", "outcome"],
)
IMAP_CHECKPOINT_LAG = Gauge(
    "ingest_mail_imap_checkpoint_lag",
    "Messages found on the server but not yet checkpointed",
    ["mailbox"],
)
IMAP_CONNECTED = Gauge(
    "ingest_mail_imap_connected", "1 while the mailbox's IMAP session is logged in", ["mailbox"]
)
IMAP_RECONNECTS = Counter(
    "ingest_mail_imap_reconnects_total",
    "Reconnections after an IMAP connection or login error",
    ["mailbox"],
)

_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_SENT_FLAG = b"\\Sent"  # RFC 6154 special-use attribute
_BODY = b"BODY[]"
_SIZE = b"RFC822.SIZE"


@dataclass(frozen=True)
class PollerOptions:
    batch_size: int = 50
    batch_bytes: int = 16_000_000
    connect_timeout_s: float = 15.0
    read_timeout_s: float = 120.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    stop_grace_s: float = 5.0
    max_attempts: int = 3
    max_message_bytes: int | None = None
    kept_prefix_bytes: int = MAX_KEPT_BYTES


@dataclass(frozen=True)
class MailboxStatus:
    mailbox: str
    connected: bool
    last_success: datetime | None
    lag: int
    last_error: str | None
    missing_folders: tuple[str, ...]
    polling: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "mailbox": self.mailbox,
            "polling": self.polling,
            "connected": self.connected,
            "last_success": self.last_success.isoformat() if self.last_success else None,
            "lag": self.lag,
            "last_error": self.last_error,
            "missing_folders": list(self.missing_folders),
        }


class _Backoff:
    def __init__(self, initial: float, cap: float) -> None:
        self.initial, self.cap, self._next = initial, cap, initial

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.cap)
        return delay * random.uniform(0.8, 1.0)

    def reset(self) -> None:
        self._next = self.initial


@dataclass(frozen=True)
class _Selected:
    uidvalidity: int
    uidnext: int | None


class _RoundDeferred(Exception):
    """The sink could not deliver; the round stops and is retried later."""


class IdleConnectionLost(ConnectionError):
    pass


def _fallback_key(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


@dataclass
class _Status:
    connected: bool = False
    last_success: datetime | None = None
    last_error: str | None = None
    missing: set[str] = field(default_factory=set)
    pending: dict[str, int] = field(default_factory=dict)


class MailboxPoller:
    """Reads one mailbox for as long as `run()` runs."""

    def __init__(
        self,
        config: MailboxConfig,
        store: CheckpointStore,
        sink: Sink,
        *,
        key_of: KeyOf,
        options: PollerOptions | None = None,
        keep: Keep | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.sink = sink
        self.keep = keep
        self.key_of = key_of
        self.options = options or PollerOptions()
        self._status = _Status()
        self._uidnext: dict[str, int] = {}
        self._flagged_sent: frozenset[str] = frozenset()
        self._stop = threading.Event()
        self._executor: ThreadPoolExecutor | None = None
        self._connect_backoff = _Backoff(self.options.backoff_initial_s, self.options.backoff_max_s)
        self._deliver_backoff = _Backoff(self.options.backoff_initial_s, self.options.backoff_max_s)
        self._messages = {
            outcome: IMAP_MESSAGES.labels(config.name, outcome)
            for outcome in (
                "delivered",
                "duplicate",
                "deferred",
                "failed",
                "vanished",
                "gave_up",
                "too_large",
            )
        }
        self._lag = IMAP_CHECKPOINT_LAG.labels(config.name)
        self._connected = IMAP_CONNECTED.labels(config.name)
        self._reconnects = IMAP_RECONNECTS.labels(config.name)

    @property
    def name(self) -> str:
        return self.config.name

    def is_sent_folder(self, folder: str) -> bool:
        """What this mailbox sent: a folder the server flags \\Sent (RFC 6154), one the config
        lists in `sent_folders`, or one named `Sent`. Such a message is evidence of our act."""
        return (
            folder in self._flagged_sent
            or folder in self.config.sent_folders
            or is_sent_folder_name(folder)
        )

    def status(self, *, polling: bool = True) -> MailboxStatus:
        s = self._status
        return MailboxStatus(
            polling=polling,
            mailbox=self.name,
            connected=s.connected,
            last_success=s.last_success,
            lag=sum(s.pending.values()),
            last_error=s.last_error,
            missing_folders=tuple(sorted(s.missing)),
        )

    def _submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Start a blocking IMAP call on this mailbox's own thread."""
        if self._executor is None:
            raise RuntimeError("the poller is not running")
        return self._executor.submit(fn, *args)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.wrap_future(self._submit(fn, *args))

    # -- the loop --------------------------------------------------------------------------

    async def run(self) -> None:
        """Poll until cancelled, or until the mailbox's lease is found lost (returns)."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"imap-{self.name}")
        self._stop.clear()
        if self.config.security == "none" and self.config.host not in _LOOPBACK:
            log.warning(
                "imap credentials travel unencrypted (security: none)",
                extra={"mailbox_label": self.name},
            )
        try:
            while True:
                try:
                    await self._session()
                except LeaseLost:
                    log.warning(
                        "imap lease lost; this replica stops polling the mailbox",
                        extra={"mailbox_label": self.name},
                    )
                    return
                except Exception as exc:  # any failure of the connection: reconnect later
                    self._set_connected(False)
                    self._status.last_error = f"{type(exc).__name__}: {exc}"[:300]
                    delay = self._connect_backoff.next()
                    level = logging.ERROR if isinstance(exc, LoginError) else logging.WARNING
                    log.log(
                        level,
                        "imap connection failed, reconnecting",
                        extra={
                            "mailbox_label": self.name,
                            "error": self._status.last_error,
                            "retry_in_s": round(delay, 1),
                        },
                    )
                    self._reconnects.inc()
                    await asyncio.sleep(delay)
        finally:
            self._stop.set()
            self._set_connected(False)
            self._status.pending.clear()  # another replica reports the mailbox's lag now
            self._lag.set(0)
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def _session(self) -> None:
        connecting = self._submit(self._connect)
        try:
            client = await asyncio.wrap_future(connecting)
        except asyncio.CancelledError:  # the thread may still finish connecting: close that
            connecting.add_done_callback(_shutdown_when_connected)
            raise
        try:
            self._set_connected(True)
            log.info("imap connected", extra={"mailbox_label": self.name})
            self._flagged_sent = await self._call(_flagged_sent, client, self.config.folders)
            while True:
                try:
                    idle_folder = await self._round(client)
                except _RoundDeferred:
                    await asyncio.sleep(self._deliver_backoff.next())
                    continue
                self._deliver_backoff.reset()
                self._connect_backoff.reset()
                self._status.last_success = datetime.now(UTC)
                self._status.last_error = None
                await self._wait(client, idle_folder)
        finally:
            self._set_connected(False)
            await self._close(client)

    async def _close(self, client: IMAPClient) -> None:
        """Log out on the worker thread; if that thread is stuck in a read, cut the socket."""
        self._stop.set()  # ends an IDLE wait on the worker thread within a second
        logout = asyncio.wrap_future(self._submit(_logout, client))
        try:
            await asyncio.wait_for(asyncio.shield(logout), self.options.stop_grace_s)
        except TimeoutError:
            _shutdown(client)
        finally:
            self._stop.clear()

    def _set_connected(self, connected: bool) -> None:
        self._status.connected = connected
        self._connected.set(1 if connected else 0)

    # -- one round over the folders --------------------------------------------------------

    async def _round(self, client: IMAPClient) -> str | None:
        """Deliver what is new in every folder; the folder to IDLE on (the first present)."""
        idle_folder: str | None = None
        for folder in self.config.folders:
            selected = await self._call(_select, client, folder)
            if isinstance(selected, str):
                self._folder_missing(folder, selected)
                continue
            self._status.missing.discard(folder)
            idle_folder = idle_folder or folder
            await self._sync_folder(client, folder, selected)
        self._lag.set(sum(self._status.pending.values()))
        return idle_folder

    async def _sync_folder(self, client: IMAPClient, folder: str, selected: _Selected) -> None:
        uidvalidity = selected.uidvalidity
        checkpoint = await self.store.get(self.name, folder)
        if checkpoint is None or checkpoint.uidvalidity != uidvalidity:
            if checkpoint is not None:
                log.warning(
                    "imap UIDVALIDITY changed; resynchronising the folder, skipping seen messages",
                    extra={"mailbox_label": self.name, "folder": folder},
                )
            await self.store.reset(self.name, folder, uidvalidity)
            last_uid = 0
        else:
            last_uid = checkpoint.last_uid
        uids = await self._call(_uids_after, client, last_uid)
        self._uidnext[folder] = max(selected.uidnext or 0, last_uid + 1, *(u + 1 for u in uids))
        self._status.pending[folder] = len(uids)
        self._lag.set(sum(self._status.pending.values()))
        batches, sizes = await self._call(self._batches, client, uids)
        for batch in batches:
            whole = [uid for uid in batch if not self._too_large(sizes.get(uid, 0))]
            messages = await self._call(_fetch_bodies, client, whole) if whole else {}
            for uid in batch:
                if self._too_large(sizes.get(uid, 0)):
                    await self._keep_too_large(client, folder, uidvalidity, uid, sizes[uid])
                elif (raw := messages.get(uid)) is None:  # expunged since; UIDs are not reused
                    self._messages["vanished"].inc()
                else:
                    await self._deliver(folder, uidvalidity, uid, raw)
                self._status.pending[folder] -= 1
                self._lag.set(sum(self._status.pending.values()))

    async def _deliver(self, folder: str, uidvalidity: int, uid: int, raw: bytes) -> None:
        key = self._key(raw)
        if await self.store.seen(self.name, key):
            await self.store.advance(self.name, folder, uidvalidity, uid)
            self._messages["duplicate"].inc()
            return
        tried = await self.store.attempt(self.name, folder, uidvalidity, uid)
        if tried.attempts > self.options.max_attempts:
            detail = f"failed {tried.attempts - 1} times; last: {tried.last_error or 'a crash'}"
            await self._give_up(
                KeptMessage(raw, self.config, folder, uid, "delivery_failed", detail[:1000]),
                uidvalidity,
                key,
            )
            return
        try:
            await self.sink(raw, self.config, folder)
        except BrokerUnavailable as exc:
            await self.store.attempt_failed(self.name, folder, uid, None, counts=False)
            self._messages["deferred"].inc()
            log.warning(
                "broker unavailable; imap round stops, checkpoint kept",
                extra={"mailbox_label": self.name, "folder": folder, "error": str(exc)},
            )
            raise _RoundDeferred from exc
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
            await self.store.attempt_failed(self.name, folder, uid, error)
            self._messages["failed"].inc()
            log.exception(
                "imap sink failed; message retried later",
                extra={
                    "mailbox_label": self.name,
                    "folder": folder,
                    "uid": uid,
                    "attempt": tried.attempts,
                    "max_attempts": self.options.max_attempts,
                },
            )
            raise _RoundDeferred from exc
        await finished(self.store.advance(self.name, folder, uidvalidity, uid, key))
        self._messages["delivered"].inc()

    def _too_large(self, size: int) -> bool:
        limit = self.options.max_message_bytes
        return limit is not None and size > limit

    async def _keep_too_large(
        self, client: IMAPClient, folder: str, uidvalidity: int, uid: int, size: int
    ) -> None:
        prefix = await self._call(_fetch_prefix, client, uid, self.options.kept_prefix_bytes)
        if prefix is None:
            self._messages["vanished"].inc()
            return
        detail = f"{size} bytes (RFC822.SIZE), limit {self.options.max_message_bytes}"
        kept = KeptMessage(prefix, self.config, folder, uid, "too_large", detail, size)
        await self._give_up(kept, uidvalidity, self._key(prefix), outcome="too_large")

    async def _give_up(
        self, kept: KeptMessage, uidvalidity: int, key: str, *, outcome: str = "gave_up"
    ) -> None:
        """Keep the message as rejected and move the checkpoint past it."""
        if self.keep is not None:
            try:
                await self.keep(kept)
            except BrokerUnavailable as exc:
                self._messages["deferred"].inc()
                raise _RoundDeferred from exc
        log.error(
            "imap message kept as rejected; the mailbox moves on",
            extra={
                "mailbox_label": self.name,
                "folder": kept.folder,
                "uid": kept.uid,
                "reason": kept.reason,
                "detail": kept.detail,
                "kept": self.keep is not None,
            },
        )
        await finished(self.store.advance(self.name, kept.folder, uidvalidity, kept.uid, key))
        self._messages[outcome].inc()

    def _folder_missing(self, folder: str, error: str | None) -> None:
        self._status.pending.pop(folder, None)
        if folder not in self._status.missing:
            self._status.missing.add(folder)
            log.warning(
                "imap folder not found; skipped",
                extra={"mailbox_label": self.name, "folder": folder, "error": error},
            )

    def _key(self, raw: bytes) -> str:
        try:
            return self.key_of(raw)
        except Exception:
            log.exception(
                "message key failed; using a content hash", extra={"mailbox_label": self.name}
            )
            return _fallback_key(raw)

    async def _wait(self, client: IMAPClient, idle_folder: str | None) -> None:
        cfg = self.config
        if cfg.idle and idle_folder is not None and await self._call(_can_idle, client):
            present = len(cfg.folders) - len(self._status.missing)
            window = (
                cfg.idle_timeout_s if present <= 1 else min(cfg.idle_timeout_s, cfg.poll_interval_s)
            )
            await self._call(self._idle, client, idle_folder, window, self._uidnext[idle_folder])
        else:
            await asyncio.sleep(cfg.poll_interval_s)

    # -- blocking IMAP calls (run on the mailbox's thread) ---------------------------------

    def _connect(self) -> IMAPClient:
        cfg, opts = self.config, self.options
        timeout = SocketTimeout(connect=opts.connect_timeout_s, read=opts.read_timeout_s)
        # Verifies the certificate and the host name; `ca_file` replaces the system's CAs.
        context = ssl.create_default_context(cafile=cfg.ca_file)
        client = IMAPClient(
            cfg.host,
            cfg.port,
            ssl=cfg.security == "tls",
            ssl_context=context if cfg.security == "tls" else None,
            timeout=timeout,
        )
        try:
            if cfg.security == "starttls":
                client.starttls(context)
            if cfg.oauth2_token is not None:
                client.oauth2_login(cfg.username, cfg.oauth2_token.get_secret_value())
            elif cfg.password is not None:
                client.login(cfg.username, cfg.password.get_secret_value())
        except BaseException:
            _shutdown(client)
            raise
        return client

    def _batches(
        self, client: IMAPClient, uids: list[int]
    ) -> tuple[list[list[int]], dict[int, int]]:
        """Split by count and by size (RFC822.SIZE) so a few huge messages fit in memory;
        and each message's size."""
        opts = self.options
        batches: list[list[int]] = []
        all_sizes: dict[int, int] = {}
        for chunk in _chunks(uids, 1000):
            sizes = client.fetch(chunk, [_SIZE])
            current: list[int] = []
            total = 0
            for uid in chunk:
                size = int(sizes.get(uid, {}).get(_SIZE, 0))
                all_sizes[uid] = size
                if self._too_large(size):
                    size = 0  # only its first bytes are fetched
                if current and (len(current) >= opts.batch_size or total + size > opts.batch_bytes):
                    batches.append(current)
                    current, total = [], 0
                current.append(uid)
                total += size
            if current:
                batches.append(current)
        return batches, all_sizes

    def _idle(self, client: IMAPClient, folder: str, window: float, uidnext: int) -> bool:
        """IDLE on `folder` until EXISTS, the window ends, or the poller stops; True if woken.

        Mail that arrived since the round's search does not announce itself in IDLE: the
        folder's UIDNEXT tells, and then there is no IDLE at all.
        """
        info = client.select_folder(folder, readonly=True)
        if int(info.get(b"UIDNEXT", 0)) > uidnext:
            return True
        client.idle()
        deadline = time.monotonic() + window
        early_empty = 0
        woken = False
        while not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            step = min(1.0, remaining)
            started = time.monotonic()
            responses = client.idle_check(timeout=step)
            if any(_is_bye(r) for r in responses):
                raise IdleConnectionLost("server closed the connection during IDLE")
            if any(len(r) > 1 and r[1] == b"EXISTS" for r in responses):
                woken = True
                break
            # idle_check() swallows EOF and returns at once with nothing: a dead connection.
            if not responses and time.monotonic() - started < step / 2:
                early_empty += 1
                if early_empty >= 3:
                    raise IdleConnectionLost("connection closed during IDLE")
            else:
                early_empty = 0
        client.idle_done()
        return woken


def _select(client: IMAPClient, folder: str) -> _Selected | str:
    """The folder, selected read-only; why not, when the server has no such folder."""
    try:
        info = client.select_folder(folder, readonly=True)
    except IMAPClientAbortError:
        raise
    except IMAPClientError as exc:  # NO: the server has no such folder (or may not open it)
        return str(exc)
    uidnext = info.get(b"UIDNEXT")
    return _Selected(int(info[b"UIDVALIDITY"]), int(uidnext) if uidnext is not None else None)


def _flagged_sent(client: IMAPClient, folders: Sequence[str]) -> frozenset[str]:
    """The configured folders that the server's LIST flags \\Sent (one LIST per folder, so a
    mailbox with thousands of folders costs no more than its configuration)."""
    found: set[str] = set()
    for folder in folders:
        try:
            listed = client.list_folders(pattern=folder)
        except IMAPClientAbortError:
            raise
        except IMAPClientError:
            continue
        if any(name == folder and _SENT_FLAG in flags for flags, _, name in listed):
            found.add(folder)
    return frozenset(found)


def _uids_after(client: IMAPClient, last_uid: int) -> list[int]:
    # `UID n:*` always matches the highest UID, even when it is below n: filter.
    found = client.search(["UID", f"{last_uid + 1}:*"])
    return sorted(uid for uid in found if uid > last_uid)


def _fetch_bodies(client: IMAPClient, uids: list[int]) -> dict[int, bytes]:
    response = client.fetch(uids, [b"BODY.PEEK[]", _SIZE])
    return {uid: data[_BODY] for uid, data in response.items() if _BODY in data}


def _fetch_prefix(client: IMAPClient, uid: int, length: int) -> bytes | None:
    """The first `length` bytes of a message (a partial FETCH: the rest stays on the server)."""
    response = client.fetch([uid], [f"BODY.PEEK[]<0.{length}>"])
    data = response.get(uid)
    if not data:
        return None
    for name, value in data.items():
        if isinstance(name, bytes) and name.startswith(b"BODY[]") and isinstance(value, bytes):
            return value
    return None


def _can_idle(client: IMAPClient) -> bool:
    return bool(client.has_capability("IDLE"))


def _is_bye(response: tuple[Any, ...]) -> bool:
    return bool(response) and response[0] == b"BYE"


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _logout(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:  # the connection is often already gone
        _shutdown(client)


def _shutdown(client: IMAPClient) -> None:
    with contextlib.suppress(Exception):
        client.shutdown()


def _shutdown_when_connected(future: Future[IMAPClient]) -> None:
    if not future.cancelled() and future.exception() is None:
        _shutdown(future.result())


class ImapIntake:
    """One poller per mailbox, run only while this replica holds the mailbox's lease
    (`ingest_mail.leases`); status for /mailboxes and metrics."""

    def __init__(
        self,
        mailboxes: Sequence[MailboxConfig],
        store: CheckpointStore,
        sink: Sink,
        *,
        key_of: KeyOf,
        options: PollerOptions | None = None,
        keep: Keep | None = None,
        leases: LeaseOptions | None = None,
    ) -> None:
        self.pollers = [
            MailboxPoller(config, store, sink, key_of=key_of, options=options, keep=keep)
            for config in mailboxes
        ]
        by_name = {poller.name: poller for poller in self.pollers}
        self.keeper = LeaseKeeper(
            Leases(store.engine, store.holder),
            list(by_name),
            lambda name: by_name[name].run(),
            leases or LeaseOptions(),
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.keeper.keep(), name="imap-leases")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    def status(self) -> list[MailboxStatus]:
        held = self.keeper.held()
        return [poller.status(polling=poller.name in held) for poller in self.pollers]

    def is_sent_folder(self, mailbox: str, folder: str) -> bool:
        """Whether `folder` of the mailbox named `mailbox` holds what it sent."""
        return any(p.name == mailbox and p.is_sent_folder(folder) for p in self.pollers)

    async def ready(self) -> bool:
        """Every mailbox this replica polls has a live session (true with none)."""
        return all(status.connected for status in self.status() if status.polling)
