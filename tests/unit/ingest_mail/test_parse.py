"""parse_message on realistic messages: each case asserts the values the event must carry."""
# ruff: noqa: RUF001  (Cyrillic text and typographic quotes are the point of these samples)

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from textwrap import dedent
from typing import Any

import pytest

from ingest_mail.domain import MailboxIdentity, UnparseableMessage, message_key, parse_message
from switchboard_shared.events.mail import MailDirection, MailReceived, SenderEvidence

ACME = MailboxIdentity(
    address="sales@acme.example.com",
    own_domains=frozenset({"acme.example.com"}),
    own_addresses=frozenset({"boss.acme@gmail.com"}),
)
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 4 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def b64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii")


def mail(text: str, *, crlf: bool = False, **parts: str) -> bytes:
    """A message from indented source; ``@NAME@`` is replaced by ``parts[NAME]`` after dedent."""
    raw = dedent(text).lstrip("\n")
    for name, value in parts.items():
        raw = raw.replace(f"@{name}@", value)
    return (raw.replace("\n", "\r\n") if crlf else raw).encode("utf-8")


@dataclass
class Case:
    id: str
    raw: bytes
    expected: dict[str, Any]
    mailbox: MailboxIdentity = ACME
    absent_defects: list[str] = field(default_factory=list)


PLAIN = mail(
    """
    Return-Path: <jane.doe@client.example.org>
    Received: from mx.client.example.org by mx.acme.example.com; Tue, 2 Jan 2024 10:00:02 +0100
    From: "Doe, Jane" <Jane.Doe@Client.Example.ORG>
    To: Sales Team <sales@acme.example.com>
    Cc: bob@client.example.org, Accounting <accounting@acme.example.com>
    Reply-To: orders@client.example.org
    Subject: Quote for 200 chairs
    Date: Tue, 2 Jan 2024 10:00:00 +0100
    Message-ID: <CAF=x1@mail.client.example.org>
    MIME-Version: 1.0
    Content-Type: text/plain; charset=utf-8
    Content-Transfer-Encoding: 8bit

    Hello,

    could you send us a quote for 200 chairs — delivery to Köln by March?

    Thanks,
    Jane
    """
)

ALTERNATIVE = mail(
    """
    From: Jane <jane@client.example.org>
    To: sales@acme.example.com
    Subject: Re: Quote
    Date: Wed, 3 Jan 2024 09:15:00 -0500
    Message-ID: <alt-1@client.example.org>
    Content-Type: multipart/alternative; boundary="ALT"

    --ALT
    Content-Type: text/plain; charset="iso-8859-1"
    Content-Transfer-Encoding: quoted-printable

    The plain part: caf=E9 at 10:00.
    --ALT
    Content-Type: text/html; charset="utf-8"

    <html><body><p>The <b>HTML</b> part</p></body></html>
    --ALT--
    """
)

HTML_ONLY = mail(
    """
    From: Jane <jane@client.example.org>
    To: sales@acme.example.com
    Subject: Re: Offer
    Date: Thu, 4 Jan 2024 08:00:00 +0000
    Message-ID: <html-1@client.example.org>
    Content-Type: text/html; charset=utf-8

    <html><head><style>p { color: red }</style><title>ignored</title></head><body>
    <span style="display:none">Preheader you should not see</span>
    <div dir="ltr">Yes, we accept the offer &amp; the terms.<br>Price: 5&nbsp;000&euro;
    <ul><li>200 chairs</li><li>20 tables</li></ul></div>
    <div class="gmail_signature">Jane Doe<br>Buyer, Client Corp</div>
    <div class="gmail_quote"><div class="gmail_attr">On Wed, Jan 3, 2024 at 3:15 PM Sales
    &lt;sales@acme.example.com&gt; wrote:<br></div>
    <blockquote class="gmail_quote">Here is our offer for 200 chairs.</blockquote></div>
    <script>alert("x")</script>
    </body></html>
    """
)

ATTACHMENTS = mail(
    """
    From: Jane <jane@client.example.org>
    To: sales@acme.example.com
    Subject: Signed contract
    Date: Fri, 5 Jan 2024 12:00:00 +0100
    Message-ID: <att-1@client.example.org>
    MIME-Version: 1.0
    Content-Type: multipart/mixed; boundary="MIX"

    --MIX
    Content-Type: multipart/related; boundary="REL"

    --REL
    Content-Type: text/html; charset=utf-8

    <p>Contract attached.</p><img src="cid:logo">
    --REL
    Content-Type: image/png
    Content-ID: <logo>
    Content-Transfer-Encoding: base64

    @PNG@
    --REL--
    --MIX
    Content-Type: application/pdf; name="=?utf-8?q?Vertrag_M=C3=BCller.pdf?="
    Content-Disposition: attachment; filename*=utf-8''Vertrag%20M%C3%BCller.pdf
    Content-Transfer-Encoding: base64

    @PDF@
    --MIX
    Content-Type: application/octet-stream
    Content-Disposition: attachment; filename="=?koi8-r?b?8NLBytMueGxzeA==?="
    Content-Transfer-Encoding: base64

    @XLSX@
    --MIX
    Content-Type: text/plain; charset=utf-8; name="notes.txt"
    Content-Disposition: attachment; filename="notes.txt"

    not the body
    --MIX--
    """,
    PNG=b64(PNG),
    PDF=b64(PDF),
    XLSX=b64(b"price list"),
)

