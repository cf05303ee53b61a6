"""MIME bombs over HTTP (with the intake token) and LMTP: too many parts, too deep, too much
decoded, header sections and lines too long.

Each one is refused by its cap (HTTP 422 naming the reason, LMTP 552/554), kept whole on
`ingest.rejected.v1` (counted by reason), never lost; ingest-mail keeps answering `/healthz`
within a second while it handles it (parsing runs in worker processes) and its memory stays
bounded; the next ordinary message goes through.

Before the fixes, the 1.5M-part message kept `/healthz` unanswered for 42 s at 745 MB.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import httpx
import pytest

from security.conftest import IMAP_PASSWORD, IMAP_USER, MAIL_TOKEN, OUR_DOMAIN, Besiege
from security.harness import Lmtp, MiB, metric, read_topic
from support.dovecot import DovecotServer, MailAccount
from support.infra import missing_infra
from support.stack import Stack
from switchboard_shared.cloudevents import decode
from switchboard_shared.events import IngestRejected, MailReceived
from switchboard_shared.intake import kept_body
from switchboard_shared.topics import INGEST_REJECTED, MAIL_RECEIVED

pytestmark = pytest.mark.security

MAILBOX = f"sales@{OUR_DOMAIN}"
# The stack's INGEST_MAIL_MAX_DECODED_BYTES (conftest): below the 25 MB message limit, so a
# message can break it.
DECODED_CAP = 10_000_000


def header(subject: str, content_type: str = "text/plain", extra: bytes = b"") -> bytes:
    return (
        b"From: Mallory <mallory@evil.example>\r\n"
        b"To: " + MAILBOX.encode() + b"\r\n"
        b"Subject: " + subject.encode() + b"\r\n"
        b"Message-ID: <" + uuid.uuid4().hex.encode() + b"@evil.example>\r\n"
        b"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
        b"MIME-Version: 1.0\r\n" + extra + b"Content-Type: " + content_type.encode() + b"\r\n\r\n"
    )


@cache
def parts_body(count: int) -> bytes:
    return b"--b\r\nX: y\r\n\r\n" * count + b"--b--\r\n"


def parts_bomb(count: int = 1_500_000) -> bytes:
    """1.5M empty parts, 21 MB: what froze ingest-mail for 42 s."""
    return header("parts", 'multipart/mixed; boundary="b"') + parts_body(count)


def depth_bomb(levels: int = 200) -> bytes:
    """Multiparts nested `levels` deep, each with its own boundary."""
    opening = b"".join(
        b'--d%d\r\nContent-Type: multipart/mixed; boundary="d%d"\r\n\r\n' % (n, n + 1)
        for n in range(levels)
    )
    closing = b"".join(b"--d%d--\r\n" % n for n in reversed(range(levels + 1)))
    return header("depth", 'multipart/mixed; boundary="d0"') + opening + closing


def message_depth_bomb(levels: int = 30_000) -> bytes:
    """Messages inside messages, 30k deep (1 MB): the parser recurses once per level."""
    return header("nested", "message/rfc822") + b"Content-Type: message/rfc822\r\n\r\n" * levels


def base64_bomb(decoded: int = 15_000_000) -> bytes:
    """One attachment that decodes to 15 MB (over the stack's decoded cap), 20 MB encoded."""
    line = b"A" * 76 + b"\r\n"
    body = line * (decoded * 4 // 3 // 76)
    return (
        header("attachment", 'multipart/mixed; boundary="z"')
        + b"--z\r\nContent-Type: application/octet-stream\r\n"
        + b"Content-Transfer-Encoding: base64\r\n\r\n"
        + body
        + b"--z--\r\n"
    )


def header_line_bomb(length: int = 500_000) -> bytes:
    """One 500 kB Subject, folded in lines of 76 (LMTP refuses any line over 1000 bytes)."""
    folded = "\r\n ".join(["x" * 76] * (length // 76))
    return header(folded) + b"hello\r\n"


def header_section_bomb(count: int = 15_000) -> bytes:
    """15k header fields of 100 bytes (1.5 MB of header)."""
    field = b"X-Filler: " + b"f" * 88 + b"\r\n"
    return header("many headers", extra=field * count) + b"hello\r\n"


@dataclass(frozen=True)
class Bomb:
    name: str
    build: Callable[[], bytes]
    reasons: frozenset[str]
    lmtp_code: int

    def __str__(self) -> str:
        return self.name


BOMBS = [
    Bomb("1.5M parts", parts_bomb, frozenset({"too_many_parts"}), 554),
    Bomb("200 multipart levels", depth_bomb, frozenset({"too_deep"}), 554),
    Bomb(
        "30k message/rfc822 levels",
        message_depth_bomb,
        frozenset({"too_deep", "too_many_parts"}),
        554,
    ),
    Bomb("15 MB decoded base64", base64_bomb, frozenset({"decoded_too_large"}), 552),
    Bomb("500 kB header line", header_line_bomb, frozenset({"header_line_too_long"}), 552),
    Bomb("1.5 MB header section", header_section_bomb, frozenset({"header_too_large"}), 552),
]


def ordinary() -> bytes:
    return header("Quote for 20 seats") + b"Could you send us a quote?\r\n"


def post(stack: Stack, raw: bytes) -> httpx.Response:
    return httpx.post(
        f"{stack.url('ingest_mail')}/messages",
        params={"mailbox": MAILBOX},
        content=raw,
        headers={"Content-Type": "message/rfc822", "Authorization": f"Bearer {MAIL_TOKEN}"},
        timeout=60,
    )


def rejected_with(stack: Stack, sha256: str, source: str) -> IngestRejected:
    """The `ingest.rejected.v1` event that kept this body (found by its digest)."""

    def find(records: list[Any]) -> IngestRejected | None:
        for record in records:
            _, event = decode(record.headers, record.value)
            assert isinstance(event, IngestRejected)
            if event.body_sha256 == sha256 and event.source == source:
                return event
        return None

    records = read_topic(
        stack.env["SWITCHBOARD_KAFKA_BOOTSTRAP"],
        INGEST_REJECTED.name,
        lambda records: find(records) is not None,
    )
    found = find(records)
    assert found is not None, f"no {INGEST_REJECTED.name} record from {source} kept the message"
    return found


def assert_kept(event: IngestRejected, raw: bytes, reasons: frozenset[str]) -> None:
    assert event.reason in reasons, (event.reason, event.detail)
    assert event.body_bytes == len(raw)
    assert not event.truncated, "the message was not kept whole"
    assert kept_body(event) == raw


@pytest.mark.parametrize("bomb", BOMBS, ids=str)
def test_a_mime_bomb_over_http_is_refused_and_kept(
    stack: Stack, siege: Besiege, bomb: Bomb
) -> None:
    raw = bomb.build()
    port = stack.services["ingest_mail"].port
    before = {r: metric(port, "ingest_mail_rejected_total", reason=r) for r in bomb.reasons}
    with siege(f"{bomb} ({len(raw) / MiB:.1f} MiB) over HTTP") as measured:
        response = post(stack, raw)
        measured.notes["status"] = response.status_code
    assert response.status_code == 422, response.text[:500]
    problem = response.json()
    assert any(reason in problem["detail"] for reason in bomb.reasons), problem
    measured.check()

    event = rejected_with(stack, hashlib.sha256(raw).hexdigest(), "ingest-mail/http")
    assert_kept(event, raw, bomb.reasons)
    after = {r: metric(port, "ingest_mail_rejected_total", reason=r) for r in bomb.reasons}
    assert sum(after.values()) == sum(before.values()) + 1
    assert post(stack, ordinary()).status_code == 200


@pytest.mark.parametrize("bomb", BOMBS, ids=str)
def test_a_mime_bomb_over_lmtp_is_refused_and_kept(
    stack: Stack, siege: Besiege, bomb: Bomb
) -> None:
    raw = bomb.build()
    with siege(f"{bomb} ({len(raw) / MiB:.1f} MiB) over LMTP") as measured:
        with Lmtp(int(stack.env["INGEST_MAIL_LMTP_PORT"])) as lmtp:
            [(code, text)] = lmtp.deliver("mallory@evil.example", [MAILBOX], raw)
            # The same session goes on: one bad message does not stop the door.
            [(next_code, _)] = lmtp.deliver("ann@client.example", [MAILBOX], ordinary())
        measured.notes["reply"] = f"{code} {text[:80]}"
    assert code == bomb.lmtp_code, text
    assert any(reason in text for reason in bomb.reasons), text
    assert next_code == 250
    measured.check()

    event = rejected_with(stack, hashlib.sha256(raw).hexdigest(), "ingest-mail/lmtp")
    assert_kept(event, raw, bomb.reasons)


def test_a_mime_bomb_in_an_imap_mailbox_is_kept_and_the_mailbox_goes_on(
    stack: Stack, imap_server: DovecotServer | None, siege: Besiege
) -> None:
    """The bomb landed in a mailbox ingest-mail reads over IMAP, followed by a real message:
    the bomb is kept as rejected and the poller moves on to the message (an IMAP poller that
    failed on a message used to retry it for ever)."""
    if imap_server is None:
        missing_infra("dovecot is not installed (Debian: dovecot-imapd)")
        return
    account = MailAccount(imap_server, IMAP_USER, IMAP_PASSWORD)
    bomb = parts_bomb()
    after = ordinary()
    message_id = re.search(rb"Message-ID: (<[^>]+>)", after)
    assert message_id is not None
    wanted = message_id.group(1).decode()

    def delivered(records: list[Any]) -> bool:
        for record in records:
            _, event = decode(record.headers, record.value)
            if isinstance(event, MailReceived) and event.message_id == wanted:
                return True
        return False

    with siege(f"1.5M parts ({len(bomb) / MiB:.1f} MiB) in an IMAP mailbox") as measured:
        account.append("INBOX", bomb, after)
        records = read_topic(
            stack.env["SWITCHBOARD_KAFKA_BOOTSTRAP"], MAIL_RECEIVED.name, delivered, timeout=60
        )
        assert delivered(records), "the message after the bomb was never delivered"
    measured.check()
    event = rejected_with(stack, hashlib.sha256(bomb).hexdigest(), "ingest-mail/imap")
    assert_kept(event, bomb, frozenset({"too_many_parts"}))
