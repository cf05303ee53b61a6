"""The caps on a message's structure, checked before the stdlib parser sees it."""

from __future__ import annotations

import time
from email.message import EmailMessage

import pytest

from ingest_mail.domain import MailboxIdentity, parse_message
from ingest_mail.domain.limits import LimitExceeded, MimeLimits, applying, check_limits
from support.corpora import sisimai_maildir
from support.infra import missing_infra

HEAD = b"From: Ann <ann@client.example>\r\nTo: sales@acme.test\r\nSubject: x\r\n"
MAILBOX = MailboxIdentity(address="sales@acme.test", own_domains=frozenset({"acme.test"}))


def part_bomb(parts: int, boundary: bytes = b"b") -> bytes:
    """Many empty parts: the shape that froze the service (1.5 million of them, 23 MB)."""
    head = HEAD + b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n'
    return head + (b"--" + boundary + b"\r\n\r\n") * parts + b"--" + boundary + b"--\r\n"


def nested_multiparts(depth: int) -> bytes:
    out = HEAD
    for level in range(depth):
        out += b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (level, level)
    return out + b"Content-Type: text/plain\r\n\r\nhello\r\n"


def nested_messages(depth: int) -> bytes:
    out = HEAD
    for _ in range(depth):
        out += b"Content-Type: message/rfc822\r\n\r\n" + HEAD
    return out + b"\r\nhello\r\n"


def reason(raw: bytes, limits: MimeLimits | None = None) -> str | None:
    try:
        check_limits(raw, limits or MimeLimits())
    except LimitExceeded as exc:
        return exc.reason
    return None


def ordinary() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ann <ann@client.example>"
    msg["To"] = "sales@acme.test"
    msg["Subject"] = "Quote"
    msg.set_content("Hello")
    msg.add_alternative("<p>Hello</p>", subtype="html")
    msg.add_attachment(b"%PDF-1.4 ...", maintype="application", subtype="pdf", filename="q.pdf")
    inner = EmailMessage()
    inner["Subject"] = "forwarded"
    inner.set_content("inner")
    msg.add_attachment(inner)
    return msg.as_bytes()


def test_an_ordinary_message_breaks_no_cap() -> None:
    assert reason(ordinary()) is None
    assert reason(part_bomb(999)) is None  # 999 parts + the message itself: 1000


def test_a_part_bomb_is_refused_quickly() -> None:
    raw = part_bomb(1_500_000)
    started = time.perf_counter()
    assert reason(raw) == "too_many_parts"
    assert time.perf_counter() - started < 2  # the stdlib parser took 40 s and 700 MB


def test_parts_count_across_levels_and_encapsulated_messages() -> None:
    limits = MimeLimits(max_parts=5)
    assert reason(part_bomb(4), limits) is None
    assert reason(part_bomb(5), limits) == "too_many_parts"
    assert reason(nested_messages(4), MimeLimits(max_parts=5)) is None
    assert reason(nested_messages(5), MimeLimits(max_parts=5)) == "too_many_parts"


def test_boundaries_are_matched_whatever_their_case_and_quoting() -> None:
    raw = part_bomb(10, boundary=b"MiXeD=_Part").replace(b'boundary="', b"BOUNDARY=  ")
    raw = raw.replace(b'_Part"\r\n', b"_Part\r\n", 1)
    assert reason(raw, MimeLimits(max_parts=5)) == "too_many_parts"


def test_lines_that_only_look_like_delimiters_are_not_parts() -> None:
    raw = part_bomb(1).replace(b"\r\n\r\n--b--", b"\r\n" + b"--bx\r\n" * 50 + b"\r\n--b--")
    assert reason(raw, MimeLimits(max_parts=5)) is None


def test_close_delimiter_bombs_are_bounded_too() -> None:
    raw = part_bomb(1) + b"--b--\r\n" * 100_000
    assert reason(raw) == "too_many_parts"


def test_nesting_depth() -> None:
    assert reason(nested_multiparts(20)) is None
    assert reason(nested_multiparts(21)) == "too_deep"
    assert reason(nested_multiparts(1000)) == "too_deep"
    assert reason(nested_messages(21), MimeLimits(max_parts=10_000)) == "too_deep"


