"""Bounces read for what failed (the event's `bounce`), and the other misses of the mail parse:
8-bit header bytes in the message's own charset, senders that are well-formed but undeliverable.

The vendored flufl.bounce messages (tests/corpora/flufl_bounce, Apache-2.0) carry their suite's
expected recipients; the figures over all of them are `scripts/eval_mail.py`'s, asserted in
`test_eval_mail.py`.
"""
# ruff: noqa: RUF001  (Cyrillic and CJK text in their own charsets are the point here)

from __future__ import annotations

import json
import time
from pathlib import Path
from textwrap import dedent

import pytest

from ingest_mail.domain import MailboxIdentity, parse_message
from ingest_mail.domain.bounce import MAX_RECIPIENTS
from switchboard_shared.events.mail import MailReceived

ACME = MailboxIdentity(address="anna@acme.example", own_domains=frozenset({"acme.example"}))
FLUFL = Path(__file__).resolve().parents[2] / "corpora" / "flufl_bounce"


def parse(text: str, *, raw: bytes | None = None) -> MailReceived:
    data = raw if raw is not None else dedent(text).lstrip("\n").encode("utf-8")
    return parse_message(data, mailbox=ACME)


DSN = """
    Return-Path: <>
    From: Mail Delivery System <MAILER-DAEMON@mx.acme.example>
    To: anna@acme.example
    Subject: Undelivered Mail Returned to Sender
    Message-ID: <bounce1@mx.acme.example>
    MIME-Version: 1.0
    Content-Type: multipart/report; report-type=delivery-status; boundary="B"

    --B
    Content-Type: text/plain

    I'm sorry to have to inform you that your message could not be delivered.

    --B
    Content-Type: message/delivery-status

    Reporting-MTA: dns; mx.acme.example

    Original-Recipient: rfc822; Ann.Client@Client.example
    Final-Recipient: rfc822; ann@mail.client.example
    Action: failed
    Status: 5.1.1
    Diagnostic-Code: smtp; 550 5.1.1 <ann@mail.client.example>:
     Recipient address rejected: User unknown

    Final-Recipient: rfc822; <bob@client.example>
    Action: delayed
    Status: 4.4.1
    Diagnostic-Code: smtp; 421 try again later

    Final-Recipient: rfc822; carl@client.example
    Action: delivered
    Status: 2.0.0

    --B
    Content-Type: message/rfc822

    From: Anna <anna@acme.example>
    To: Ann <Ann.Client@client.example>
    Subject: Your quote
    Message-ID: <quote-17@acme.example>
    In-Reply-To: <question-3@client.example>

    Dear Ann, here is the quote.

    --B--
"""


class TestDeliveryStatusNotifications:
    def test_rfc3464_names_the_failed_recipient_and_links_the_original(self) -> None:
        bounce = parse(DSN).bounce
        assert bounce is not None
        # The address we wrote to (Original-Recipient), normalised; the delay and the
        # delivered recipient are not listed beside a permanent failure.
        assert bounce.recipients == ["ann.client@client.example"]
        assert bounce.permanent is True
        assert bounce.status == "5.1.1"
        assert bounce.diagnostic == (
            "550 5.1.1 <ann@mail.client.example>: Recipient address rejected: User unknown"
        )
        assert bounce.original_message_id == "<quote-17@acme.example>"
        assert bounce.original_in_reply_to == "<question-3@client.example>"

    def test_a_delay_is_told_from_a_permanent_failure(self) -> None:
        delayed = DSN.replace("Action: failed", "Action: delivered").replace(
            "Subject: Undelivered Mail Returned to Sender", "Subject: Delayed Mail"
        )
        bounce = parse(delayed).bounce
        assert bounce is not None
        assert (bounce.recipients, bounce.permanent, bounce.status) == (
            ["bob@client.example"],
            False,
            "4.4.1",
        )
        assert bounce.diagnostic == "421 try again later"

    def test_giving_up_on_a_transient_problem_is_not_permanent(self) -> None:
        # Action: failed after days of retrying a host that timed out (4.4.7): the address
        # was never refused, so it is logged, not marked undeliverable.
        text = DSN.replace("Status: 5.1.1", "Status: 4.4.7").replace("Action: delayed", "Action: x")
        bounce = parse(text).bounce
        assert bounce is not None
        assert (bounce.recipients, bounce.permanent, bounce.status) == (
            ["ann.client@client.example"],
            False,
            "4.4.7",
        )

    def test_global_delivery_status_parts_are_read_too(self) -> None:
        text = DSN.replace("message/delivery-status", "message/global-delivery-status")
        bounce = parse(text).bounce
        assert bounce is not None
        assert bounce.recipients == ["ann.client@client.example"]

    def test_returned_headers_only(self) -> None:
        text = DSN.replace("Content-Type: message/rfc822", "Content-Type: text/rfc822-headers")
        bounce = parse(text).bounce
        assert bounce is not None
        assert bounce.original_message_id == "<quote-17@acme.example>"