SUBJECTS = [
    ("=?koi8-r?B?98/Q0s/TINDPINrBy8Ha1Q==?=", "Вопрос по заказу"),
    ("=?iso-8859-1?q?R=E9ponse_=E0_votre_demande?=", "Réponse à votre demande"),
    ("=?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?=", "こんにちは"),
    ("=?gb2312?B?xOO6ww==?= world", "你好 world"),
    # a multi-byte character split across two encoded words
    ("=?utf-8?b?w6TD?= =?utf-8?b?tnI=?=", "äör"),
    (
        "Re: =?utf-8?q?Angebot_f=C3=BCr?=\n =?utf-8?q?_200_St=C3=BChle?=",
        "Re: Angebot für 200 Stühle",
    ),
    ("=?windows-1251?Q?=CF=F0=E8=E2=E5=F2?=", "Привет"),
]

MISLABELLED = mail(
    """
    From: Jane <jane@client.example.org>
    To: sales@acme.example.com
    Subject: mislabelled
    Date: Sat, 6 Jan 2024 12:00:00 +0100
    Message-ID: <mis-1@client.example.org>
    Content-Type: text/plain; charset=us-ascii
    Content-Transfer-Encoding: 8bit

    Grüße aus Köln
    """
)

UNKNOWN_CHARSET = (
    b"From: jane@client.example.org\n"
    b"To: sales@acme.example.com\n"
    b"Subject: =?x-bogus-42?q?caf=C3=A9?=\n"
    b"Date: Sat, 6 Jan 2024 12:00:00 +0100\n"
    b"Message-ID: <unk-1@client.example.org>\n"
    b"Content-Type: text/plain; charset=x-bogus-42\n\n"
    b"Gr\xc3\xbc\xc3\x9fe, \xe2\x82\xac 5 and one stray \xff byte\n"
)

CP1252_AS_UTF8 = (
    b"From: jane@client.example.org\n"
    b"To: sales@acme.example.com\n"
    b"Subject: smart quotes\n"
    b"Date: Sat, 6 Jan 2024 12:00:00 +0100\n"
    b"Message-ID: <cp-1@client.example.org>\n"
    b"Content-Type: text/plain; charset=utf-8\n\n"
    b"It\x92s \x93quoted\x94 and valid UTF-8 \xc3\xa9\n"
)

WRONG_BOUNDARY = mail(
    """
    From: Jane <jane@client.example.org>
    To: sales@acme.example.com
    Subject: boundary mismatch
    Date: Sun, 7 Jan 2024 12:00:00 +0100
    Message-ID: <bnd-1@client.example.org>
    Content-Type: multipart/mixed; boundary="DECLARED"

    --ACTUAL
    Content-Type: text/plain; charset=utf-8

    The real text.
    --ACTUAL
    Content-Type: application/zip
    Content-Disposition: attachment; filename="a.zip"
    Content-Transfer-Encoding: base64

    UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==
    --ACTUAL--
    """
)

TRUNCATED_MIME = mail(
    """
    From: Jane <jane@client.example.org>
    To: sales@acme.example.com
    Subject: cut off
    Date: Sun, 7 Jan 2024 12:00:00 +0100
    Message-ID: <cut-1@client.example.org>
    Content-Type: multipart/mixed; boundary="B"

    --B
    Content-Type: text/plain

    The text survives.
    --B
    Content-Type: application/pdf; name="big.pdf"
    Content-Transfer-Encoding: base64

    JVBERi0xLjQK
    """
)

NO_MESSAGE_ID = mail(
    """
    From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
    To: sales@acme.example.com
    Subject: failure notice
    Date: Mon, 8 Jan 2024 12:00:00 +0000

    Hi. This is the qmail-send program. I'm afraid I wasn't able to deliver your message.
    """
)

THREADED = mail(
    """
    From: Jane <jane@client.example.org>
    To: sales@acme.example.com
    Subject: RE: RE: Quote
    Date: Tue, 9 Jan 2024 12:00:00 +0100
    Message-ID: <third@client.example.org>
    In-Reply-To: <second@acme.example.com>
    References: <root@client.example.org>,
     <second@acme.example.com>
    Content-Type: text/plain

    Fine.
    """
)