def test_siblings_are_not_depth() -> None:
    """Thirty multiparts side by side, each closed: two levels deep, not thirty."""
    body = b""
    for n in range(30):
        body += (
            b"--outer\r\nContent-Type: multipart/alternative; boundary=in%d\r\n\r\n"
            b"--in%d\r\nContent-Type: text/plain\r\n\r\nx\r\n--in%d--\r\n" % (n, n, n)
        )
    raw = HEAD + b"Content-Type: multipart/mixed; boundary=outer\r\n\r\n" + body + b"--outer--\r\n"
    assert reason(raw, MimeLimits(max_depth=2)) is None


def test_header_section_and_field_size() -> None:
    long_field = HEAD + b"X-Long: " + b"a" * 200_000 + b"\r\n\r\nbody\r\n"
    assert reason(long_field) == "header_line_too_long"
    folded = HEAD + b"To: " + b"x@y.example,\r\n " * 20_000 + b"z@y.example\r\n\r\nbody\r\n"
    assert reason(folded) == "header_line_too_long"
    many = HEAD + b"X-A: 0123456789012345678901234567890123456789\r\n" * 30_000 + b"\r\nbody"
    assert reason(many) == "header_too_large"
    no_end = HEAD + b"X-A: 0123456789\r\n" * 100_000  # no blank line: all header
    assert reason(no_end) == "header_too_large"
    assert reason(HEAD + b"X-Long: " + b"a" * 50_000 + b"\r\n\r\nbody\r\n") is None


def test_decoded_bytes_are_capped_while_parts_are_decoded() -> None:
    raw = ordinary()
    with applying(MimeLimits(max_decoded_bytes=5)), pytest.raises(LimitExceeded) as caught:
        parse_message(raw, mailbox=MAILBOX)
    assert caught.value.reason == "decoded_too_large"
    with applying(MimeLimits()):
        assert parse_message(raw, mailbox=MAILBOX).subject == "Quote"


def test_a_boundary_found_only_by_recovery_is_checked_too() -> None:
    """A multipart whose declared boundary never occurs is re-parsed with the one that does;
    the first scan did not know that boundary, so the walk checks the caps again."""
    parts = b"--hidden\r\nContent-Type: text/plain\r\n\r\nx\r\n" * 50
    raw = (
        HEAD
        + b'Content-Type: multipart/mixed; boundary="declared"\r\n\r\n'
        + parts
        + b"--hidden--\r\n"
    )
    limits = MimeLimits(max_parts=10)
    assert reason(raw, limits) is None  # nothing the parser would split on, as written
    with applying(limits), pytest.raises(LimitExceeded) as caught:
        parse_message(raw, mailbox=MAILBOX)
    assert caught.value.reason == "too_many_parts"


def test_the_corpus_breaks_no_default_cap() -> None:
    corpus = sisimai_maildir()
    if corpus is None:
        missing_infra("sisimai corpus not found beside the repository (SWITCHBOARD_SISIMAI_DIR)")
        return
    refused = [
        (path.name, found)
        for path in sorted(corpus.rglob("*.eml"))
        if (found := reason(path.read_bytes())) is not None
    ]
    assert refused == []


def test_a_huge_folded_field_is_named_as_a_field_not_a_section() -> None:
    folded = b"\r\n ".join([b"x" * 76] * 26_000)  # 2 MB of one Subject
    assert reason(HEAD.replace(b"Subject: x", b"Subject: " + folded) + b"\r\nhi") == (
        "header_line_too_long"
    )


def test_encapsulation_bombs() -> None:
    nested = HEAD + b"Content-Type: message/rfc822\r\n\r\n" * 100_000
    assert reason(nested) in ("too_deep", "too_many_parts")
    first_line = b"Content-Type: message/rfc822\r\n\r\n" * 21 + b"hi"
    assert reason(first_line, MimeLimits(max_parts=10_000)) == "too_deep"


def test_a_parameter_that_only_ends_in_boundary_is_not_a_declaration() -> None:
    """The parser reads `boundary=` at a word boundary only; so does the scan, else a decoy
    could push a real boundary out of the 64 the parser honours."""
    decoys = b"".join(b"X-D%d: xboundary=decoy%d\r\n" % (n, n) for n in range(100))
    raw = part_bomb(50).replace(b"Subject: x\r\n", b"Subject: x\r\n" + decoys)
    assert reason(raw, MimeLimits(max_parts=10)) == "too_many_parts"