class TestNonStandardFormats:
    def test_exim_x_failed_recipients(self) -> None:
        bounce = parse(
            """
            From: Mail Delivery System <Mailer-Daemon@mx.client.example>
            To: anna@acme.example
            Subject: Mail delivery failed: returning message to sender
            X-Failed-Recipients: Gone@Client.example
            Auto-Submitted: auto-replied

            This message was created automatically by mail delivery software.

            A message that you sent could not be delivered to one or more of its
            recipients. This is a permanent error. The following address(es) failed:

              gone@client.example
                SMTP error from remote mail server after RCPT TO:<gone@client.example>:
                550 5.1.1 User unknown

            ------ This is a copy of the message, including all the headers. ------

            Message-ID: <quote-18@acme.example>
            From: anna@acme.example
            """
        ).bounce
        assert bounce is not None
        assert (bounce.recipients, bounce.permanent, bounce.status) == (
            ["gone@client.example"],
            True,
            "5.1.1",
        )
        assert bounce.diagnostic == "550 5.1.1 User unknown"
        assert bounce.original_message_id == "<quote-18@acme.example>"

    def test_qmail(self) -> None:
        bounce = parse(
            """
            From: MAILER-DAEMON@mx.client.example
            To: anna@acme.example
            Subject: failure notice

            Hi. This is the qmail-send program at mx.client.example.
            I'm afraid I wasn't able to deliver your message to the following addresses.
            This is a permanent error; I've given up. Sorry it didn't work out.

            <kate@client.example>:
            192.0.2.32 does not like recipient.
            Remote host said: 550 5.1.1 no mailbox by that name
            Giving up on 192.0.2.32.

            --- Below this line is a copy of the message.

            Message-ID: <quote-19@acme.example>
            From: anna@acme.example
            To: kate@client.example
            """
        ).bounce
        assert bounce is not None
        assert (bounce.recipients, bounce.permanent, bounce.status) == (
            ["kate@client.example"],
            True,
            "5.1.1",
        )
        assert bounce.original_message_id == "<quote-19@acme.example>"

    def test_gmail_text(self) -> None:
        bounce = parse(
            """
            From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
            To: anna@acme.example
            Subject: Delivery Status Notification (Failure)

            ** Address not found **

            Your message wasn't delivered to lee@client.example because the address couldn't
            be found, or is unable to receive mail.

            The response from the remote server was:
            550 5.1.1 The email account that you tried to reach does not exist.
            """
        ).bounce
        assert bounce is not None
        assert bounce.recipients == ["lee@client.example"]
        assert bounce.status == "5.1.1"

    def test_returned_message_ids_and_the_sender_are_not_recipients(self) -> None:
        # Zoho's format: flufl.bounce's detectors also return the returned Message-ID and the
        # original sender (us, the bounce's To); only the failed address is a recipient.
        bounce = parse(
            """
            From: mailer-daemon@mail.zoho.example
            To: anna@acme.example
            Subject: Undelivered Mail Returned to Sender

            This message was created automatically by mail delivery software.
            A message that you sent could not be delivered to one or more of its recipients.
            This is a permanent error.

            kate@client.example Invalid Address, ERROR_CODE :550, ERROR_CODE :5.1.1
            <kate@client.example>... User Unknown

            Received:from mail.zoho.example by mx.zohomail.example
            Message-ID:<14a3e1b4b5a.10b1a4c5610175@zoho.example>
            From:Anna <anna@acme.example>
            To:<kate@client.example>
            """
        ).bounce
        assert bounce is not None
        assert bounce.recipients == ["kate@client.example"]
        assert bounce.original_message_id == "<14a3e1b4b5a.10b1a4c5610175@zoho.example>"

    SES = (
        '{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bouncedRecipients":'
        '[{"emailAddress":"Kate@Client.example","action":"failed","status":"5.1.1",'
        '"diagnosticCode":"smtp; 550 5.1.1 user unknown"}]},"mail":{"messageId":"0101-ses",'
        '"commonHeaders":{"messageId":"<quote-21@acme.example>","to":["kate@client.example"]}}}'
    )

    def ses(self, body: str) -> MailReceived:
        return parse(
            "From: AWS Notifications <no-reply@sns.amazonaws.com>\nTo: anna@acme.example\n"
            f"Subject: AWS Notification Message\n\n{body}\n"
        )

    def test_amazon_ses_bounce_notification(self) -> None:
        bounce = self.ses(self.SES).bounce
        assert bounce is not None
        assert (bounce.recipients, bounce.permanent, bounce.status, bounce.diagnostic) == (
            ["kate@client.example"],
            True,
            "5.1.1",
            "550 5.1.1 user unknown",
        )
        assert bounce.original_message_id == "<quote-21@acme.example>"

    def test_amazon_ses_bounce_inside_an_sns_envelope_wrapped_by_sns(self) -> None:
        message = json.dumps(self.SES.replace("Permanent", "Transient"))
        wrapped = message[:120] + "!\n " + message[120:]  # SNS breaks long lines with "!"
        bounce = self.ses(f'{{\n  "Type" : "Notification",\n  "Message" : {wrapped}\n}}').bounce
        assert bounce is not None
        assert (bounce.recipients, bounce.permanent) == (["kate@client.example"], False)

    def test_amazon_ses_delivery_and_complaint_notifications_are_no_bounces(self) -> None:
        for kind in ("Delivery", "Complaint"):
            assert self.ses(self.SES.replace('"Bounce"', f'"{kind}"')).bounce is None

    def test_ses_json_from_anyone_else_is_not_read(self) -> None:
        mail = parse(f"From: bob@client.example\nTo: anna@acme.example\nSubject: x\n\n{self.SES}")
        assert mail.bounce is None

    def test_a_persons_mail_under_a_bounce_subject_is_no_bounce(self) -> None:
        # An address alone on its line is qmail's format, but nothing here says anything failed.
        mail = parse(
            """
            From: Bob <bob@client.example>
            To: anna@acme.example
            Subject: Delivery failure

            Anna, please add my colleague to the order:

            <kate@client.example>

            Thanks, Bob
            """
        )
        assert mail.bounce is None

    def test_a_persons_mail_about_a_failed_delivery_is_no_bounce(self) -> None:
        mail = parse(
            """
            From: Bob <bob@client.example>
            To: anna@acme.example
            Subject: Re: Undeliverable: your quote
            In-Reply-To: <quote-20@acme.example>

            Anna, your mail to my colleague could not be delivered to kate@client.example,
            she left. Please write to lee@client.example instead.
            """
        )
        assert mail.bounce is None