IN_REPLY_TO_ONLY = mail(
    """
    From: Jane <jane@client.example.org>
    To: sales@acme.example.com
    Subject: Re: Quote
    Date: Tue, 9 Jan 2024 12:00:00 +0100
    Message-ID: <reply@client.example.org>
    In-Reply-To: Your message of "Mon, 8 Jan" <parent@acme.example.com>
    Content-Type: text/plain

    Fine.
    """
)


def addressed(sender: str, to: str, cc: str = "") -> bytes:
    cc_line = f"Cc: {cc}\n" if cc else ""
    return (
        f"From: {sender}\nTo: {to}\n{cc_line}Subject: s\nDate: Tue, 9 Jan 2024 12:00:00 +0100\n"
        f"Message-ID: <dir-{abs(hash((sender, to, cc)))}@example.com>\n\nbody\n"
    ).encode()


def replied(body: str) -> bytes:
    return (
        "From: Jane <jane@client.example.org>\nTo: sales@acme.example.com\nSubject: Re: x\n"
        "Date: Tue, 9 Jan 2024 12:00:00 +0100\nMessage-ID: <rep@client.example.org>\n"
        "Content-Type: text/plain; charset=utf-8\n\n" + dedent(body).lstrip("\n")
    ).encode()


REPLIES = [
    (
        "en-gmail",
        """
        Sounds good, see you Monday.

        On Mon, Jan 8, 2024 at 10:00 AM Sales Team <sales@acme.example.com>
        wrote:
        > Shall we meet on Monday?
        > Best
        """,
        "Sounds good, see you Monday.",
    ),
    (
        "de-gmail",
        """
        Passt, bis Montag.

        Am Mo., 8. Jan. 2024 um 10:00 Uhr schrieb Sales Team <sales@acme.example.com>:
        > Wollen wir uns am Montag treffen?
        """,
        "Passt, bis Montag.",
    ),
    (
        "fr-gmail",
        """
        Parfait, à lundi.

        Le lun. 8 janv. 2024 à 10:00, Sales Team <sales@acme.example.com> a écrit :
        > On se voit lundi ?
        """,
        "Parfait, à lundi.",
    ),
    (
        "es-gmail",
        """
        Perfecto, nos vemos el lunes.

        El lun, 8 ene 2024 a las 10:00, Sales Team (<sales@acme.example.com>) escribió:
        > ¿Nos vemos el lunes?
        """,
        "Perfecto, nos vemos el lunes.",
    ),
    (
        "ru-gmail",
        """
        Договорились, до понедельника.

        пн, 8 янв. 2024 г. в 10:00, Sales Team <sales@acme.example.com>:
        > Встретимся в понедельник?
        """,
        "Договорились, до понедельника.",
    ),
    (
        "ru-thunderbird",
        """
        Да, подходит.

        08.01.2024 10:00, Иван Петров пишет:
        > Встретимся в понедельник?
        """,
        "Да, подходит.",
    ),
    (
        "outlook-original-message",
        """
        Approved.

        -----Original Message-----
        From: Sales Team <sales@acme.example.com>
        Sent: Monday, January 8, 2024 10:00 AM
        To: Jane Doe <jane@client.example.org>
        Subject: Approval needed

        Please approve the quote.
        """,
        "Approved.",
    ),
    (
        "outlook-header-block-de",
        """
        Einverstanden.

        Von: Sales Team <sales@acme.example.com>
        Gesendet: Montag, 8. Januar 2024 10:00
        An: Jane Doe <jane@client.example.org>
        Betreff: Freigabe

        Bitte geben Sie das Angebot frei.
        """,
        "Einverstanden.",
    ),
    (
        "outlook-header-block-fr",
        """
        D'accord.
        ________________________________
        De : Sales Team <sales@acme.example.com>
        Envoyé : lundi 8 janvier 2024 10:00
        À : Jane Doe <jane@client.example.org>
        Objet : Validation

        Merci de valider.
        """,
        "D'accord.",
    ),
    (
        "outlook-header-block-ru",
        """
        Согласен.

        От: Sales Team <sales@acme.example.com>
        Отправлено: 8 января 2024 г. 10:00
        Кому: Jane Doe <jane@client.example.org>
        Тема: Согласование
        """,
        "Согласен.",
    ),
    (
        "interleaved",
        """
        On Mon, Jan 8, 2024 at 10:00 AM Sales <sales@acme.example.com> wrote:
        > How many chairs?
        200.
        > And tables?
        20.
        """,
        "200.\n20.",
    ),
    (
        "quote-without-attribution",
        """
        Thanks!

        > the whole previous message
        > quoted with markers
        """,
        "Thanks!",
    ),
    (
        "signature",
        """
        See attached.

        --\x20
        Jane Doe | Buyer | +49 221 1234567
        Client Corp
        """,
        "See attached.",
    ),
    (
        "mobile-footer",
        """
        Ok, call me.

        Sent from my iPhone
        """,
        "Ok, call me.",
    ),
    (
        "mobile-footer-de",
        """
        Ok, ruf mich an.

        Von meinem iPhone gesendet
        """,
        "Ok, ruf mich an.",
    ),
    (
        "no-quote",
        """
        Line one: with a colon
        Line two
        """,
        "Line one: with a colon\nLine two",
    ),
]


