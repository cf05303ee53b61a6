"""Parsing off the event loop, in worker processes that a hostile message can only kill.

Parsing is CPU work on untrusted input: on the event loop, one MIME bomb kept `/healthz`
unanswered for 42 s. Here each of `workers` slots owns one worker process that parses one
message at a time; the loop only waits on a pipe (from a thread). Per message:

- the caps (`domain/limits.py`) are checked first, in the worker: the stdlib parser never sees
  a message that breaks one, and the message is refused with the cap's name;
- a parse that runs past `timeout_s` has its worker killed (a process cannot be interrupted
  otherwise) and refused as `parse_timeout`; the slot starts a fresh worker for the next message;
- a worker that dies (its address-space limit `memory_limit_bytes`, or a crash) is refused as
  `parse_resources`: only this message was in that worker, so only it is blamed.

While the pool closes (the service stops), a message whose worker is stopped under it is not
blamed: `parse` raises `ParserUnavailable`, which every door treats like an unavailable broker
(try again later).

Workers fork from a `forkserver` that has the parser imported, so a replacement is ready in
milliseconds and inherits none of the service's threads or sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import resource
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from ingest_mail.domain.limits import LimitExceeded, MimeLimits, applying, check_limits
from ingest_mail.domain.parse import MailboxIdentity, UnparseableMessage, parse_message
from switchboard_shared.events import MailReceived
from switchboard_shared.kafka import BrokerUnavailable

__all__ = ["ParseOptions", "ParserPool", "ParserUnavailable"]

log = logging.getLogger(__name__)

_START_TIMEOUT_S = 60.0
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload([__name__])


@dataclass(frozen=True)
class ParseOptions:
    workers: int = 2
    timeout_s: float = 20.0
    memory_limit_bytes: int | None = 384 * 1024 * 1024
    limits: MimeLimits = field(default_factory=MimeLimits)


@dataclass(frozen=True)
class _Request:
    """What goes with a message to the worker; the message itself follows as raw bytes (no
    pickled copy of it in the service)."""

    mailbox: MailboxIdentity
    folder: str | None
    max_bytes: int
    limits: MimeLimits
    extra: dict[str, Any]


def _parse(request: _Request, raw: bytes) -> tuple[str, Any, str]:
    """In the worker: ("ok", event, ""), or ("rejected", reason, detail)."""
    try:
        check_limits(raw, request.limits)
        with applying(request.limits):
            event = parse_message(
                raw,
                mailbox=request.mailbox,
                folder=request.folder,
                max_bytes=request.max_bytes,
                **request.extra,
            )
    except (LimitExceeded, UnparseableMessage) as exc:
        return "rejected", exc.reason, exc.detail
    except MemoryError:
        return "rejected", "parse_resources", "the worker's memory limit was reached"
    except RecursionError:
        return "rejected", "too_deep", "nesting beyond the parser's recursion limit"
    except Exception as exc:  # a parser bug must not block a mailbox or lose the message
        return "rejected", "parser_error", repr(exc)[:500]
    return "ok", event, ""


def _worker_main(conn: Connection, memory_limit_bytes: int | None) -> None:
    if memory_limit_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))
    conn.send(("ready", None, ""))
    while True:
        try:
            request = conn.recv()
            raw = conn.recv_bytes()
        except (EOFError, OSError):
            return
        except MemoryError:  # the message alone does not fit: say so, then make room
            conn.send(("rejected", "parse_resources", "the message did not fit the worker"))
            return
        outcome = _parse(request, raw)
        del request, raw
        conn.send(outcome)
        if outcome[1] == "parse_resources":
            return  # after a MemoryError the worker's heap is suspect; the slot starts another


class ParserUnavailable(BrokerUnavailable):
    """The pool is closing: the message was not parsed, and nothing may report it as taken."""


class _Slot:
    """One worker process, used by one message at a time (from one thread at a time)."""

    def __init__(self, options: ParseOptions, number: int) -> None:
        self.options = options
        self.number = number
        self.process: BaseProcess | None = None
        self.conn: Connection | None = None

    def ensure_started(self) -> Connection:
        if self.process is not None and self.process.is_alive() and self.conn is not None:
            return self.conn
        self.stop()
        parent, child = _CONTEXT.Pipe()
        process = _CONTEXT.Process(
            target=_worker_main,
            args=(child, self.options.memory_limit_bytes),
            name=f"ingest-mail-parser-{self.number}",
            daemon=True,
        )
        process.start()
        child.close()
        self.process, self.conn = process, parent
        if not parent.poll(_START_TIMEOUT_S):
            self.stop()
            raise RuntimeError("parser worker did not start")
        parent.recv()  # ("ready", ...)
        return parent

    def kill(self) -> None:
        """Kill the worker from another thread; the thread using it sees EOF and cleans up."""
        process = self.process
        if process is not None:
            with contextlib.suppress(Exception):
                process.kill()

    def stop(self) -> None:
        process, conn = self.process, self.conn
        self.process = self.conn = None
        if process is not None and process.is_alive():
            process.kill()
        if process is not None:
            process.join(5)
            with contextlib.suppress(Exception):
                process.close()
        if conn is not None:
            conn.close()

    def run(self, request: _Request, raw: bytes) -> tuple[str, Any, str]:
        """Blocking: parse in this slot's worker, within the time limit."""
        conn = self.ensure_started()
        try:
            conn.send(request)
            conn.send_bytes(raw)
            if not conn.poll(self.options.timeout_s):
                self.stop()
                return "rejected", "parse_timeout", f"over {self.options.timeout_s:g} s"
            outcome: tuple[str, Any, str] = conn.recv()
        except (EOFError, OSError, ValueError, TypeError):  # closed or killed under us
            code = self.process.exitcode if self.process is not None else None
            self.stop()
            return "rejected", "parse_resources", f"the parser worker died (exit code {code})"
        return outcome