def test_a_hostile_report_is_read_within_bounds() -> None:
    blocks = "".join(
        f"Final-Recipient: rfc822; u{i}@client.example\nAction: failed\nStatus: 5.1.1\n\n"
        for i in range(20_000)
    )
    text = DSN.replace(
        "Final-Recipient: rfc822; carl@client.example", blocks.replace("\n", "\n    ")
    )
    started = time.perf_counter()
    bounce = parse(text).bounce
    assert time.perf_counter() - started < 5
    assert bounce is not None
    assert len(bounce.recipients) == MAX_RECIPIENTS


def test_flufl_bounce_messages_that_name_recipients() -> None:
    """Every vendored message whose suite names the failed recipients (fast: ~110 files)."""
    truth = json.loads((FLUFL / "expected.json").read_text())
    right = named = 0
    for name, expected in truth.items():
        mail = parse_message((FLUFL / name).read_bytes(), mailbox=ACME)
        if not expected["bounce"]:
            assert mail.bounce is None, name
            continue
        if not expected["recipients"]:
            continue
        named += 1
        got = sorted(mail.bounce.recipients) if mail.bounce else []
        right += (
            got == expected["recipients"]
            and mail.bounce is not None
            and (mail.bounce.permanent == expected["permanent"])
        )
    assert named >= 100
    assert right / named >= 0.95