def replied_html(body: str) -> bytes:
    return replied("").replace(b"text/plain", b"text/html") + dedent(body).strip().encode()


HTML_REPLIES = [
    (
        "outlook-desktop",
        """
        <html><body><div class="WordSection1"><p class="MsoNormal">Approved, go ahead.<o:p></o:p>
        </p><p class="MsoNormal"><o:p>&nbsp;</o:p></p>
        <div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">
        <p class="MsoNormal"><b>From:</b> Sales Team &lt;sales@acme.example.com&gt;<br>
        <b>Sent:</b> Monday, January 8, 2024 10:00 AM<br><b>To:</b> Jane<br>
        <b>Subject:</b> Approval</p></div><p class="MsoNormal">Please approve.</p></div>
        </body></html>
        """,
        "Approved, go ahead.",
    ),
    (
        "outlook-web-de",
        """
        <div dir="ltr">Einverstanden.</div><hr style="display:inline-block;width:98%">
        <div id="divRplyFwdMsg" dir="ltr"><font face="Calibri"><b>Von:</b> Sales
        &lt;sales@acme.example.com&gt;<br><b>Gesendet:</b> Montag, 8. Januar 2024 10:00<br>
        <b>An:</b> Jane<br><b>Betreff:</b> Freigabe</font></div><div>Bitte freigeben.</div>
        """,
        "Einverstanden.",
    ),
    (
        "apple-mail",
        """
        <html><body><div>Works for me.</div><div><br></div><div>Jane</div><div><br>
        <blockquote type="cite"><div>On 8. Jan 2024, at 10:00, Sales
        &lt;sales@acme.example.com&gt; wrote:</div><br><div>Tuesday?</div></blockquote></div>
        </body></html>
        """,
        "Works for me.\n\nJane",
    ),
    (
        "thunderbird",
        """
        <html><body><p>Yes.</p><div class="moz-signature">-- <br>Jane Doe</div>
        <div class="moz-cite-prefix">On 08.01.24 10:00, Sales wrote:<br></div>
        <blockquote type="cite" cite="mid:x@example.com">Tuesday?</blockquote></body></html>
        """,
        "Yes.",
    ),
]

CALENDAR = mail(
    """
    From: Jane <jane@client.example.org>
    To: sales@acme.example.com
    Subject: Invitation: Contract review @ Thu Jan 11, 2024 10am
    Date: Tue, 9 Jan 2024 12:00:00 +0100
    Message-ID: <cal-1@client.example.org>
    Content-Type: multipart/mixed; boundary="M"

    --M
    Content-Type: multipart/alternative; boundary="A"

    --A
    Content-Type: text/plain; charset=UTF-8

    You have been invited to Contract review.
    --A
    Content-Type: text/calendar; charset=UTF-8; method=REQUEST

    BEGIN:VCALENDAR
    METHOD:REQUEST
    BEGIN:VEVENT
    SUMMARY:Contract review
    END:VEVENT
    END:VCALENDAR
    --A--
    --M
    Content-Type: application/ics; name="invite.ics"
    Content-Disposition: attachment; filename="invite.ics"

    BEGIN:VCALENDAR
    METHOD:REQUEST
    END:VCALENDAR
    --M--
    """
)

CALENDAR_REPLY = mail(
    """
    From: Jane <jane@client.example.org>
    To: sales@acme.example.com
    Subject: Accepted: Contract review
    Date: Tue, 9 Jan 2024 12:00:00 +0100
    Message-ID: <cal-2@client.example.org>
    Content-Class: urn:content-classes:calendarmessage
    Content-Type: text/calendar; charset=UTF-8

    BEGIN:VCALENDAR
    PRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN
    METHOD:REPLY
    BEGIN:VEVENT
    ATTENDEE;PARTSTAT=ACCEPTED:mailto:jane@client.example.org
    END:VEVENT
    END:VCALENDAR
    """
)

