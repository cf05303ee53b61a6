"""What every attack runs under: a health watch on every service and a memory watch on every
process tree, and the raw HTTP an outsider speaks (headers without a body, endless chunks,
bodies trickled a byte at a time).

`Siege` is the measuring part: while it runs, one thread per service opens a fresh connection to
`/healthz` every `HEALTH_INTERVAL_S` (as a kubelet probe does) and records the slowest answer
and every miss (no 200 within `HEALTH_DEADLINE_S`); `support.proc.MemoryWatch` records each
tree's peak resident growth. After the block, `Siege.check` asserts that no service missed two
probes in a row (one lone miss is the scheduler of a loaded machine, and is still reported) and
that no tree grew past its bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.client
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from support.proc import MemoryWatch
from support.stack import Stack

MiB = 1024 * 1024
HEALTH_INTERVAL_S = 0.2
HEALTH_DEADLINE_S = 1.0
# Peak resident growth allowed during one attack, per service (its process and children). Well
# under the k8s limits (512 MiB for the ingests and the classifier, 1 GiB for crm-store), and
# far under what the attacks cost before the fixes (crm-store 971 MB for one 256 MiB body,
# ingest-mail 440-745 MB for a part bomb). ingest-mail holds a whole message (up to 25 MB)
# in the service and a copy in a parse worker, so it gets more room.
GROWTH_BOUNDS = {
    "ingest_calls": 128 * MiB,
    "ingest_mail": 256 * MiB,
    "classifier": 128 * MiB,
    "crm_store": 128 * MiB,
}


@dataclass
class Health:
    """One service's `/healthz` during an attack.

    `misses` are the probes that failed or took over a second. One miss between answered
    probes is scheduling noise on a loaded machine (a kubelet restarts after three in a row);
    two in a row are a stall, and are `failures`.
    """

    polls: int = 0
    worst_s: float = 0.0
    misses: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


class HealthWatch:
    def __init__(self, ports: dict[str, int]) -> None:
        self.ports = ports
        self.health = {name: Health() for name in ports}
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._poll, args=(name,), name=f"health-{name}", daemon=True)
            for name in ports
        ]

    def __enter__(self) -> HealthWatch:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _poll(self, name: str) -> None:
        health = self.health[name]
        missed = False
        while True:
            started = time.monotonic()
            problem = probe(self.ports[name])
            elapsed = time.monotonic() - started
            health.polls += 1
            health.worst_s = max(health.worst_s, elapsed)
            if problem is None and elapsed > HEALTH_DEADLINE_S:
                problem = f"answered after {elapsed:.2f}s"
            if problem is not None:
                entry = f"{time.strftime('%H:%M:%S')} {problem}"
                if missed:  # the probe before missed too: a stall, not a hiccup
                    health.failures.append(entry)
                health.misses.append(entry)
            missed = problem is not None
            # After the attack, a service whose last probe missed must answer the next one.
            if self._stop.wait(max(0.0, HEALTH_INTERVAL_S - elapsed)) and not missed:
                return


def probe(port: int) -> str | None:
    """GET /healthz on a fresh connection; None when it answered 200."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=HEALTH_DEADLINE_S)
    try:
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        response.read()
    except (OSError, http.client.HTTPException) as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        connection.close()
    return None if response.status == 200 else f"status {response.status}"


@dataclass
class Siege:
    """The measurements of one attack (filled when its block ends)."""

    name: str
    health: dict[str, Health] = field(default_factory=dict)
    growth: dict[str, int] = field(default_factory=dict)
    peak: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        late = sum(len(h.misses) for h in self.health.values())
        return {
            "name": self.name,
            "seconds": round(self.seconds, 2),
            "worst_health_s": {n: round(h.worst_s, 3) for n, h in self.health.items()},
            "growth_mib": {n: round(g / MiB, 1) for n, g in self.growth.items()},
            "peak_mib": {n: round(p / MiB, 1) for n, p in self.peak.items()},
            "health_polls": sum(h.polls for h in self.health.values()),
            **({"late_probes": late} if late else {}),
            **self.notes,
        }

    def check(self, bounds: dict[str, int] | None = None) -> None:
        failures = {n: h.failures for n, h in self.health.items() if h.failures}
        assert not failures, (
            f"{self.name}: /healthz missed its 1 s deadline twice or more in a row: "
            f"{ {n: h.misses for n, h in self.health.items() if h.failures} }"
        )
        assert all(h.polls for h in self.health.values()), f"{self.name}: no health polls"
        limits = {**GROWTH_BOUNDS, **(bounds or {})}
        over = {
            n: f"{g / MiB:.0f} MiB > {limits[n] / MiB:.0f} MiB"
            for n, g in self.growth.items()
            if g > limits[n]
        }
        assert not over, f"{self.name}: resident memory grew too much: {over}"


