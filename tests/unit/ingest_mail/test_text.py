"""Charset fallbacks and HTML → text, the two places where real mail lies most."""

from __future__ import annotations

import pytest

from ingest_mail.domain.charsets import decode_bytes
from ingest_mail.domain.headers import decode_words
from ingest_mail.domain.htmltext import html_to_text


@pytest.mark.parametrize(
    ("data", "charset", "text", "defect"),
    [
        (b"", "utf-8", "", None),
        (b"plain ascii", None, "plain ascii", None),
        ("Grüße".encode(), None, "Grüße", None),
        # declared charsets decoded with the superset real clients use
        ("你好镕".encode("gbk"), "gb2312", "你好镕", None),
        ("あ①".encode("cp932"), "shift_jis", "あ①", None),
        ("\u2019quoted\u2019".encode("cp1252"), "iso-8859-1", "\u2019quoted\u2019", None),
        ("תל אביב".encode("iso8859-8"), "iso-8859-8-i", "תל אביב", None),
        # ASCII-looking bytes that still need their codec
        ("こんにちは".encode("iso-2022-jp"), "iso-2022-jp", "こんにちは", None),
        (b"Hi Mom -+Jjo--!", "utf-7", "Hi Mom -☺-!", None),
        # the classic mislabel: UTF-8 declared as Latin-1 or ASCII
        ("Köln".encode(), "iso-8859-1", "Köln", None),
        ("Köln".encode(), "us-ascii", "Köln", None),
        # unknown labels: UTF-8 if it is UTF-8, else windows-1252
        ("café".encode(), "x-bogus", "café", "UnknownCharsetDefect: x-bogus"),
        (b"caf\xe9", "x-bogus", "café", "UnknownCharsetDefect: x-bogus"),
        (b"caf\xe9", "unknown-8bit", "café", "UnknownCharsetDefect: unknown-8bit"),
        # codecs that are not charsets are never used
        (b"\\u0041 and \\x42", "unicode_escape", "\\u0041 and \\x42", None),
        (b"xn--bcher-kva", "punycode", "xn--bcher-kva", None),
        (b"caf\xe9", "punycode", "café", "UnknownCharsetDefect: punycode"),
        (b"caf\xe9", "rot13", "café", "UnknownCharsetDefect: rot13"),
        # bytes invalid in the declared charset
        (b"\x82\xa0\x81", "shift_jis", "あ\ufffd", "CharsetDecodeDefect: shift_jis"),
    ],
)
def test_decode_bytes(data: bytes, charset: str | None, text: str, defect: str | None) -> None:
    decoded = decode_bytes(data, charset)
    assert (decoded.text, decoded.defect) == (text, defect)


@pytest.mark.parametrize(
    ("value", "text", "defects"),
    [
        ("no encoded words", "no encoded words", []),
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab", []),
        ("=?utf-8?q?a?=  x  =?utf-8?q?b?=", "a  x  b", []),
        ("=?iso-8859-1*de?q?Gr=FC=DFe?=", "Grüße", []),
        ("=?utf-8?b?QUJDR?= tail", "=?utf-8?b?QUJDR?= tail", ["InvalidEncodedWordDefect"]),
        ("=?x-bogus?q?caf=E9?=", "café", ["UnknownCharsetDefect: x-bogus"]),
    ],
)
def test_decode_words(value: str, text: str, defects: list[str]) -> None:
    assert decode_words(value) == (text, defects)


def test_html_to_text_keeps_the_readable_text() -> None:
    html = (
        '<html><head><style>.x{}</style><script>var a = "<p>no</p>";</script></head>\n'
        '<body><div style="display: none; max-height: 0">preheader</div>\n'
        "<h1>Offer</h1><p>Chairs &amp; tables:&nbsp;5&#8239;000&nbsp;&euro;</p>\n"
        "<ul><li>one</li><li>two</li></ul><pre>  kept\n  as is</pre>\n"
        "<blockquote>quoted<blockquote>twice</blockquote></blockquote>\n"
        "<p>unclosed <b>bold<p>next</body></html>\n"
    )
    assert html_to_text(html).split("\n") == [
        "Offer",
        "",
        "Chairs & tables: 5\u202f000 €",
        "",
        "- one",
        "- two",
        "",
        "  kept",
        "  as is",
        "> quoted",
        "> > twice",
        "unclosed bold",
        "next",
    ]


@pytest.mark.parametrize(
    "html",
    ["", "<", "<p", "</p></p></div>", "<![CDATA[x", "<!-- open", "&#99999999;", "<a href='x"],
)
def test_html_to_text_never_fails(html: str) -> None:
    assert isinstance(html_to_text(html), str)