DSN = mail(
    """
    Return-Path: <>
    From: Mail Delivery System <MAILER-DAEMON@mx.acme.example.com>
    To: sales@acme.example.com
    Subject: Undelivered Mail Returned to Sender
    Date: Wed, 10 Jan 2024 12:00:00 +0100 (CET)
    Message-Id: <20240110110000.ABC@mx.acme.example.com>
    Auto-Submitted: auto-replied
    MIME-Version: 1.0
    Content-Type: multipart/report; report-type=delivery-status;
    \tboundary="DSN.1"

    --DSN.1
    Content-Description: Notification
    Content-Type: text/plain; charset=us-ascii

    I'm sorry to have to inform you that your message could not
    be delivered to one or more recipients.

    <nobody@client.example.org>: host mx.client.example.org said: 550 5.1.1 unknown user

    --DSN.1
    Content-Description: Delivery report
    Content-Type: message/delivery-status

    Reporting-MTA: dns; mx.acme.example.com

    Final-Recipient: rfc822; nobody@client.example.org
    Action: failed
    Status: 5.1.1

    --DSN.1
    Content-Description: Undelivered Message
    Content-Type: message/rfc822

    From: Sales <sales@acme.example.com>
    To: nobody@client.example.org
    Subject: Our offer
    Message-ID: <offer-1@acme.example.com>
    Content-Type: multipart/mixed; boundary="IN"

    --IN
    Content-Type: text/plain

    Original text that must not become our text.
    --IN
    Content-Type: application/pdf; name="offer.pdf"

    JVBERi0=
    --IN--

    --DSN.1--
    """
)

LIST_MAIL = mail(
    """
    From: Newsletter <news@vendor.example.net>
    To: sales@acme.example.com
    Subject: =?utf-8?q?Neu_im_Januar?=
    Date: Thu, 11 Jan 2024 06:00:00 +0000
    Message-ID: <nl-2024-01@vendor.example.net>
    list-id: =?utf-8?q?Vendor_Neuigkeiten?= <news.vendor.example.net>
    List-Unsubscribe: <https://vendor.example.net/u/abc>,
     <mailto:unsubscribe@vendor.example.net?subject=unsubscribe>
    List-Unsubscribe-Post: List-Unsubscribe=One-Click
    Precedence: bulk
    Feedback-ID: 153975342:153975342.8987958:us1:mc
    X-Mailer: Mailchimp Mailer
    X-Auto-Response-Suppress: OOF, AutoReply
    Content-Type: text/plain

    This month: new chairs.
    """
)

AUTO_REPLY = mail(
    """
    From: Jane <jane@client.example.org>
    To: sales@acme.example.com
    Subject: Automatic reply: Our offer
    Date: Thu, 11 Jan 2024 06:00:00 +0000
    Message-ID: <oof-1@client.example.org>
    Auto-Submitted: auto-replied
    X-Autoreply: yes
    X-Auto-Response-Suppress: All
    X-MS-Exchange-Inbox-Rules-Loop: jane@client.example.org
    X-Loop: @LOOP@
    Return-Path: <>
    Content-Type: text/plain

    I am out of the office until Monday.
    """,
    LOOP="x" * 700,
)

BAD_DATE = mail(
    """
    From: jane@client.example.org
    To: sales@acme.example.com
    Subject: when?
    Date: the day after tomorrow
    Message-ID: <date-1@client.example.org>

    x
    """
)

UTC_MINUS_ZERO = mail(
    """
    From: jane@client.example.org
    To: sales@acme.example.com
    Subject: utc
    Date: 11 Jan 2024 06:00:00 -0000
    Message-ID: <date-2@client.example.org>

    x
    """
)

RAW_UTF8_HEADERS = mail(
    """
    From "MAILER-DAEMON" Thu Jan 11 06:00:00 2024
    From: Jürgen Müller <jürgen@müller.example.de>
    To: sales@acme.example.com
    Subject: Grüße ohne Kodierung
    Date: Thu, 11 Jan 2024 06:00:00 +0000
    Message-ID: <utf8-1@müller.example.de>

    Hallo
    """
)

