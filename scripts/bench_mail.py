"""Bench area `mail`: messages parsed and published per second, next to publishing the raw bytes
unparsed, against the same real broker in one run (alternating rounds). Messages are parsed as
the service parses them: checked against the caps, then in the parser worker pool, with the
default settings (`INGEST_MAIL_PARSE_WORKERS` and the rest)."""

from __future__ import annotations

import time
from email.message import EmailMessage
from pathlib import Path

from harness.corpora import sisimai
from harness.measure import alternating
from ingest_mail.config import Settings
from ingest_mail.intake import MailIntake
from ingest_mail.metrics import METRICS
from ingest_mail.parsing import ParseOptions, ParserPool
from ingest_mail.publisher import MailPublisher
from switchboard_shared.cloudevents import KafkaRecord
from switchboard_shared.kafka import Bus
from switchboard_shared.settings import CommonSettings

CORPUS = sisimai()


def sample_messages() -> list[bytes]:
    """The sisimai corpus when it is there, plus ordinary client mail, as a realistic mix."""
    messages = [p.read_bytes() for p in sorted(CORPUS.rglob("*")) if p.is_file()][:400]
    for i in range(400):
        msg = EmailMessage()
        msg["From"] = f"Client {i} <client{i}@example{i % 50}.com>"
        msg["To"] = "sales@acme.example.com"
        msg["Subject"] = f"Re: quote #{i}"
        msg["Message-ID"] = f"<m{i}@example{i % 50}.com>"
        msg["In-Reply-To"] = f"<q{i}@acme.example.com>"
        msg["Date"] = "Wed, 25 Nov 2026 10:00:00 +0000"
        body = f"Thanks, the price works for us.\n\nOn Tue, Ann wrote:\n> quote {i}\n> total 100\n"
        msg.set_content(body)
        msg.add_alternative(
            f"<p>Thanks, the price works for us.</p><blockquote>quote {i}</blockquote>",
            subtype="html",
        )
        messages.append(msg.as_bytes())
    return messages


async def parse_and_publish(intake: MailIntake, messages: list[bytes], mailbox: str) -> None:
    for raw in messages:
        await intake.accept(raw, mailbox=mailbox, folder="INBOX", intake="bench")


async def publish_raw(bus: Bus, messages: list[bytes], round_no: int) -> None:
    for i, raw in enumerate(messages):
        headers = {"content-type": "message/rfc822", "ce_id": f"raw-{round_no}-{i}"}
        await bus.publish(KafkaRecord("bench.raw-mail", None, raw, headers))


async def bench(bootstrap: str, workdir: Path) -> None:
    settings = CommonSettings(kafka_bootstrap=bootstrap, own_domains=["acme.example.com"])
    bus = Bus(settings, client_id="bench-mail", metrics=METRICS)
    defaults = Settings(http_anonymous=True, common=settings)
    parser = ParserPool(
        ParseOptions(
            workers=defaults.parse_workers,
            timeout_s=defaults.parse_timeout_s,
            memory_limit_bytes=defaults.parse_worker_memory_mb * 1024 * 1024 or None,
            limits=defaults.limits,
        )
    )
    await parser.start()
    await bus.start()
    try:
        assert await bus.wait_connected(30)
        messages = sample_messages()
        ours_s = raw_s = 0.0
        count = 0
        for round_no in range(4):
            # A fresh publisher per round: its dedupe window must not turn repeats into no-ops.
            intake = MailIntake(
                MailPublisher(bus, 0),
                parser=parser,
                own_domains=frozenset(settings.own_domains),
                own_addresses=frozenset(),
                max_bytes=25_000_000,
            )
            mailbox = f"sales{round_no}@acme.example.com"

            for kind in alternating(("parsed", "raw"), round_no):
                start = time.perf_counter()
                if kind == "parsed":
                    await parse_and_publish(intake, messages, mailbox)
                    ours_s += time.perf_counter() - start
                else:
                    await publish_raw(bus, messages, round_no)
                    raw_s += time.perf_counter() - start
            count += len(messages)
    finally:
        await bus.stop()
        await parser.close()
    ours, bare = count / ours_s, count / raw_s
    print(
        f"\ningest-mail: messages parsed (caps, then {defaults.parse_workers} parser worker "
        f"process) and published ({count} each, acks=all, one at a time)"
    )
    print(f"  parse+publish  {ours:8.0f} msg/s")
    print(f"  raw publish    {bare:8.0f} msg/s")
    print(f"  ratio (ours / raw): {ours / bare:.2f}")
