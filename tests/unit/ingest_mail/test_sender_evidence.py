"""From: is a claim, not evidence: a message counts as ours only when it was read from a Sent
folder or a trusted relay's Authentication-Results vouch for one of our domains."""

from __future__ import annotations

import time

import pytest

from ingest_mail.domain import MailboxIdentity, parse_message
from ingest_mail.domain.authres import (
    MAX_HEADER_CHARS,
    first_trusted,
    parse_authentication_results,
)
from switchboard_shared.events.mail import MailDirection, SenderEvidence

RELAY = "mx.acme.example"
ACME = MailboxIdentity(
    address="sales@acme.example",
    own_domains=frozenset({"acme.example"}),
    own_addresses=frozenset({"boss.acme@gmail.example"}),
    trusted_authserv_ids=frozenset({"MX.Acme.Example"}),
)
MANAGER = "Mia Manager <mia@acme.example>"
CLIENT = "ann@client.example"
DMARC_PASS = (
    f"{RELAY}; spf=fail smtp.mailfrom=acme.example; dkim=none; dmarc=pass header.from=acme.example"
)


def message(*headers: str, sender: str = MANAGER, to: str = CLIENT) -> bytes:
    lines = [
        *headers,
        f"From: {sender}",
        f"To: {to}",
        "Subject: Re: Quote for 20 seats",
        "Date: Wed, 25 Nov 2026 10:00:00 +0000",
        "Message-ID: <answer-1@acme.example>",
    ]
    return ("\r\n".join(lines) + "\r\n\r\nHere is the quote.\r\n").encode()


def ar(value: str) -> str:
    return f"Authentication-Results: {value}"


# -- the parser ---------------------------------------------------------------------------------


def test_parses_results_properties_comments_and_quotes() -> None:
    parsed = parse_authentication_results(
        "mx.acme.example 1; (the relay) spf=pass (sender IP is 192.0.2.1)"
        " smtp.mailfrom=acme.example;"
        ' dkim = pass (2048-bit key; "quoted" comment) reason="good ; signature"'
        " header.d=Acme.Example header.i=@acme.example header.b=PzvY/hZ+1=;"
        " dmarc=pass (p=reject dis=none) header.from=acme.example"
    )
    assert parsed is not None
    assert parsed.authserv_id == "mx.acme.example"
    assert [(r.method, r.result) for r in parsed.results] == [
        ("spf", "pass"),
        ("dkim", "pass"),
        ("dmarc", "pass"),
    ]
    dkim = parsed.results[1]
    assert dkim.prop("header.d") == "acme.example"
    assert dkim.prop("header.i") == "@acme.example"
    assert dkim.prop("header.b") == "pzvy/hz+1="
    assert parsed.results[2].prop("header.from") == "acme.example"


def test_quoted_authserv_id_version_and_none() -> None:
    parsed = parse_authentication_results('"mx.acme.example" 1 ; none')
    assert parsed is not None
    assert parsed.authserv_id == "mx.acme.example"
    assert parsed.results == ()


def test_nested_comments_and_method_versions() -> None:
    parsed = parse_authentication_results(
        "mx.acme.example; dkim/1 (a (nested (comment)) here)=pass header . d = acme.example"
    )
    assert parsed is not None
    [dkim] = parsed.results
    assert (dkim.method, dkim.result, dkim.prop("header.d")) == ("dkim", "pass", "acme.example")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "(only a comment)",
        "; dkim=pass header.d=acme.example",
        "mx.acme.example; dkim=pass header.d=acme.example" + " " * MAX_HEADER_CHARS,
    ],
)
def test_unusable_headers_give_nothing(value: str) -> None:
    parsed = parse_authentication_results(value)
    assert parsed is None or not parsed.results


def test_an_unclosed_quote_or_comment_swallows_the_rest() -> None:
    for value in (
        'mx.acme.example; dkim=fail reason="x; dmarc=pass header.from=acme.example',
        "mx.acme.example; dkim=fail (x; dmarc=pass header.from=acme.example",
    ):
        parsed = parse_authentication_results(value)
        assert parsed is not None
        assert [r.method for r in parsed.results] == ["dkim"]