CASES = [
    Case(
        "plain",
        PLAIN,
        {
            "message_id": "<CAF=x1@mail.client.example.org>",
            "mailbox": "sales@acme.example.com",
            "direction": MailDirection.INBOUND,
            "from_.address": "jane.doe@client.example.org",
            "from_.name": "Doe, Jane",
            "to[0].address": "sales@acme.example.com",
            "to[0].name": "Sales Team",
            "cc[0].address": "bob@client.example.org",
            "cc[1].address": "accounting@acme.example.com",
            "reply_to[0].address": "orders@client.example.org",
            "subject": "Quote for 200 chairs",
            "sent_at": datetime(2024, 1, 2, 9, 0, tzinfo=UTC),
            "thread_id": "<CAF=x1@mail.client.example.org>",
            "in_reply_to": None,
            "references": [],
            "text": "Hello,\n\ncould you send us a quote for 200 chairs — delivery to Köln by "
            "March?\n\nThanks,\nJane",
            "snippet": "Hello, could you send us a quote for 200 chairs — delivery to Köln by "
            "March? Thanks, Jane",
            "attachments": [],
            "auto_headers": {},
            "report_type": None,
            "size_bytes": len(PLAIN),
            "defects": [],
            "counterpart": "jane.doe@client.example.org",
        },
    ),
    Case(
        "multipart-alternative",
        ALTERNATIVE,
        {
            "text": "The plain part: café at 10:00.",
            "attachments": [],
            "sent_at": datetime(2024, 1, 3, 14, 15, tzinfo=UTC),
            "defects": [],
        },
    ),
    Case(
        "html-only",
        HTML_ONLY,
        {
            "text": "Yes, we accept the offer & the terms.\nPrice: 5 000€\n- 200 chairs\n"
            "- 20 tables",
            "snippet": "Yes, we accept the offer & the terms. Price: 5 000€ - 200 chairs - 20 "
            "tables",
        },
    ),
    Case(
        "attachments",
        ATTACHMENTS,
        {
            "text": "Contract attached.",
            "attachments[0].type": "image/png",
            "attachments[0].name": None,
            "attachments[0].size": len(PNG),
            "attachments[0].sha256": sha(PNG),
            "attachments[1].name": "Vertrag Müller.pdf",
            "attachments[1].type": "application/pdf",
            "attachments[1].size": len(PDF),
            "attachments[1].sha256": sha(PDF),
            "attachments[2].name": "Прайс.xlsx",
            "attachments[2].sha256": sha(b"price list"),
            "attachments[3].name": "notes.txt",
            "attachments[3].type": "text/plain",
            "attachments[3].size": len(b"not the body"),  # the last line break is the boundary's
            "defects": [],
        },
    ),
    Case(
        "mislabelled-ascii",
        MISLABELLED,
        {"text": "Grüße aus Köln", "subject": "mislabelled"},
    ),
    Case(
        "unknown-charset",
        UNKNOWN_CHARSET,
        {
            "subject": "café",
            "text": "Grüße, € 5 and one stray \ufffd byte",
            "defects": ["UnknownCharsetDefect: x-bogus-42"],
        },
    ),
    Case(
        "utf8-declared-cp1252-bytes",
        CP1252_AS_UTF8,
        {
            # mostly windows-1252: decoded as such, the one real UTF-8 character suffers
            "text": "It’s “quoted” and valid UTF-8 Ã©",
            "defects": ["CharsetDecodeDefect: utf-8"],
        },
    ),
    Case(
        "wrong-boundary",
        WRONG_BOUNDARY,
        {
            "text": "The real text.",
            "attachments[0].name": "a.zip",
            "attachments[0].type": "application/zip",
            "defects": [
                "StartBoundaryNotFoundDefect",
                "MultipartInvariantViolationDefect",
                "RecoveredBoundaryDefect",
            ],
        },
    ),
    Case(
        "truncated-mime",
        TRUNCATED_MIME,
        {
            "text": "The text survives.",
            "attachments[0].name": "big.pdf",
            "attachments[0].sha256": sha(b"%PDF-1.4\n"),
            "defects": ["CloseBoundaryNotFoundDefect"],
        },
    ),
    Case(
        "missing-message-id",
        NO_MESSAGE_ID,
        {
            "message_id": message_key(NO_MESSAGE_ID),
            "thread_id": message_key(NO_MESSAGE_ID),
            "from_.address": "mailer-daemon@mx.example.net",
            "from_.name": "Mail Delivery System",
            "defects": ["MissingMessageIdDefect"],
        },
    ),
    Case(
        "references-threading",
        THREADED,
        {
            "thread_id": "<root@client.example.org>",
            "in_reply_to": "<second@acme.example.com>",
            "references": ["<root@client.example.org>", "<second@acme.example.com>"],
        },
    ),
    Case(
        "in-reply-to-threading",
        IN_REPLY_TO_ONLY,
        {
            "thread_id": "<parent@acme.example.com>",
            "in_reply_to": "<parent@acme.example.com>",
            "references": [],
        },
    ),
    Case(
        "calendar-request",
        CALENDAR,
        {
            "text": "You have been invited to Contract review.",
            "auto_headers": {"X-Switchboard-Calendar-Method": "REQUEST"},
            "attachments[0].type": "text/calendar",
            "attachments[1].name": "invite.ics",
            "attachments[1].type": "application/ics",
        },
    ),
    Case(
        "calendar-reply",
        CALENDAR_REPLY,
        {
            "text": "",
            "auto_headers": {
                "Content-Class": "urn:content-classes:calendarmessage",
                "X-Switchboard-Calendar-Method": "REPLY",
            },
        },
    ),
    Case(
        "dsn",
        DSN,
        {
            "report_type": "delivery-status",
            "from_.address": "mailer-daemon@mx.acme.example.com",
            # our own MTA's bounce, but nothing proves it: a claim, so inbound and flagged
            "direction": MailDirection.INBOUND,
            "counterpart": "mailer-daemon@mx.acme.example.com",
            "spoofed_sender": True,
            "sender_evidence": SenderEvidence.NONE,
            "auto_headers": {"Auto-Submitted": "auto-replied", "Return-Path": "<>"},
            "text": "I'm sorry to have to inform you that your message could not\nbe delivered "
            "to one or more recipients.\n\n<nobody@client.example.org>: host "
            "mx.client.example.org said: 550 5.1.1 unknown user",
            "attachments[0].type": "message/delivery-status",
            "attachments[1].type": "message/rfc822",
            "sent_at": datetime(2024, 1, 10, 11, 0, tzinfo=UTC),
        },
    ),
    Case(
        "list-mail",
        LIST_MAIL,
        {
            "subject": "Neu im Januar",
            "auto_headers": {
                "Precedence": "bulk",
                "X-Auto-Response-Suppress": "OOF, AutoReply",
                "List-Id": "Vendor Neuigkeiten <news.vendor.example.net>",
                "List-Unsubscribe": "<https://vendor.example.net/u/abc>, "
                "<mailto:unsubscribe@vendor.example.net?subject=unsubscribe>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "Feedback-ID": "153975342:153975342.8987958:us1:mc",
            },
            "counterpart": "news@vendor.example.net",
        },
    ),
    Case(
        "auto-reply",
        AUTO_REPLY,
        {
            "auto_headers": {
                "Auto-Submitted": "auto-replied",
                "X-Autoreply": "yes",
                "X-Auto-Response-Suppress": "All",
                "X-MS-Exchange-Inbox-Rules-Loop": "jane@client.example.org",
                "X-Loop": "x" * 500,
                "Return-Path": "<>",
            },
            "text": "I am out of the office until Monday.",
        },
    ),
    Case(
        "unparseable-date",
        BAD_DATE,
        {"sent_at": None, "defects": ["InvalidDateDefect"]},
    ),
    Case(
        "utc-minus-zero",
        UTC_MINUS_ZERO,
        {"sent_at": datetime(2024, 1, 11, 6, 0, tzinfo=UTC), "defects": []},
    ),
    Case(
        "raw-utf8-headers-and-mbox-line",
        RAW_UTF8_HEADERS,
        {
            "from_.name": "Jürgen Müller",
            "from_.address": "jürgen@müller.example.de",
            "subject": "Grüße ohne Kodierung",
            "message_id": "<utf8-1@müller.example.de>",
            "text": "Hallo",
        },
    ),
    Case(
        "crlf",
        mail(PLAIN.decode(), crlf=True),
        {"subject": "Quote for 200 chairs", "text": PLAIN.decode().split("\n\n", 1)[1].strip()},
    ),
    *(
        Case(
            f"subject-{index}",
            (
                f"From: a@client.example.org\nSubject: {encoded}\nMessage-ID: <s{index}@x.org>\n"
                "Date: Thu, 11 Jan 2024 06:00:00 +0000\n\nx\n"
            ).encode(),
            {"subject": decoded, "defects": []},
        )
        for index, (encoded, decoded) in enumerate(SUBJECTS)
    ),
    *(Case(f"reply-{name}", replied(body), {"text": expected}) for name, body, expected in REPLIES),
    *(
        Case(f"html-reply-{name}", replied_html(body), {"text": expected})
        for name, body, expected in HTML_REPLIES
    ),
]