@contextmanager
def besieging(stack: Stack, name: str) -> Iterator[Siege]:
    """Watch every service's health and memory while the block attacks it."""
    siege = Siege(name)
    pids = {}
    for module, service in stack.services.items():
        assert service.process is not None
        assert service.process.poll() is None, f"{module} exited:\n{service.log_tail()}"
        pids[module] = service.process.pid
    ports = {module: service.port for module, service in stack.services.items()}
    started = time.monotonic()
    memory = MemoryWatch(pids)
    health = HealthWatch(ports)
    try:
        with memory, health:
            yield siege
    finally:
        siege.seconds = time.monotonic() - started
        siege.health = health.health
        siege.growth = memory.growth()
        siege.peak = dict(memory.peak)


# -- raw HTTP ----------------------------------------------------------------------------------


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    after_s: float = 0.0
    sent: int = 0


def read_answer(sock: socket.socket, timeout: float = 10.0) -> Answer:
    """The server's answer on `sock` (whatever the request was; its body may never be sent)."""
    started = time.monotonic()
    sock.settimeout(timeout)
    response = http.client.HTTPResponse(sock, method="POST")
    response.begin()
    try:
        body = response.read()
    except (http.client.IncompleteRead, ConnectionResetError) as exc:
        body = getattr(exc, "partial", b"")
    headers = {k.lower(): v for k, v in response.getheaders()}
    return Answer(response.status, headers, body, time.monotonic() - started)


def answer_without_body(
    port: int, method: str, path: str, headers: dict[str, str], timeout: float = 5.0
) -> Answer:
    """Send only the request head (it announces a body) and read the answer: a server that
    waits for the body before answering times out here."""
    with connect(port) as sock:
        sock.sendall(head(method, path, headers))
        return read_answer(sock, timeout)


def stream_until_answered(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str],
    *,
    total: int,
    chunk: bytes,
    chunked: bool = True,
    stall_s: float = 10.0,
) -> Answer:
    """Send a body of up to `total` bytes (chunked, or under the declared Content-Length) and
    stop as soon as the server answers or closes. `Answer.sent` is how much went out: a server
    that stops a body at its limit answers long before `total`. A server that neither reads
    nor answers for `stall_s` fails the attack."""
    if chunked:
        headers = {**headers, "Transfer-Encoding": "chunked"}
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    else:
        frame = chunk
    sock = connect(port)
    try:
        sock.sendall(head(method, path, headers))
        sock.setblocking(False)
        sent = 0
        pending = b""
        poller = select.poll()
        poller.register(sock, select.POLLIN | select.POLLOUT)
        while sent < total or pending:
            events = poller.poll(stall_s * 1000)
            if not events:
                raise AssertionError(f"the server neither read nor answered for {stall_s}s")
            if events[0][1] & (select.POLLIN | select.POLLHUP | select.POLLERR):
                break
            if not pending:
                pending = frame
                sent += len(chunk)
            try:
                pending = pending[sock.send(pending) :]
            except (BrokenPipeError, ConnectionResetError):
                break
        else:
            if chunked:
                sock.setblocking(True)
                sock.sendall(b"0\r\n\r\n")
        sock.setblocking(True)
        answer = read_answer(sock)
        answer.sent = sent
        return answer
    finally:
        sock.close()


