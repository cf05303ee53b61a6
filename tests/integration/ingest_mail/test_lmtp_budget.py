"""LMTP holds at most `INGEST_MAIL_MAX_INFLIGHT_BYTES` of mail at once (the real door, a raw
LMTP client, the real broker): a delivery that declares a SIZE that does not fit is told 451 to
DATA before it sends the body; one that runs out of room while sending is read through and told
451 per recipient; the room comes back once a delivery is answered."""

from __future__ import annotations

import asyncio
import socket
import uuid

import pytest

from integration.ingest_mail.test_lmtp_recipients import lmtp_door

pytestmark = pytest.mark.integration

BUDGET = 100_000
OURS = ["sales@acme.test", "ann@acme.test"]


def message(size: int) -> bytes:
    head = (
        b"From: Ann Client <ann@client.example>\r\nTo: sales@acme.test\r\nSubject: budget\r\n"
        b"Message-ID: <" + uuid.uuid4().hex.encode() + b"@client.example>\r\n\r\n"
    )
    line = b"x" * 70 + b"\r\n"
    return head + line * max(1, (size - len(head)) // len(line))


class Client:
    """A plain LMTP client: MAIL (with an optional SIZE), RCPT, DATA, one reply per recipient."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.file = self.sock.makefile("rb")
        self.reply()
        self.command("LHLO budget.test")

    def close(self) -> None:
        self.sock.sendall(b"QUIT\r\n")
        self.file.close()
        self.sock.close()

    def reply(self) -> tuple[int, str]:
        lines = []
        while True:
            line = self.file.readline()
            lines.append(line[4:].decode().rstrip())
            if line[3:4] != b"-":
                return int(line[:3]), " ".join(lines)

    def command(self, line: str) -> tuple[int, str]:
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()

    def start(self, recipients: list[str], size: int | None = None) -> int:
        """Up to DATA; the DATA reply's code."""
        declared = f" SIZE={size}" if size is not None else ""
        assert self.command(f"MAIL FROM:<ann@client.example>{declared}")[0] == 250
        for recipient in recipients:
            assert self.command(f"RCPT TO:<{recipient}>")[0] == 250
        return self.command("DATA")[0]

    def send(self, raw: bytes, recipients: int) -> list[tuple[int, str]]:
        self.sock.sendall(raw + b"\r\n.\r\n")
        return [self.reply() for _ in range(recipients)]


async def test_a_declared_size_that_does_not_fit_is_refused_before_the_body(
    kafka_bootstrap: str,
) -> None:
    async with lmtp_door(
        kafka_bootstrap, max_inflight_bytes=BUDGET, max_message_bytes=BUDGET
    ) as port:
        first = await asyncio.to_thread(Client, port)
        second = await asyncio.to_thread(Client, port)
        try:
            assert await asyncio.to_thread(first.start, OURS[:1], 70_000) == 354
            # 70 000 of 100 000 are held for the first delivery: 50 000 more do not fit
            assert await asyncio.to_thread(second.start, OURS, 50_000) == 451
            [(code, _)] = await asyncio.to_thread(first.send, message(60_000), 1)
            assert code == 250
            # the first delivery was answered: its room is free again
            assert await asyncio.to_thread(second.command, "RSET") == (250, "OK")
            assert await asyncio.to_thread(second.start, OURS, 50_000) == 354
            replies = await asyncio.to_thread(second.send, message(40_000), 2)
            assert [code for code, _ in replies] == [250, 250]
        finally:
            first.close()
            second.close()


async def test_a_body_that_runs_out_of_room_is_read_through_and_refused_per_recipient(
    kafka_bootstrap: str,
) -> None:
    async with lmtp_door(
        kafka_bootstrap, max_inflight_bytes=BUDGET, max_message_bytes=BUDGET
    ) as port:
        first = await asyncio.to_thread(Client, port)
        second = await asyncio.to_thread(Client, port)
        try:
            assert await asyncio.to_thread(first.start, OURS[:1], 90_000) == 354
            assert await asyncio.to_thread(second.start, OURS) == 354  # no SIZE given
            replies = await asyncio.to_thread(second.send, message(30_000), 2)
            assert [code for code, _ in replies] == [451, 451]
            assert all("4.3.1" in text for _, text in replies)
            # the connection is still in step: the next command gets its own reply
            assert await asyncio.to_thread(second.command, "NOOP") == (250, "OK")
            [(code, _)] = await asyncio.to_thread(first.send, message(80_000), 1)
            assert code == 250
            assert await asyncio.to_thread(second.start, OURS) == 354
            replies = await asyncio.to_thread(second.send, message(30_000), 2)
            assert [code for code, _ in replies] == [250, 250]
        finally:
            first.close()
            second.close()
