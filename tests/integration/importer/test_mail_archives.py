"""Mail archives (mbox, Maildir, a directory of .eml files) and a real Dovecot account go through
ingest-mail's parser onto the history topic; Sent is recognised as ours; re-runs add nothing."""

from __future__ import annotations

import asyncio
import json
import mailbox
import uuid
from pathlib import Path

import pytest

from integration.importer.conftest import Run, history, report_of
from support.dovecot import MailAccount
from switchboard_shared.topics import MAIL_RECEIVED_HISTORY

pytestmark = pytest.mark.integration

TOPIC = MAIL_RECEIVED_HISTORY.name
OURS = "sales@acme-corp.com"  # a public-looking domain: addresses under .test do not validate


def inbound(n: int, tag: str) -> bytes:
    return (
        "From: =?iso-8859-1?q?Ren=E9e_Client?= <renee@client.example>\r\n"
        f"To: {OURS}\r\n"
        f"Subject: question {n}\r\n"
        f"Date: Tue, 25 Nov 2025 10:{n % 60:02d}:00 +0000\r\n"
        f"Message-ID: <{n}.{tag}@client.example>\r\n"
        "\r\n"
        f"From the start of a line, question {n}.\r\n"
    ).encode()


def outbound(n: int, tag: str) -> bytes:
    return (
        f"From: Sales <{OURS}>\r\n"
        "To: renee@client.example\r\n"
        f"Subject: Re: question {n}\r\n"
        f"Date: Tue, 25 Nov 2025 11:{n % 60:02d}:00 +0000\r\n"
        f"Message-ID: <answer-{n}.{tag}@acme-corp.com>\r\n"
        f"In-Reply-To: <{n}.{tag}@client.example>\r\n"
        "\r\n"
        f"Our answer {n}.\r\n"
    ).encode()


def ids(tag: str, count: int) -> set[str]:
    return {f"<{n}.{tag}@client.example>" for n in range(count)} | {
        f"<answer-{n}.{tag}@acme-corp.com>" for n in range(count)
    }


@pytest.fixture(autouse=True)
def _our_domain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_OWN_DOMAINS", "acme-corp.com")
    monkeypatch.setenv("INGEST_MAIL_MAX_MESSAGE_BYTES", "4096")


async def test_an_mbox_with_a_duplicate_a_bomb_and_a_non_message(
    run_import: Run, kafka_bootstrap: str, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    path = tmp_path / "archive.mbox"
    box = mailbox.mbox(path)
    for n in range(10):
        box.add(inbound(n, tag))
    box.add(inbound(3, tag))  # the same message twice
    box.add(b"X" * 5000 + b"\r\n")  # over INGEST_MAIL_MAX_MESSAGE_BYTES
    box.add(b"this is not a message at all\r\n")
    box.flush()
    box.close()
    args = ("mail", "mbox", str(path), "--mailbox", OURS)
    assert await run_import(*args) == 0
    records = await history(kafka_bootstrap, TOPIC, ids(tag, 10))
    data = [json.loads(r.value) for r in records]
    assert sorted(d["message_id"] for d in data) == sorted(
        f"<{n}.{tag}@client.example>" for n in range(10)
    )
    assert all(d["historical"] and d["direction"] == "inbound" for d in data)
    assert data[0]["from"]["name"] == "Renée Client"
    reasons = [r["reason"] for r in report_of(tmp_path / "rejected.jsonl")]
    assert len(reasons) == 2
    assert reasons[0].startswith("too_large")
    assert await run_import(*args) == 0  # again: nothing new
    assert len(await history(kafka_bootstrap, TOPIC, ids(tag, 10))) == 10


async def test_a_maildir_with_its_sent_folder(
    run_import: Run, kafka_bootstrap: str, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    root = tmp_path / "Maildir"
    box = mailbox.Maildir(root)
    sent = box.add_folder("Sent")
    for n in range(5):
        box.add(inbound(n, tag))
        sent.add(outbound(n, tag))
    assert await run_import("mail", "maildir", str(root), "--mailbox", OURS) == 0
    data = [json.loads(r.value) for r in await history(kafka_bootstrap, TOPIC, ids(tag, 5))]
    directions = {d["message_id"]: (d["direction"], d["folder"]) for d in data}
    assert directions[f"<answer-1.{tag}@acme-corp.com>"] == ("outbound", "Sent")
    assert directions[f"<1.{tag}@client.example>"] == ("inbound", None)
    assert len(data) == 10
    for n in range(5, 8):  # new mail after the import: the next run takes only that
        box.add(inbound(n, tag))
    assert await run_import("mail", "maildir", str(root), "--mailbox", OURS) == 0
    assert len(await history(kafka_bootstrap, TOPIC, ids(tag, 8))) == 13


async def test_a_directory_of_eml_files(
    run_import: Run, kafka_bootstrap: str, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    root = tmp_path / "export"
    (root / "Sent").mkdir(parents=True)
    for n in range(4):
        (root / f"{n:03d}.eml").write_bytes(inbound(n, tag))
        (root / "Sent" / f"{n:03d}.eml").write_bytes(outbound(n, tag))
    assert await run_import("mail", "eml", str(root), "--mailbox", OURS) == 0
    data = [json.loads(r.value) for r in await history(kafka_bootstrap, TOPIC, ids(tag, 4))]
    assert len(data) == 8
    assert {d["direction"] for d in data if d["folder"] == "Sent"} == {"outbound"}
    assert all(d["sender_evidence"] == "sent_folder" for d in data if d["folder"] == "Sent")


async def test_a_dovecot_account_with_hundreds_of_messages_across_folders(
    run_import: Run, kafka_bootstrap: str, account: MailAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag = uuid.uuid4().hex[:8]
    await asyncio.to_thread(account.append, "INBOX", *(inbound(n, tag) for n in range(200)))
    await asyncio.to_thread(account.append, "Sent", *(outbound(n, tag) for n in range(120)))
    await asyncio.to_thread(account.append, "Archive", *(inbound(n, tag) for n in range(200, 260)))
    monkeypatch.setenv("IMPORT_TEST_PASSWORD", account.password)
    args = (
        "mail",
        "imap",
        "--host",
        account.server.host,
        "--port",
        str(account.server.port),
        "--user",
        account.username,
        "--mailbox",
        OURS,
        "--no-tls",
        "--password-env",
        "IMPORT_TEST_PASSWORD",
    )
    assert await run_import(*args) == 0
    wanted = ids(tag, 260)
    data = [json.loads(r.value) for r in await history(kafka_bootstrap, TOPIC, wanted)]
    assert len(data) == 380
    assert {d["folder"] for d in data} == {"INBOX", "Sent", "Archive"}
    assert all(d["direction"] == "outbound" for d in data if d["folder"] == "Sent")
    # Resumable: only what arrived since is taken.
    await asyncio.to_thread(account.append, "INBOX", *(inbound(n, tag) for n in range(260, 270)))
    assert await run_import(*args) == 0
    assert len(await history(kafka_bootstrap, TOPIC, ids(tag, 270))) == 390
    # A chosen folder only.
    assert await run_import(*args, "--folder", "Sent", "--restart") == 0
    assert len(await history(kafka_bootstrap, TOPIC, ids(tag, 270))) == 390 + 120