def resolve(result: MailReceived, path: str) -> Any:
    value: Any = result
    for segment in path.split("."):
        match = re.fullmatch(r"([\w-]+)(?:\[(\d+)\])?", segment)
        assert match is not None, path
        name, index = match.groups()
        value = value[name] if isinstance(value, dict) else getattr(value, name)
        if index is not None:
            value = value[int(index)]
    return value


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_parse_message(case: Case) -> None:
    result = parse_message(case.raw, mailbox=case.mailbox, folder="INBOX")
    for path, expected in case.expected.items():
        assert resolve(result, path) == expected, path
    assert result.folder == "INBOX"
    assert result.message_id == message_key(case.raw)
    # the event must survive its own wire format
    assert MailReceived.model_validate_json(result.model_dump_json(by_alias=True)) == result


@pytest.mark.parametrize(
    ("sender", "to", "cc", "direction", "counterpart"),
    [
        (
            "Jane <jane@client.example.org>",
            "sales@acme.example.com",
            "",
            MailDirection.INBOUND,
            "jane@client.example.org",
        ),
        (
            "Sales <sales@acme.example.com>",
            "Bob <bob@ACME.example.com>, Jane <Jane@Client.example.org>",
            "other@client.example.org",
            MailDirection.OUTBOUND,
            "jane@client.example.org",
        ),
        (
            "Sales <sales@acme.example.com>",
            "bob@eu.acme.example.com",
            "boss.acme@gmail.com",
            MailDirection.INTERNAL,
            None,
        ),
        (
            "Boss <boss.acme@gmail.com>",
            "jane@client.example.org",
            "",
            MailDirection.OUTBOUND,
            "jane@client.example.org",
        ),
        # a look-alike domain is not ours
        (
            "Mallory <sales@acme.example.com.evil.example>",
            "sales@acme.example.com",
            "",
            MailDirection.INBOUND,
            "sales@acme.example.com.evil.example",
        ),
        # no usable sender: inbound without a counterpart
        ("undisclosed", "sales@acme.example.com", "", MailDirection.INBOUND, None),
    ],
)
def test_direction(
    sender: str, to: str, cc: str, direction: MailDirection, counterpart: str | None
) -> None:
    # read from the Sent folder: what is ours counts as ours
    result = parse_message(addressed(sender, to, cc), mailbox=ACME, folder="Sent")
    assert (result.direction, result.counterpart) == (direction, counterpart)


