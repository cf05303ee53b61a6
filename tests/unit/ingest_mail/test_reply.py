"""Reply stripping, one behaviour per test: what the CRM shows as the sender's new text.

The figures over every vendored fixture are `scripts/eval_mail.py`'s (`test_eval_mail.py`).
"""
# ruff: noqa: RUF001  (Cyrillic and Vietnamese quote headers are the point of these samples)

from __future__ import annotations

import time
from textwrap import dedent

import pytest

from ingest_mail.domain import MailboxIdentity, parse_message
from ingest_mail.domain.reply import MAX_LINES, extract_reply, split_reply

QUOTE = "> Here is the quote for 40 chairs.\n"


def reply(text: str) -> str:
    return extract_reply(dedent(text).lstrip("\n"))


class TestPosting:
    def test_bottom_posted_answer_is_kept(self) -> None:
        assert reply(
            """
            On Tue, Jan 14, 2025 at 10:02 AM Anna <anna@acme.example> wrote:
            > Here is the quote.

            Thanks, that works.
            Bob
            """
        ) == ("Thanks, that works.\nBob")

    def test_interleaved_answers_below_a_top_line_are_kept(self) -> None:
        assert reply(
            """
            Answers below.

            On Tue, Jan 14, 2025 at 10:02 AM Anna <anna@acme.example> wrote:
            > Delivery?

            Yes, to Riga.

            > Colour?

            Black.
            """
        ) == ("Answers below.\n\nYes, to Riga.\n\nBlack.")

    def test_a_quoted_line_wrapped_by_the_client_is_not_an_answer(self) -> None:
        assert reply(
            """
            Test

            On Sep 21, 2016 3:18 PM, "frugal" <noreply@frugal.example> wrote:
            > Pitchfork occupy vegan pabst hammock. Wayfarers etsy pok pok, kale chips
            brooklyn four dollar toast street art 3 wolf moon.
            > VIEW ALL MESSAGES
            """
        ) == ("Test")

    def test_outlook_history_is_dropped_whole(self) -> None:
        assert reply(
            """
            Works for me.

            From: Anna <anna@acme.example>
            Sent: Tuesday, January 14, 2025 10:02 AM
            To: Bob <bob@client.example>
            Subject: Meeting

            Does Thursday work?
            """
        ) == ("Works for me.")


@pytest.mark.parametrize(
    ("attribution", "language"),
    [
        ("otrd., 2025. g. 14. janv., plkst. 10:02 — Anna (<anna@acme.example>) rakstīja:", "lv"),
        ("2025-01-14, an, 10:02, Anna <anna@acme.example> rašė:", "lt"),
        ("Pada Sel, 14 Jan 2025 pada 10:02 PG, Anna <anna@acme.example> menulis:", "ms"),
        ("wt., 14 sty 2025 o 10:02 Anna Nowak <anna@acme.example> napisał(a):", "pl"),
        ("W dniu 14.01.2025 o 10:02, Anna Nowak pisze:", "pl"),
        ("Em ter., 14 de jan. de 2025 às 10:02, Anna <anna@acme.example> escreveu:", "pt"),
        ("tir. 14. jan. 2025 kl. 10:02 skrev Anna Hansen <anna@acme.example>:", "no"),
        ("Den 24. nov. 2025 kl. 10.00 skrev Peter <peter@example.com>:", "da"),
        ("Den fre 28 feb. 2025 10:15Anna <anna@acme.example> skrev:", "sv"),
        ("ti 14. tammik. 2025 klo 10.02 Anna (anna@acme.example) kirjoitti:", "fi"),
        ("вт, 14 янв. 2025 г. в 10:02, Анна Петрова <anna@acme.example>:", "ru"),
        ("Vào Th 3, 14 thg 1, 2025 vào lúc 10:02 Anna <anna@acme.example> đã viết:", "vi"),
        ("Op ma 15 jan. 2025 17:03 Anna <anna@acme.example> schreef:", "nl"),
        ("Il giorno lun 4 lug 2022 alle ore 08:12 Rick <rick@example.com> ha scritto:", "it"),
        ("Le mer. 29 juin 2022 à 12:32, Rick (<rick@example.com>) a écrit :", "fr"),
        ("El mié, 29 jun 2022 a las 11:08, Rick (<rick@example.com>) escribió:", "es"),
        ("Am Mo., 4. Juli 2022 um 08:13 Uhr schrieb Rick <rick@example.com>:", "de"),
    ],
)
def test_attributions_in_many_languages(attribution: str, language: str) -> None:
    assert extract_reply(f"Agreed.\n\n{attribution}\n\n{QUOTE}") == "Agreed.", language


