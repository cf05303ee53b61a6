"""Hostile mail against a real ingest-mail process and the real broker: a MIME bomb does not
freeze the service, it is refused naming the cap and kept whole for replay; a parse that runs
too long or needs too much memory costs one worker, not the service; and the service does not
start with an open HTTP intake."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import smtplib
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from support.conditions import until
from support.ports import free_port
from switchboard_shared.cloudevents import decode
from switchboard_shared.events import IngestRejected
from switchboard_shared.intake import GZIP_BASE64, kept_body
from switchboard_shared.settings import DEVELOPMENT_SECRETS
from switchboard_shared.topics import INGEST_REJECTED

pytestmark = pytest.mark.integration

TOKEN = "mail-http-token-0123456789abcdef"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "message/rfc822"}
URL = "/messages?mailbox=sales@acme.test"


@dataclass
class MailServer:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def server_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "INGEST_MAIL_"))
    }
    env.update(
        {
            "SWITCHBOARD_OWN_DOMAINS": "acme.test",
            "SWITCHBOARD_LOG_FORMAT": "json",
            "INGEST_MAIL_LMTP_PORT": "0",
            "INGEST_MAIL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'ingest-mail.db'}",
            "INGEST_MAIL_HTTP_TOKEN": TOKEN,
        }
    )
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def start_server(tmp_path: Path, bootstrap: str, **overrides: str) -> MailServer:
    """`python -m ingest_mail`, as deployed; returns once /readyz answers 200."""
    port = free_port()
    env = server_env(
        tmp_path, SWITCHBOARD_KAFKA_BOOTSTRAP=bootstrap, INGEST_MAIL_PORT=str(port), **overrides
    )
    log_path = tmp_path / f"ingest-mail-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "ingest_mail"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = MailServer(process, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise AssertionError(f"ingest-mail exited:\n{server.log()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                return server
        if time.monotonic() > deadline:
            stop_server(server)
            raise AssertionError(f"ingest-mail not ready:\n{server.log()}")
        time.sleep(0.1)


def stop_server(server: MailServer) -> None:
    process = server.process
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.asynccontextmanager
async def mail_server(
    tmp_path: Path, bootstrap: str, **overrides: str
) -> AsyncIterator[MailServer]:
    server = await asyncio.to_thread(start_server, tmp_path, bootstrap, **overrides)
    try:
        yield server
    finally:
        await asyncio.to_thread(stop_server, server)


def part_bomb(parts: int) -> bytes:
    head = (
        b"From: Mallory <m@evil.example>\r\nTo: sales@acme.test\r\nSubject: bomb\r\n"
        b"Message-ID: <" + uuid.uuid4().hex.encode() + b"@evil.example>\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    )
    return head + b"--b\r\n\r\n" * parts + b"--b--\r\n"


def message(subject: str, attachment: bytes = b"") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ann Client <ann@client.example>"
    msg["To"] = "sales@acme.test"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@client.example>"
    msg.set_content("Hello")
    if attachment:
        msg.add_attachment(
            attachment, maintype="application", subtype="octet-stream", filename="a.bin"
        )
    return msg.as_bytes()


async def rejected_event(bootstrap: str, event_id: str) -> IngestRejected:
    consumer = AIOKafkaConsumer(
        INGEST_REJECTED.name,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"t-{uuid.uuid4().hex}",
        fetch_max_bytes=8_000_000,
        max_partition_fetch_bytes=8_000_000,
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    headers = dict(record.headers or ())
                    if headers.get("ce_id", b"").decode() != event_id:
                        continue
                    _, event = decode(record.headers, record.value)
                    assert isinstance(event, IngestRejected)
                    return event
    finally:
        await consumer.stop()
    raise AssertionError(f"{event_id} not found on {INGEST_REJECTED.name}")


@contextlib.asynccontextmanager
async def health_probe(url: str) -> AsyncIterator[list[float]]:
    """Ask /healthz every 100 ms while the block runs; the answer times (a timeout: inf)."""
    latencies: list[float] = []
    stop = asyncio.Event()

    async def probe() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=5) as client:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    response = await client.get("/healthz")
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.monotonic() - started if ok else float("inf"))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.1)

    task = asyncio.create_task(probe())
    try:
        yield latencies
    finally:
        stop.set()
        await task


def metric_value(text: str, sample: str) -> float:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    return 0.0


async def test_a_mime_bomb_is_refused_kept_whole_and_health_stays_answered(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    bomb = part_bomb(3_000_000)  # 21 MB of empty parts
    async with (
        mail_server(tmp_path, kafka_bootstrap) as server,
        httpx.AsyncClient(base_url=server.url, timeout=120) as client,
        health_probe(server.url) as latencies,
    ):
        await until(lambda: len(latencies) >= 2, "two health answers before the bomb", 10)
        response = await client.post(URL, content=bomb, headers=HEADERS)
        after = await client.post(URL, content=message("after the bomb"), headers=HEADERS)
        metrics = (await client.get("/metrics")).text

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["reason"] == "too_many_parts"
    assert "too_many_parts" in problem["detail"]
    assert after.status_code == 200, after.text
    assert len(latencies) >= 3
    assert max(latencies) < 1.0, latencies
    assert metric_value(metrics, 'ingest_mail_rejected_total{reason="too_many_parts"}') == 1

    kept = await rejected_event(kafka_bootstrap, problem["rejected_event_id"])
    assert kept.reason == "too_many_parts"
    assert kept.source == "ingest-mail/http"
    assert kept.body_encoding == GZIP_BASE64
    assert not kept.truncated
    assert kept.body_bytes == len(bomb)
    assert kept_body(kept) == bomb


async def test_a_parse_over_the_time_limit_costs_one_worker(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    slow = message("slow", os.urandom(15_000_000))  # about a second of parsing
    async with (
        mail_server(
            tmp_path,
            kafka_bootstrap,
            INGEST_MAIL_PARSE_TIMEOUT_S="0.2",
            INGEST_MAIL_PARSE_WORKERS="1",
        ) as server,
        httpx.AsyncClient(base_url=server.url, timeout=60) as client,
    ):
        refused = await client.post(URL, content=slow, headers=HEADERS)
        after = await client.post(URL, content=message("next"), headers=HEADERS)
        metrics = (await client.get("/metrics")).text
    assert refused.status_code == 422, refused.text
    assert refused.json()["reason"] == "parse_timeout"
    assert after.status_code == 200, after.text  # a fresh worker took the next message
    assert metric_value(metrics, 'ingest_mail_parse_worker_restarts_total{reason="parse_timeout"}')
    kept = await rejected_event(kafka_bootstrap, refused.json()["rejected_event_id"])
    assert kept.reason == "parse_timeout"
    assert kept_body(kept)[:2000] == slow[:2000]


async def test_a_parse_over_the_memory_limit_costs_one_worker(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    big = message("big", os.urandom(15_000_000))  # needs about 200 MB to parse
    async with (
        mail_server(
            tmp_path,
            kafka_bootstrap,
            INGEST_MAIL_PARSE_WORKER_MEMORY_MB="120",
            INGEST_MAIL_PARSE_WORKERS="1",
        ) as server,
        httpx.AsyncClient(base_url=server.url, timeout=60) as client,
    ):
        refused = await client.post(URL, content=big, headers=HEADERS)
        after = await client.post(URL, content=message("next"), headers=HEADERS)
        health = await client.get("/healthz")
    assert refused.status_code == 422, refused.text
    assert refused.json()["reason"] == "parse_resources"
    assert after.status_code == 200, after.text
    assert health.status_code == 200


def lmtp_deliver(port: int, raw: bytes) -> tuple[int, str]:
    with smtplib.LMTP("127.0.0.1", port) as client:
        client.ehlo_or_helo_if_needed()
        client.mail("mallory@evil.example")
        assert client.rcpt("sales@acme.test")[0] == 250
        code, text = client.data(raw)
    return code, text.decode()


def peak_rss_mib(pid: int) -> float:
    """The process's resident high-water mark (VmHWM), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