class TestHeaderBytes:
    @pytest.mark.parametrize(
        ("charset", "subject"),
        [
            ("gb2312", "关于报价的问题"),
            ("big5", "關於報價的問題"),
            ("koi8-r", "Вопрос о счёте"),
            ("iso-8859-2", "Zażółć gęślą jaźń"),
            ("shift_jis", "見積もりについて"),
        ],
    )
    def test_8bit_subject_in_the_bodys_declared_charset(self, charset: str, subject: str) -> None:
        raw = (
            b"From: client@client.example\nTo: anna@acme.example\nSubject: "
            + subject.encode(charset)
            + b"\nMIME-Version: 1.0\nContent-Type: text/plain; charset="
            + charset.encode()
            + b"\n\n"
            + "Текст / 正文 / text".encode(charset, "replace")
            + b"\n"
        )
        assert parse("", raw=raw).subject == subject

    def test_8bit_cjk_subject_without_any_declared_charset_is_detected(self) -> None:
        subject = "关于四十把椅子的报价问题，请尽快回复"
        raw = b"From: client@client.example\nTo: anna@acme.example\nSubject: "
        raw += subject.encode("gb2312") + b"\n\nHello\n"
        assert parse("", raw=raw).subject == subject

    def test_utf8_header_bytes_stay_utf8(self) -> None:
        raw = "From: c@client.example\nSubject: Grüße\nContent-Type: text/plain; charset=koi8-r\n\n"
        assert parse("", raw=raw.encode("utf-8")).subject == "Grüße"


class TestUndeliverableSenders:
    @pytest.mark.parametrize(
        ("sender", "address"),
        [
            ('"System Administrator"@example.com', '"system administrator"@example.com'),
            ("Build Bot <builds@ci.local>", "builds@ci.local"),
            ("root@localhost", "root@localhost"),
        ],
    )
    def test_the_address_is_kept_and_flagged(self, sender: str, address: str) -> None:
        mail = parse(f"From: {sender}\nTo: anna@acme.example\nSubject: Hi\n\nHello\n")
        assert mail.from_ is not None
        assert (mail.from_.address, mail.from_.valid, mail.from_.deliverable) == (
            address,
            True,
            False,
        )
        assert mail.counterpart == address


def test_a_part_the_library_cannot_hand_over_does_not_hide_the_report() -> None:
    """A broken multipart declaring `charset=punycode` over 8-bit bytes makes the standard
    library raise on `get_payload()`; the delivery-status part beside it is still read."""
    raw = (
        b"From: MAILER-DAEMON@mx.example.net\r\nTo: anna@acme.example\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <b1@mx.example.net>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=XX\r\n\r\n"
        b"--XX\r\nContent-Type: text/plain\r\n\r\nDelivery to ann@client.example failed.\r\n"
        b"--XX\r\nContent-Type: multipart/mixed; charset=punycode\r\n\r\nmx\xff\xfe\r\n"
        b"--XX\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        b"Final-Recipient: rfc822; ann@client.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        b"--XX--\r\n"
    )
    mail = parse("", raw=raw)
    assert mail.bounce is not None
    assert mail.bounce.recipients == ["ann@client.example"]
    assert mail.bounce.permanent is True
    assert mail.bounce.status == "5.1.1"
