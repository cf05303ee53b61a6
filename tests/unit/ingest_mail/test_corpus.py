"""Every message of the sisimai corpus (real bounces, ARF reports, auto-replies) parses.

The corpus is read in place from shared/ (BSD-2-Clause, never copied into the repository). It is
missing on a bare clone: the tests then skip, or fail under SWITCHBOARD_REQUIRE_INFRA=1
(`support.infra.missing_infra`).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from ingest_mail.domain import MailboxIdentity, message_key, parse_message
from support.corpora import sisimai_maildir
from support.infra import missing_infra
from switchboard_shared.events.mail import MailReceived

CORPUS = sisimai_maildir()
FILES = sorted(CORPUS.rglob("*.eml")) if CORPUS is not None else []
BOUNCES = [path for path in FILES if path.parent.name == "bsd"]
NOT_BOUNCES = [path for path in FILES if path.parent.name == "not"]
MAILBOX = MailboxIdentity(address="kijitora@example.jp", own_domains=frozenset({"example.jp"}))
# Measured: 608 of the 629 files in maildir/bsd (96.7%) carry one of the bounce signals below;
# the rest are Amazon SES JSON notices, FML/KDDI oddities, three ARF reports sent as
# multipart/mixed, and two auto-replies without a null Return-Path.
MIN_SIGNAL_SHARE = 0.95
_DAEMON_RE = re.compile(r"mailer-daemon|postmaster", re.IGNORECASE)


def require_corpus() -> None:
    # The corpus is an outside data set read in place: a local checkout without it skips these
    # tests, loudly; in strict mode (CI) its absence fails them.
    if not FILES:
        missing_infra(
            "sisimai corpus not found beside the repository (shared/corpora/sisimai/maildir "
            "next to it or a parent, or set SWITCHBOARD_SISIMAI_DIR)"
        )


@cache
def parsed(path: Path) -> MailReceived:
    return parse_message(path.read_bytes(), mailbox=MAILBOX, folder=path.parent.name)


def has_bounce_signal(message: MailReceived) -> bool:
    sender = message.from_.address or message.from_.raw if message.from_ else ""
    return bool(
        message.report_type
        or "X-Failed-Recipients" in message.auto_headers
        or message.auto_headers.get("Return-Path") == "<>"
        or _DAEMON_RE.search(sender or "")
    )


@pytest.mark.parametrize(
    "path",
    FILES or [None],
    ids=[f"{path.parent.name}/{path.name}" for path in FILES] or ["corpus-missing"],
)
def test_every_corpus_message_parses(path: Path | None) -> None:
    require_corpus()
    assert path is not None
    raw = path.read_bytes()
    message = parsed(path)
    assert message.size_bytes == len(raw)
    assert message.message_id == message_key(raw)
    assert re.fullmatch(r"<[^<>\s]+>", message.message_id)
    assert message.thread_id
    assert len(message.snippet) <= 200
    assert all(len(value) <= 500 for value in message.auto_headers.values())
    assert all(re.fullmatch(r"[0-9a-f]{64}", item.sha256) for item in message.attachments)
    MailReceived.model_validate_json(message.model_dump_json(by_alias=True))


def test_bounces_carry_bounce_signals() -> None:
    require_corpus()
    signalled = [path.name for path in BOUNCES if has_bounce_signal(parsed(path))]
    assert len(BOUNCES) >= 600
    assert len(signalled) / len(BOUNCES) >= MIN_SIGNAL_SHARE


def test_report_types_in_the_corpus() -> None:
    require_corpus()
    by_kind: dict[str, list[str | None]] = {}
    for path in BOUNCES:
        by_kind.setdefault(path.name.split("-")[0], []).append(parsed(path).report_type)
    rfc3464 = by_kind["rfc3464"]
    assert rfc3464.count("delivery-status") / len(rfc3464) >= 0.85
    assert by_kind["arf"].count("feedback-report") >= 13
    assert set(by_kind["rfc3834"]) == {None}


def test_auto_replies_in_the_corpus_carry_auto_headers() -> None:
    require_corpus()
    auto = [parsed(path) for path in BOUNCES if path.name.startswith("rfc3834-")]
    assert len(auto) == 6
    assert all(message.auto_headers for message in auto)


def test_ordinary_messages_are_not_delivery_reports() -> None:
    require_corpus()
    assert len(NOT_BOUNCES) >= 3
    for path in NOT_BOUNCES:
        message = parsed(path)
        assert message.report_type != "delivery-status", path.name
        assert "X-Failed-Recipients" not in message.auto_headers, path.name
        assert message.text, path.name