async def test_a_part_bomb_over_lmtp_is_read_in_bulk(kafka_bootstrap: str, tmp_path: Path) -> None:
    """1.5 million short lines: aiosmtpd's line-at-a-time reader held the loop ~30 s and took
    ~720 MiB before the caps could even look at the message."""
    bomb = part_bomb(1_500_000).replace(b"--b\r\n\r\n", b"--b\r\nX: y\r\n\r\n")
    port = free_port()
    async with (
        mail_server(tmp_path, kafka_bootstrap, INGEST_MAIL_LMTP_PORT=str(port)) as server,
        health_probe(server.url) as latencies,
    ):
        await until(lambda: len(latencies) >= 2, "two health answers before the bomb", 10)
        code, text = await asyncio.to_thread(lmtp_deliver, port, bomb)
        after = await asyncio.to_thread(lmtp_deliver, port, message("after the bomb"))
        peak = peak_rss_mib(server.process.pid)
    assert code == 554, text
    assert "too_many_parts" in text
    assert after[0] == 250, after
    assert max(latencies) < 1.0, latencies
    assert peak < 300, f"ingest-mail peaked at {peak:.0f} MiB"


def start_and_wait(tmp_path: Path, **overrides: str) -> subprocess.CompletedProcess[str]:
    env = server_env(tmp_path, INGEST_MAIL_PORT=str(free_port()), **overrides)
    env.pop("INGEST_MAIL_HTTP_TOKEN", None)
    env.update(overrides)
    return subprocess.run(
        [sys.executable, "-m", "ingest_mail"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    result = start_and_wait(tmp_path)
    assert result.returncode != 0
    assert "INGEST_MAIL_HTTP_TOKEN is not set" in result.stderr
    assert "INGEST_MAIL_HTTP_ANONYMOUS" in result.stderr
    empty = start_and_wait(tmp_path, INGEST_MAIL_HTTP_TOKEN="")
    assert empty.returncode != 0
    assert "INGEST_MAIL_HTTP_TOKEN is not set" in empty.stderr


def test_refuses_the_development_token_outside_development(tmp_path: Path) -> None:
    dev = DEVELOPMENT_SECRETS["INGEST_MAIL_HTTP_TOKEN"]
    result = start_and_wait(tmp_path, INGEST_MAIL_HTTP_TOKEN=dev)
    assert result.returncode != 0
    assert "INGEST_MAIL_HTTP_TOKEN is the development value" in result.stderr
    assert dev not in result.stderr  # the value itself is never echoed


async def test_anonymous_on_purpose_serves_without_a_token(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    async with (
        mail_server(
            tmp_path, kafka_bootstrap, INGEST_MAIL_HTTP_TOKEN="", INGEST_MAIL_HTTP_ANONYMOUS="true"
        ) as server,
        httpx.AsyncClient(base_url=server.url) as client,
    ):
        response = await client.post(
            URL, content=message("anonymous"), headers={"Content-Type": "message/rfc822"}
        )
    assert response.status_code == 200, response.text


async def test_an_oversized_body_is_refused_before_it_is_read_and_answers_carry_headers(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    async with (
        mail_server(tmp_path, kafka_bootstrap, INGEST_MAIL_MAX_MESSAGE_BYTES="100000") as server,
        httpx.AsyncClient(base_url=server.url) as client,
    ):
        declared = await client.post(
            URL, content=b"x" * 200_000, headers={"Content-Type": "message/rfc822"}
        )
        health = await client.get("/healthz")
        docs = await client.get("/docs")
    assert declared.status_code == 413
    assert health.headers.get("x-content-type-options") == "nosniff"
    assert "cdn" not in docs.text.lower()
