"""Hostile input: parse_message returns an event or raises UnparseableMessage, nothing else."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest_mail.domain import MailboxIdentity, UnparseableMessage, message_key, parse_message
from switchboard_shared.events.mail import MailReceived

MAILBOX = MailboxIdentity(address="sales@acme.example.com", own_domains=frozenset({"example.com"}))
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

HEADER_NAMES = [
    "From",
    "To",
    "Cc",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-Disposition",
    "MIME-Version",
    "Auto-Submitted",
    "List-Id",
    "Return-Path",
    "X-Failed-Recipients",
    "X-Whatever",
]
CHARSETS = [
    "utf-8",
    "us-ascii",
    "iso-8859-1",
    "koi8-r",
    "gb2312",
    "iso-2022-jp",
    "utf-7",
    "utf-16",
    "punycode",
    "unicode_escape",
    "rot13",
    "zlib",
    "x-bogus",
    "",
    '"',
    "utf-8*en",
]
ENCODINGS = ["7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "binary", "bogus"]
TYPES = [
    "text/plain",
    "text/html",
    "text/calendar; method=REPLY",
    "multipart/mixed",
    "multipart/alternative",
    "multipart/report; report-type=delivery-status",
    "message/rfc822",
    "message/delivery-status",
    "application/octet-stream",
    "image/png",
    "bogus",
]

text = st.text(max_size=80)
junk_bytes = st.binary(max_size=200)


@st.composite
def header_values(draw: st.DrawFn) -> str:
    charset = draw(st.sampled_from(CHARSETS))
    return draw(
        st.one_of(
            text,
            st.builds(
                lambda kind, payload: f"=?{charset}?{kind}?{payload}?=",
                st.sampled_from(["q", "b", "Q", "B", "x"]),
                st.text(alphabet="abcXYZ019=_+/?", max_size=24),
            ),
            st.sampled_from(
                [
                    "<a@b.example>",
                    "a@b.example)<c@d.example>",
                    '"x@y.example" <z@example.com>',
                    "undisclosed-recipients:;",
                    "<>",
                    "Mon, 32 Foo 99999 25:61:61 +9999",
                    f'text/plain; charset="{charset}"',
                    'multipart/mixed; boundary="B"',
                    "multipart/mixed; boundary=",
                    "attachment; filename*=x-bogus''%FF%FE.pdf",
                ]
            ),
        )
    )


@st.composite
def header_soup(draw: st.DrawFn) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 15))):
        name = draw(st.one_of(st.sampled_from(HEADER_NAMES), st.text(max_size=10)))
        value = draw(header_values())
        fold = draw(st.sampled_from(["", "\r\n ", "\n\t", "\n"]))
        lines.append(f"{name}:{fold}{value}")
    body = draw(st.one_of(text, junk_bytes.map(lambda b: b.decode("latin-1"))))
    separator = draw(st.sampled_from(["\n", "\r\n"]))
    return (separator.join(lines) + separator * 2 + body).encode("utf-8", "surrogateescape")


@st.composite
def mime_tree(draw: st.DrawFn, depth: int = 0) -> str:
    content_type = draw(st.sampled_from(TYPES))
    charset = draw(st.sampled_from(CHARSETS))
    encoding = draw(st.sampled_from(ENCODINGS))
    head = (
        f"Content-Type: {content_type}; charset={charset}\nContent-Transfer-Encoding: {encoding}\n"
    )
    if content_type.startswith("multipart/") and depth < 4:
        boundary = f"b{depth}"
        children = draw(st.lists(mime_tree(depth + 1), max_size=3))
        body = "".join(f"--{boundary}\n{child}\n" for child in children) + f"--{boundary}--\n"
        head = head.replace(content_type, f'{content_type}; boundary="{boundary}"')
        return f"{head}\n{body}"
    return f"{head}\n{draw(text)}\n"


def check(raw: bytes) -> None:
    try:
        result = parse_message(raw, mailbox=MAILBOX, max_bytes=100_000)
    except UnparseableMessage as exc:
        reason = exc.reason
    else:
        assert isinstance(result, MailReceived)
        assert result.message_id == message_key(raw)
        assert len(result.snippet) <= 200
        MailReceived.model_validate_json(result.model_dump_json(by_alias=True))
        return
    assert reason in {"empty", "not_a_message", "too_large"}


@SETTINGS
@given(junk_bytes)
def test_random_bytes(raw: bytes) -> None:
    check(raw)
    assert message_key(raw).startswith("<")


@SETTINGS
@given(header_soup())
def test_header_soup(raw: bytes) -> None:
    check(raw)


@SETTINGS
@given(mime_tree(), st.floats(0.0, 1.0))
def test_truncated_and_bogus_mime(tree: str, cut: float) -> None:
    raw = ("From: a@b.example\nSubject: t\nMIME-Version: 1.0\n" + tree).encode()
    check(raw)
    check(raw[: int(len(raw) * cut)])


@SETTINGS
@given(st.integers(1, 1500), st.sampled_from(["multipart/mixed", "message/rfc822"]))
def test_deep_nesting(depth: int, kind: str) -> None:
    if kind == "message/rfc822":
        raw = "From: a@b.example\nContent-Type: message/rfc822\n\n" * depth + "Subject: x\n\nhi\n"
    else:
        opening = "".join(
            f"--b{i}\nContent-Type: multipart/mixed; boundary=b{i + 1}\n\n" for i in range(depth)
        )
        raw = "From: a@b.example\nContent-Type: multipart/mixed; boundary=b0\n\n" + opening + "hi\n"
    check(raw.encode())


@SETTINGS
@given(st.sampled_from(CHARSETS), st.binary(max_size=300), st.booleans())
def test_bogus_charsets_in_bodies(charset: str, payload: bytes, html: bool) -> None:
    subtype = "html" if html else "plain"
    raw = (
        f"From: a@b.example\nSubject: =?{charset}?q?caf=E9?=\n"
        f"Content-Type: text/{subtype}; charset={charset}\n\n"
    ).encode() + payload
    check(raw)