@pytest.mark.parametrize(
    "attribution",
    [
        "On Mon, Jan 15, 2025, 5:03 PM Anna Andersson <anna@acme.example>\nwrote:",
        "Am Mo., 15. Jan. 2025, 17:03 schrieb Anna Andersson <\nanna@acme.example>:",
        "On Wed, Dec 9, Mister Example\n<mrmister@example.com>\nwrote:",
        "Den mån 15 jan. 2025 17:03 skrev Anna Andersson <\nanna@acme.example>:",
    ],
)
def test_attributions_wrapped_by_the_client(attribution: str) -> None:
    assert extract_reply(f"Agreed.\n\n{attribution}\n\n{QUOTE}") == "Agreed."


@pytest.mark.parametrize(
    "block",
    [
        "No: Anna <anna@acme.example>\nNosūtīts: otrdiena, 2025. gada 14. janvāris 10:02\n"
        "Kam: Jānis <janis@client.example>\nTēma: Piedāvājums",
        "Nuo: Anna <anna@acme.example>\nIšsiųsta: 2025 m. sausio 14 d. 10:02\n"
        "Kam: Rūta <ruta@client.example>\nTema: Pasiūlymas",
        "Daripada: Anna <anna@acme.example>\nDihantar: Selasa, 14 Januari 2025 10:02 PG\n"
        "Kepada: Aminah <aminah@client.example>\nSubjek: Sebut harga",
        "Od: Anna <anna@acme.example>\nWysłano: wtorek, 14 stycznia 2025 10:02\n"
        "Do: Piotr <piotr@client.example>\nTemat: Oferta",
        "De: john@example.com\nEnviada em: sexta-feira, 27 de julho de 2012 15:09\n"
        "Para: shelly@example.com\nAssunto: Proposta",
        "Fra: Anna <anna@acme.example>\nSendt: tirsdag 14. januar 2025 10:02\n"
        "Til: Ola <ola@client.example>\nEmne: Tilbud",
        "Från: Anna <anna@acme.example>\nSkickat: den 14 januari 2025 10:02\n"
        "Till: Erik <erik@client.example>\nÄmne: Offert",
        "Từ: Anna <anna@acme.example>\nĐã gửi: Thứ Ba, ngày 14 tháng 1 năm 2025 10:02\n"
        "Đến: Minh <minh@client.example>\nChủ đề: Báo giá",
        "*Van:* Anna [mailto:anna@acme.example]\n*Verzonden:* donderdag 9 februari 2012\n"
        "*Aan:* jow@client.example\n*Onderwerp:* Offerte",
        "Date: Tue, 2 Oct 2012 02:35:10 +0000 From: john@example.com To: Smith, Shelly "
        "Subject: Tell us",
    ],
)
def test_outlook_header_blocks_in_many_languages(block: str) -> None:
    assert extract_reply(f"Agreed.\n\n{block}\n\nThe quoted message.\n") == "Agreed."


class TestTalonsCases:
    """Shapes from talon's suite (tests/corpora/replies/talon)."""

    def test_text_and_attribution_on_one_line(self) -> None:
        body = "reply\nbla-bla - bla--- On Wed, Apr 4, 2012 at 3:59 PM, me@domain.com wrote:\n> Hi"
        assert extract_reply(body) == "reply\nbla-bla - bla"

    def test_an_attribution_between_dashes(self) -> None:
        body = "Yes.\n\n------On 12/29/1987 17:32 PM, Julius Caesar wrote-----\n\nOld text\n"
        assert extract_reply(body) == "Yes."

    @pytest.mark.parametrize("name", ["Reply Message", "Antwort Nachricht", "Original Message"])
    def test_original_message_separators(self, name: str) -> None:
        assert extract_reply(f"Test reply\n\n-----{name}-----\n\nTest") == "Test reply"

    def test_the_line_before_an_attribution_is_the_senders(self) -> None:
        body = "Call me at 10\nOn 04/19/2011 07:10 AM, Roman wrote:\n\n>Test\n\nRegards, Roman"
        assert extract_reply(body) == "Call me at 10\n\nRegards, Roman"

    def test_a_wrapped_address_line_is_part_of_the_attribution(self) -> None:
        body = (
            'Thanks\n On Mar 8, 2012 9:59 AM, "Example.com" <\n'
            "r+7f1b094ceb90e18cca93d53d3703feae@example.com> wrote:\n\n>  Blah"
        )
        assert extract_reply(body) == "Thanks"

    @pytest.mark.parametrize(
        "continuation",
        [" (http://example.com/c/YzOTYzMmE) >", "_nonce=3dd518)"],
    )
    def test_a_link_wrapped_inside_the_quote_does_not_leak(self, continuation: str) -> None:
        body = (
            "Blah\n\nOn Monday, 24 September, 2012 at 3:46 PM, bob wrote:\n\n"
            f"> View ticket (http://example.com/action\n{continuation}\n>\n"
        )
        assert extract_reply(body) == "Blah"

    def test_a_trimmed_header_block(self) -> None:
        assert extract_reply("Blah\n\nDate: Wed, 16 May 2012 00:15\nTo: k@example.com") == "Blah"
        assert extract_reply("8.45am-1pm\n\nFrom: somebody@example.com\n\nRequester: ") == (
            "8.45am-1pm"
        )