def test_only_the_topmost_trusted_header_counts() -> None:
    values = [
        "other.example; dmarc=fail header.from=acme.example",
        "mx.acme.example; dmarc=fail header.from=acme.example",
        "mx.acme.example; dmarc=pass header.from=acme.example",  # below: written by the sender
    ]
    found = first_trusted(values, frozenset({"mx.acme.example"}))
    assert found is not None
    assert found.results[0].result == "fail"
    assert first_trusted(values, frozenset()) is None


def test_an_unreadable_header_above_stops_the_search() -> None:
    """It might be the relay's own; a trusted-looking header below it must not stand in."""
    pass_below = "mx.acme.example; dmarc=pass header.from=acme.example"
    for unreadable in ("mx.acme.example; " + "x" * MAX_HEADER_CHARS, "(no authserv-id)"):
        assert first_trusted([unreadable, pass_below], frozenset({"mx.acme.example"})) is None


def test_hostile_headers_parse_in_bounded_time() -> None:
    nested = "mx.acme.example; " + "(" * (MAX_HEADER_CHARS - 100)
    semicolons = "mx.acme.example" + ";dkim=pass" * ((MAX_HEADER_CHARS - 20) // 10)
    quotes = 'mx.acme.example; dkim=pass reason="' + "\\" * (MAX_HEADER_CHARS - 60)
    started = time.perf_counter()
    for value in (nested, semicolons, quotes):
        parse_authentication_results(value)
    first_trusted([semicolons] * 10_000, frozenset({"nobody.example"}))
    assert time.perf_counter() - started < 2.0


# -- the decision, through parse_message ----------------------------------------------------------


def test_a_forged_manager_from_with_no_evidence_is_inbound_and_spoofed() -> None:
    forged = message(
        f"Received: from evil.example by {RELAY}",
        ar(f"{RELAY}; spf=fail smtp.mailfrom=acme.example; dmarc=fail header.from=acme.example"),
    )
    event = parse_message(forged, mailbox=ACME, folder="INBOX")
    assert event.direction is MailDirection.INBOUND
    assert event.counterpart == "mia@acme.example"
    assert event.spoofed_sender is True
    assert event.sender_evidence is SenderEvidence.NONE


def test_no_authentication_results_at_all_is_no_evidence() -> None:
    event = parse_message(message(), mailbox=ACME)
    assert (event.direction, event.spoofed_sender) == (MailDirection.INBOUND, True)


@pytest.mark.parametrize(
    "header",
    [
        # DMARC passed for our From domain
        DMARC_PASS,
        # DKIM passed for our domain, aligned with From (same domain, or parent / subdomain)
        f"{RELAY}; dkim=pass header.d=acme.example header.s=s1",
        f"{RELAY}; dkim=pass header.i=@acme.example",
        f"{RELAY}; dkim=fail header.d=other.example; dkim=pass header.d=mail.acme.example",
    ],
)
def test_a_trusted_relay_vouching_for_our_domain_makes_it_ours(header: str) -> None:
    event = parse_message(message(ar(header)), mailbox=ACME, folder="INBOX")
    assert event.direction is MailDirection.OUTBOUND
    assert event.counterpart == CLIENT
    assert event.sender_evidence is SenderEvidence.AUTHENTICATION_RESULTS
    assert event.spoofed_sender is False


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ([ar(DMARC_PASS.replace(RELAY, "mx.evil.example"))], "an untrusted authserv-id"),
        ([ar(f"{RELAY}; dkim=pass header.d=evil.example")], "DKIM passed for another domain"),
        ([ar(f"{RELAY}; dkim=pass header.d=example")], "DKIM for a parent that is not ours"),
        ([ar(f"{RELAY}; dmarc=fail header.from=acme.example")], "DMARC failed"),
        ([ar(f"{RELAY}; dmarc=pass header.from=evil.example")], "DMARC for another From"),
        ([ar(f"{RELAY}; dmarc=pass")], "DMARC without a header.from"),
        ([ar(f"{RELAY}; none")], "no results"),
        ([ar(f"{RELAY} (dmarc=pass header.from=acme.example); spf=pass")], "in a comment"),
        (
            [ar(f"{RELAY}; spf=fail smtp.mailfrom=acme.example"), ar(DMARC_PASS)],
            "a pass injected below the relay's own header",
        ),
        (
            [ar(DMARC_PASS), "From: Ann <ann@client.example>"],
            "a second From field",
        ),
    ],
)
def test_what_is_not_evidence(headers: list[str], why: str) -> None:
    event = parse_message(message(*headers), mailbox=ACME, folder="INBOX")
    assert event.direction is MailDirection.INBOUND, why
    assert event.spoofed_sender is True, why
    assert event.sender_evidence is SenderEvidence.NONE, why


