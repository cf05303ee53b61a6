"""LMTP abuse: recipients that are not ours, too many recipients, messages over the size limit,
command lines past the protocol's limit.

LMTP is meant for our own MTA only, but whatever reaches the port is refused the way an MTA
understands: 550 for a recipient that is not ours (it accepted `ceo@gmail.com` before), 452
past the per-transaction cap (the client sends the rest in another transaction), 552 over the
size limit, whether announced (`SIZE=`) or not.
"""

from __future__ import annotations

import threading

import pytest

from security.conftest import OUR_DOMAIN, Besiege
from security.harness import Lmtp, MiB
from support.stack import Stack

pytestmark = pytest.mark.security

MAX_RECIPIENTS = 100  # INGEST_MAIL_LMTP_MAX_RECIPIENTS' default
MESSAGE_LIMIT = 25_000_000  # INGEST_MAIL_MAX_MESSAGE_BYTES' default


def lmtp_port(stack: Stack) -> int:
    return int(stack.env["INGEST_MAIL_LMTP_PORT"])


@pytest.mark.parametrize(
    "recipient",
    [
        "ceo@gmail.com",
        f"sales@{OUR_DOMAIN}.evil.example",
        f"sales@evil-{OUR_DOMAIN}",
        "postmaster",
    ],
)
def test_a_recipient_that_is_not_ours_is_refused(stack: Stack, recipient: str) -> None:
    with Lmtp(lmtp_port(stack)) as lmtp:
        assert lmtp.command("MAIL FROM:<mallory@evil.example>")[0] == 250
        code, text = lmtp.command(f"RCPT TO:<{recipient}>")
        assert code == 550, text
        # Ours still is, in the same transaction.
        assert lmtp.command(f"RCPT TO:<sales@{OUR_DOMAIN}>")[0] == 250


def test_recipients_past_the_cap_are_deferred(stack: Stack, siege: Besiege) -> None:
    with (
        siege("1000 recipients in one LMTP transaction") as measured,
        Lmtp(lmtp_port(stack)) as lmtp,
    ):
        assert lmtp.command("MAIL FROM:<mallory@evil.example>")[0] == 250
        codes = [lmtp.command(f"RCPT TO:<user{n}@{OUR_DOMAIN}>")[0] for n in range(1000)]
        assert lmtp.command("RSET")[0] == 250
        measured.notes["accepted"] = codes.count(250)
    assert codes[:MAX_RECIPIENTS] == [250] * MAX_RECIPIENTS
    assert set(codes[MAX_RECIPIENTS:]) == {452}
    measured.check()


def test_a_message_over_the_size_limit_is_refused(stack: Stack, siege: Besiege) -> None:
    line = b"y" * 998 + b"\r\n"
    raw = b"Subject: big\r\n\r\n" + line * (MESSAGE_LIMIT // len(line) + 1000)
    with siege(f"{len(raw) / MiB:.0f} MiB message over LMTP") as measured:
        with Lmtp(lmtp_port(stack)) as lmtp:
            announced = lmtp.command(f"MAIL FROM:<mallory@evil.example> SIZE={len(raw)}")
            assert lmtp.command("RSET")[0] == 250
            [(code, text)] = lmtp.deliver(
                "mallory@evil.example", [f"sales@{OUR_DOMAIN}"], raw, declare_size=False
            )
        measured.notes["reply"] = f"{code} {text[:60]}"
    assert announced[0] == 552, announced
    assert code == 552, text
    measured.check()


def test_an_overlong_command_line_is_refused(stack: Stack) -> None:
    with Lmtp(lmtp_port(stack)) as lmtp:
        code, text = lmtp.command("MAIL FROM:<" + "a" * 100_000 + "@evil.example>")
        assert code == 500, text
        assert lmtp.command("NOOP")[0] == 250


K8S_LIMIT = 512 * MiB  # ingest-mail's memory limit in deploy/


def test_many_large_deliveries_at_once_stay_under_the_memory_limit(
    stack: Stack, siege: Besiege
) -> None:
    """What an MTA does when large mail arrives for us at once: twelve deliveries of a 20 MB
    message in parallel, each announcing its SIZE. Each is answered (delivered, refused, or 451
    try-again-later: the MTA keeps it), at least one is taken in (the budget makes progress,
    not a standstill) and ingest-mail stays under its k8s memory limit instead of being
    killed."""
    line = b"A" * 76 + b"\r\n"
    raw = b"Subject: large\r\n\r\n" + line * (20_000_000 // len(line))
    replies: list[int] = []

    def deliver() -> None:
        with Lmtp(lmtp_port(stack), timeout=120) as lmtp:
            [(code, _)] = lmtp.deliver("ann@client.example", [f"sales@{OUR_DOMAIN}"], raw)
            replies.append(code)

    with siege("12 concurrent 20 MB deliveries over LMTP") as measured:
        senders = [threading.Thread(target=deliver) for _ in range(12)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        measured.notes["replies"] = sorted(replies)
    assert len(replies) == 12, "a delivery got no answer"
    assert set(replies) <= {250, 451, 552, 554}, replies
    assert set(replies) != {451}, "every delivery was deferred: nothing gets through"
    assert measured.peak["ingest_mail"] < K8S_LIMIT, (
        f"ingest-mail's processes reached {measured.peak['ingest_mail'] / MiB:.0f} MiB"
    )
    measured.check(bounds={"ingest_mail": K8S_LIMIT})