def test_a_line_starting_with_from_is_no_header_block() -> None:
    text = "From: foo\nBar baz.\n\nOutlook with a reply directly above line"
    assert extract_reply(text) == text


class TestFooters:
    @pytest.mark.parametrize(
        "footer",
        [
            "Sent from my iPhone",
            "Sent from my Samsung Galaxy smartphone.",
            "Get Outlook for iOS<https://aka.ms/o0ukef>",
            "Von meinem iPhone gesendet",
            "Envoyé de mon iPad",
            "Wysłane z mojego telefonu",
        ],
    )
    def test_a_mobile_footer_at_the_end_is_removed(self, footer: str) -> None:
        assert extract_reply(f"Yes, Thursday works.\n\n{footer}\n") == "Yes, Thursday works."

    @pytest.mark.parametrize(
        "sentence",
        [
            "Sent from my desk, is much easier than my mobile phone.",
            "Sent from my desk, where the coffee is better.",
        ],
    )
    def test_a_sentence_that_starts_like_a_footer_is_kept(self, sentence: str) -> None:
        assert extract_reply(f"See you at ten.\n\n{sentence}\n") == f"See you at ten.\n\n{sentence}"

    def test_a_footer_in_the_middle_is_kept(self) -> None:
        text = "Sent from my iPhone\n\nPlease ignore the line above, this is the real question?"
        assert extract_reply(text) == text


class TestForwards:
    FORWARD = (
        "FYI, see the question below.\n\n"
        "---------- Forwarded message ---------\n"
        "From: Carol <carol@client.example>\nSubject: Quote\n\n"
        "Could you send a quote for 40 chairs?\n"
    )

    def test_the_forwarded_message_is_kept_apart(self) -> None:
        split = split_reply(self.FORWARD)
        assert split.text == "FYI, see the question below."
        assert split.forwarded == (
            "From: Carol <carol@client.example>\nSubject: Quote\n\n"
            "Could you send a quote for 40 chairs?"
        )

    def test_apple_mails_forward(self) -> None:
        split = split_reply(
            "Zur Info.\n\nAnfang der weitergeleiteten Nachricht:\n\nVon: Carol\n\nAngebot?\n"
        )
        assert (split.text, split.forwarded) == ("Zur Info.", "Von: Carol\n\nAngebot?")

    def test_the_event_carries_the_forwarded_text(self) -> None:
        raw = (
            "From: Bob <bob@client.example>\nTo: anna@acme.example\nSubject: Fwd: Quote\n\n"
            + self.FORWARD
        ).encode()
        mailbox = MailboxIdentity("anna@acme.example", frozenset({"acme.example"}))
        mail = parse_message(raw, mailbox=mailbox)
        assert mail.text == "FYI, see the question below."
        assert mail.forwarded.endswith("Could you send a quote for 40 chairs?")

    def test_a_reply_has_nothing_forwarded(self) -> None:
        assert split_reply(f"Agreed.\n\nOn Tue, 14 Jan 2025 Anna wrote:\n{QUOTE}").forwarded == ""


@pytest.mark.parametrize(
    "body",
    [
        ("1 " * 140 + "x:\n") * (MAX_LINES + 200),
        ("<a@b.example> " * 30 + ":\n") * MAX_LINES,
        ("From: a\nDate: 1\n") * MAX_LINES,
        ("> x\n" + "y" * 80 + "\n") * MAX_LINES,
        "On 1 " + "x" * 200_000 + " wrote:\n> q\n",
    ],
)
def test_hostile_bodies_are_read_quickly(body: str) -> None:
    started = time.perf_counter()
    split_reply(body)
    assert time.perf_counter() - started < 1.0