def test_mailbox_address_is_own_without_domains() -> None:
    mailbox = MailboxIdentity(address="Me@Personal.example.org", own_domains=frozenset())
    result = parse_message(
        addressed("me@personal.example.org", "x@client.example.org"), mailbox=mailbox, folder="Sent"
    )
    assert result.direction is MailDirection.OUTBOUND
    assert result.counterpart == "x@client.example.org"
    assert result.mailbox == "Me@Personal.example.org"


def test_deterministic_key_without_message_id_ignores_trace_headers() -> None:
    key = message_key(NO_MESSAGE_ID)
    assert re.fullmatch(r"<[0-9a-f]{64}@switchboard\.invalid>", key)
    delivered = (
        b"Return-Path: <>\r\nDelivered-To: sales@acme.example.com\r\n"
        b"Received: from mx by imap; Mon, 8 Jan 2024 12:00:01 +0000\r\n"
    ) + NO_MESSAGE_ID.replace(b"\n", b"\r\n")
    assert message_key(delivered) == key
    assert parse_message(delivered, mailbox=ACME).message_id == key
    assert message_key(NO_MESSAGE_ID.replace(b"deliver", b"DELIVER")) != key


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("Message-ID: <abc@example.com>", "<abc@example.com>"),
        ("message-id:   <abc@example.com>  (comment)", "<abc@example.com>"),
        ("Message-Id: <abc@\n example.com>", "<abc@example.com>"),
        ("Message-ID: abc@example.com", "<abc@example.com>"),
    ],
)
def test_message_key_normalises(header: str, key: str) -> None:
    assert message_key(f"From: a@example.com\n{header}\n\nbody\n".encode()) == key


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty"),
        (b" \r\n\r\n\t", "empty"),
        (b"\x00\x01\x02 binary junk \xff\xfe" * 10, "not_a_message"),
        (b"just some text\nwithout headers\n", "not_a_message"),
        (b"X-Something: only\n\nbody", "not_a_message"),
    ],
)
def test_not_a_message(raw: bytes, reason: str) -> None:
    with pytest.raises(UnparseableMessage) as caught:
        parse_message(raw, mailbox=ACME)
    assert caught.value.reason == reason
    assert caught.value.detail


def test_too_large() -> None:
    with pytest.raises(UnparseableMessage) as caught:
        parse_message(PLAIN, mailbox=ACME, max_bytes=len(PLAIN) - 1)
    assert caught.value.reason == "too_large"
    assert parse_message(PLAIN, mailbox=ACME, max_bytes=len(PLAIN)).size_bytes == len(PLAIN)


def test_long_text_is_bounded_and_snippet_is_short() -> None:
    body = ("word " * 40 + "\n") * 5000
    result = parse_message(replied(body), mailbox=ACME)
    assert 0 < len(result.text) <= 32_000
    assert len(result.snippet) <= 200
    assert result.snippet.startswith("word word")


def test_forward_without_comment_has_empty_text_but_a_snippet() -> None:
    body = """
    ---------- Forwarded message ---------
    From: Client <jane@client.example.org>
    Date: Mon, Jan 8, 2024 at 10:00 AM
    Subject: Order

    Please ship 200 chairs.
    """
    result = parse_message(replied(body), mailbox=ACME)
    assert result.text == ""
    assert "Please ship 200 chairs." in result.snippet


def nested(depth: int) -> bytes:
    opening = "".join(
        f"--b{i}\nContent-Type: multipart/mixed; boundary=b{i + 1}\n\n" for i in range(depth)
    )
    closing = "".join(f"--b{i}--\n" for i in range(depth, -1, -1))
    return (
        "From: a@client.example.org\nSubject: deep\nMessage-ID: <deep@x.org>\n"
        "Content-Type: multipart/mixed; boundary=b0\n\n"
        f"{opening}--b{depth}\nContent-Type: text/plain\n\nhi\n{closing}"
    ).encode()


def test_nested_multiparts_are_walked() -> None:
    result = parse_message(nested(30), mailbox=ACME)
    assert result.text == "hi"
    assert result.defects == ["MissingDateDefect"]


def test_hostile_nesting_is_a_defect_not_a_crash() -> None:
    # Past 64 boundaries the rest are ignored: the stdlib parser's cost grows with depth x lines.
    result = parse_message(nested(1200), mailbox=ACME)
    assert result.subject == "deep"
    assert "TooManyMimeBoundariesDefect" in result.defects
    assert "MimeNestingTooDeepDefect" in result.defects