class ParserPool:
    """`await pool.parse(raw, ...)`: a `MailReceived`, or `UnparseableMessage` with the reason."""

    def __init__(self, options: ParseOptions) -> None:
        self.options = options
        self._slots: asyncio.Queue[_Slot] | None = None
        self._all: list[_Slot] = []
        self._threads: ThreadPoolExecutor | None = None
        self._closing = False

    async def start(self) -> None:
        """Start the workers now, so the first message does not wait for them."""
        self._closing = False
        self._ensure_open()
        assert self._threads is not None
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(self._threads, slot.ensure_started) for slot in self._all)
        )

    def _ensure_open(self) -> asyncio.Queue[_Slot]:
        if self._slots is None:
            self._slots = asyncio.Queue()
            self._all = [_Slot(self.options, n) for n in range(self.options.workers)]
            for slot in self._all:
                self._slots.put_nowait(slot)
            self._threads = ThreadPoolExecutor(
                max_workers=self.options.workers, thread_name_prefix="mail-parse"
            )
        return self._slots

    async def close(self) -> None:
        self._closing = True
        slots, self._slots = self._slots, None
        threads, self._threads = self._threads, None
        idle = []
        while slots is not None and not slots.empty():
            idle.append(slots.get_nowait())
        for slot in self._all:
            if slot in idle:
                slot.stop()
            else:
                slot.kill()  # the thread waiting on that worker sees EOF at once, and stops it
        self._all = []
        if threads is not None:
            threads.shutdown(wait=False, cancel_futures=True)

    async def parse(
        self,
        raw: bytes,
        *,
        mailbox: MailboxIdentity,
        folder: str | None,
        max_bytes: int,
        **extra: Any,
    ) -> MailReceived:
        if self._closing:
            raise ParserUnavailable("the parser is stopping; try again later")
        slots = self._ensure_open()
        assert self._threads is not None
        request = _Request(mailbox, folder, max_bytes, self.options.limits, extra)
        slot = await slots.get()
        if self._closing:  # closed while this message waited for a worker
            slots.put_nowait(slot)
            raise ParserUnavailable("the parser is stopping; try again later")
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        running = self._threads.submit(slot.run, request, raw)

        def give_back(_: object) -> None:  # only once the thread is done with the worker
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits anymore
                loop.call_soon_threadsafe(slots.put_nowait, slot)

        running.add_done_callback(give_back)
        kind, value, detail = await asyncio.wrap_future(running)
        if self._closing and value == "parse_resources":
            raise ParserUnavailable("the parser is stopping; try again later")
        if kind == "ok":
            assert isinstance(value, MailReceived)
            return value
        if value in ("parse_timeout", "parse_resources"):
            log.warning(
                "parser worker replaced",
                extra={"reason": value, "seconds": round(time.perf_counter() - started, 2)},
            )
        raise UnparseableMessage(str(value), detail)