class Trickle:
    """`count` connections that each send `request` (a request head, perhaps with the start of
    a body) and then one byte of `filler` per `tick()`: the slow client that holds a server's
    connection as long as it can. Connections the server answers or closes are counted."""

    def __init__(self, port: int, request: bytes, filler: bytes, count: int) -> None:
        self.port = port
        self.request = request
        self.filler = filler
        self.count = count
        self.open: dict[socket.socket, int] = {}
        self.ended = 0

    def __enter__(self) -> Trickle:
        self.grow(self.count)
        return self

    def grow(self, count: int) -> None:
        """Open `count` more connections."""
        for _ in range(count):
            sock = connect(self.port)
            sock.sendall(self.request)
            sock.setblocking(False)
            self.open[sock] = 0

    def __exit__(self, *_: object) -> None:
        for sock in self.open:
            sock.close()
        self.open.clear()

    def tick(self) -> None:
        """Every connection still open sends one more byte; those the server ended are closed."""
        poller = select.poll()
        by_fd = {}
        for sock in self.open:
            poller.register(sock, select.POLLIN)
            by_fd[sock.fileno()] = sock
        for fd, _ in poller.poll(0):
            self._end(by_fd[fd])
        for sock, offset in list(self.open.items()):
            try:
                sock.send(self.filler[offset % len(self.filler) : offset % len(self.filler) + 1])
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                self._end(sock)
                continue
            self.open[sock] = offset + 1

    def _end(self, sock: socket.socket) -> None:
        del self.open[sock]
        sock.close()
        self.ended += 1


# -- LMTP ----------------------------------------------------------------------------------------


class Lmtp:
    """A plain LMTP client (RFC 2033): one reply per accepted recipient after DATA."""

    def __init__(self, port: int, timeout: float = 60.0) -> None:
        self.sock = connect(port, timeout)
        self.file = self.sock.makefile("rb")
        self.reply()  # the greeting
        _, extensions = self.command("LHLO security.test")
        self.takes_size = any(line.upper().startswith("SIZE") for line in extensions.split("\n"))

    def __enter__(self) -> Lmtp:
        return self

    def __exit__(self, *_: object) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(b"QUIT\r\n")
        self.file.close()
        self.sock.close()

    def reply(self) -> tuple[int, str]:
        lines = []
        while True:
            line = self.file.readline()
            if not line:
                raise ConnectionError("the LMTP server closed the connection")
            lines.append(line[4:].decode(errors="replace").rstrip())
            if line[3:4] != b"-":
                return int(line[:3]), "\n".join(lines)

    def command(self, line: str) -> tuple[int, str]:
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()

    def deliver(
        self, sender: str, recipients: list[str], raw: bytes, *, declare_size: bool = True
    ) -> list[tuple[int, str]]:
        """MAIL (with SIZE= when the server takes it, as Postfix does), RCPT for each recipient,
        DATA: one reply per accepted recipient (or the reply refusing MAIL or DATA). Deliver an
        over-large message to one recipient: a server may refuse it with one reply for all."""
        data = dot_stuffed(raw)
        size = f" SIZE={len(data)}" if declare_size and self.takes_size else ""
        code, text = self.command(f"MAIL FROM:<{sender}>{size}")
        if code != 250:
            return [(code, text)]
        accepted = sum(self.command(f"RCPT TO:<{r}>")[0] == 250 for r in recipients)
        code, text = self.command("DATA")
        if code != 354:
            return [(code, text)]
        self.sock.sendall(data + b".\r\n")
        return [self.reply() for _ in range(accepted)]


@functools.lru_cache(maxsize=2)  # parallel deliveries of one message stuff it once
def dot_stuffed(raw: bytes) -> bytes:
    text = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if not text.endswith(b"\r\n"):
        text += b"\r\n"
    text = text.replace(b"\r\n.", b"\r\n..")
    return b".." + text[1:] if text.startswith(b".") else text


# -- what the services say about themselves ------------------------------------------------------


def metric(port: int, name: str, **labels: str) -> float:
    """One sample of a service's /metrics (0 when absent)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "")
    match = re.search(rf"^{pattern} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def read_topic(
    bootstrap: str, topic: str, stop: Callable[[list[Any]], bool], timeout: float = 30.0
) -> list[Any]:
    """Every record of `topic`, read from the start to at least its end as it was when the read
    began, and on until `stop(records)` holds (or the timeout)."""

    async def read() -> list[Any]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            fetch_max_bytes=64 * MiB,
            max_partition_fetch_bytes=16 * MiB,
        )
        await consumer.start()
        records: list[Any] = []
        try:
            numbers = consumer.partitions_for_topic(topic) or set()
            partitions = [TopicPartition(topic, n) for n in sorted(numbers)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                behind = [p for p in partitions if await consumer.position(p) < ends[p]]
                if not behind and stop(records):
                    break
                batch = await consumer.getmany(timeout_ms=200)
                for part in batch.values():
                    records += part
        finally:
            await consumer.stop()
        return records

    return asyncio.run(read())