def test_a_foreign_domain_own_address_needs_the_sent_folder() -> None:
    raw = message(
        ar(f"{RELAY}; dkim=pass header.d=gmail.example; dmarc=pass header.from=gmail.example"),
        sender="Boss <boss.acme@gmail.example>",
    )
    assert parse_message(raw, mailbox=ACME).spoofed_sender is True
    event = parse_message(raw, mailbox=ACME, folder="Sent")
    assert (event.direction, event.sender_evidence) == (
        MailDirection.OUTBOUND,
        SenderEvidence.SENT_FOLDER,
    )


@pytest.mark.parametrize(
    ("folder", "sent_folder"),
    [("Sent", None), ("SENT", None), ("sent", None), ("Sent Items", True), ("[Gmail]/Sent", True)],
)
def test_the_sent_folder_is_evidence(folder: str, sent_folder: bool | None) -> None:
    event = parse_message(message(), mailbox=ACME, folder=folder, sent_folder=sent_folder)
    assert event.direction is MailDirection.OUTBOUND
    assert event.sender_evidence is SenderEvidence.SENT_FOLDER
    assert event.folder == folder
    assert event.spoofed_sender is False


@pytest.mark.parametrize(
    ("folder", "sent_folder"), [("INBOX", None), ("Sent", False), (None, None)]
)
def test_other_folders_are_not(folder: str | None, sent_folder: bool | None) -> None:
    event = parse_message(message(), mailbox=ACME, folder=folder, sent_folder=sent_folder)
    assert (event.direction, event.spoofed_sender) == (MailDirection.INBOUND, True)


def test_internal_needs_evidence_too() -> None:
    raw = message(sender="mia@acme.example", to="bob@acme.example")
    assert parse_message(raw, mailbox=ACME).direction is MailDirection.INBOUND
    assert parse_message(raw, mailbox=ACME, folder="Sent").direction is MailDirection.INTERNAL


def test_a_clients_mail_is_as_before() -> None:
    event = parse_message(message(sender=f"Ann <{CLIENT}>", to="sales@acme.example"), mailbox=ACME)
    assert event.direction is MailDirection.INBOUND
    assert event.counterpart == CLIENT
    assert event.spoofed_sender is False
    assert event.sender_evidence is SenderEvidence.NONE


def test_our_sender_or_return_path_on_a_clients_from_is_the_clients_mail() -> None:
    """A web form sends the visitor's message with our Sender / Return-Path: not a forgery."""
    raw = message(
        "Return-Path: <forms@acme.example>",
        "Sender: forms@acme.example",
        sender=f"Ann <{CLIENT}>",
        to="sales@acme.example",
    )
    event = parse_message(raw, mailbox=ACME)
    assert (event.direction, event.counterpart, event.spoofed_sender) == (
        MailDirection.INBOUND,
        CLIENT,
        False,
    )


@pytest.mark.parametrize(
    "headers",
    [
        ["Sender: Mia <mia@acme.example>"],
        ["Return-Path: <mia@acme.example>"],
    ],
)
def test_without_a_from_sender_or_return_path_is_the_claim(headers: list[str]) -> None:
    raw = message(*headers, sender="undisclosed-recipients:;")
    event = parse_message(raw, mailbox=ACME)
    assert event.direction is MailDirection.INBOUND
    assert event.spoofed_sender is True


def test_a_forwarders_srs_return_path_is_no_claim() -> None:
    raw = message("Return-Path: <SRS0=HHH=TT=client.example=ann@acme.example>", sender="x")
    assert parse_message(raw, mailbox=ACME).spoofed_sender is False
