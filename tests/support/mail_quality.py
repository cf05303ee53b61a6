"""Mail parsing measured on public corpora: the figures of `make eval`'s mail section.

`scripts/eval_mail.py` prints them and checks the targets; `tests/unit/test_eval_mail.py`
asserts them. What is measured:

1. Bounces: sisimai's real bounces (../shared/corpora/sisimai, read in place, BSD-2-Clause;
   `maildir/bsd` minus its ARF reports and auto-replies), flufl.bounce's test messages
   (tests/corpora/flufl_bounce, Apache-2.0) and CPython's five (tests/corpora/cpython_email,
   PSF-2.0) must be tagged `bounce`; sisimai's non-bounces, ARF reports and auto-replies,
   flufl.bounce's two non-bounces, CPython's other test messages and every reply fixture
   (wrapped as a person's message, once as a reply and once under the subject "Delivery
   failure") must not. Targets: recall >= 98 %, precision 1.0. Every message must parse
   (CPython's msg_19 is not a message: rejected, as it should be).
2. Failed recipients: on flufl.bounce's messages whose suite names them, the event's
   `bounce.recipients` must be exactly the suite's. Target >= 95 %. Agreement on the permanent
   flag is printed too.
   sisimai's set names no expected recipients: the share of its bounces with any recipient read
   is printed, without a target.
3. Replies: the reply-parsing fixtures under tests/corpora/replies (GitHub's email_reply_parser
   suite and its Python port, mail-parser-reply's, talon's inline cases, ours), each with the
   text a reader should see.
   Targets: >= 95 % exact, and no line of the quoted history leaking into the text.
"""

from __future__ import annotations

import json
import quopri
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from classifier.knowledge import Knowledge
from classifier.rules import RuleSet, classify_mail
from ingest_mail.domain.parse import MailboxIdentity, UnparseableMessage, parse_message
from ingest_mail.domain.reply import split_reply
from support.corpora import REPO_ROOT as ROOT
from switchboard_shared.events import MailReceived, Tag

FLUFL = ROOT / "tests" / "corpora" / "flufl_bounce"
CPYTHON = ROOT / "tests" / "corpora" / "cpython_email"
REPLIES = ROOT / "tests" / "corpora" / "replies"
TARGETS = {"bounce_recall": 0.98, "bounce_precision": 1.0, "recipients": 0.95, "replies": 0.95}
# Samples whose folder says the opposite of what they are, counted as what they are (printed).
RELABELLED = {
    "sisimai/rb-issue-368-bug.eml": (
        True,
        "in sisimai's not/ folder as the sample of a parser bug report, but it is a bounce: "
        "postmaster, Return-Path <>, 'automatic bounce notification ... Mailbox full'",
    ),
    "sisimai/lhost-amazonses-11.eml": (False, "Amazon SES notification of a complaint"),
    "sisimai/lhost-amazonses-12.eml": (False, "Amazon SES notification of a delivery"),
    "sisimai/lhost-amazonses-13.eml": (False, "Amazon SES notification of a delivery"),
}
MAILBOX = MailboxIdentity("sales@eval.acme-sales.example", frozenset({"eval.acme-sales.example"}))


@dataclass
class Bounces:
    bounces: int = 0
    tagged: int = 0
    not_bounces: int = 0
    false_alarms: int = 0
    missed: Counter[str] = field(default_factory=Counter)
    alarms: list[str] = field(default_factory=list)
    named: int = 0  # bounces whose expected recipients are known
    named_right: int = 0
    permanence_agrees: int = 0
    wrong: list[str] = field(default_factory=list)
    sisimai_bounces: int = 0
    sisimai_with_recipients: int = 0
    parsed: int = 0
    rejected: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.tagged / self.bounces if self.bounces else 0.0

    @property
    def precision(self) -> float:
        tags = self.tagged + self.false_alarms
        return self.tagged / tags if tags else 0.0

    @property
    def recipients(self) -> float:
        return self.named_right / self.named if self.named else 0.0


@dataclass
class Replies:
    cases: int = 0
    exact: int = 0
    leaked_lines: int = 0
    forwards: int = 0
    forwards_exact: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def share(self) -> float:
        return self.exact / self.cases if self.cases else 0.0


def tagged_bounce(mail: MailReceived, rules: RuleSet, knowledge: Knowledge) -> bool:
    return Tag.BOUNCE in classify_mail(mail, rules, knowledge).tags


def measure_bounces(rules: RuleSet, sisimai: Path | None) -> Bounces:
    result = Bounces()
    knowledge = Knowledge()

    def count(name: str, mail: MailReceived, *, is_bounce: bool) -> None:
        is_bounce = RELABELLED.get(name, (is_bounce, ""))[0]
        tagged = tagged_bounce(mail, rules, knowledge)
        if is_bounce:
            result.bounces += 1
            result.tagged += tagged
            if not tagged:
                result.missed[name.rsplit("-", 1)[0].rsplit("_", 1)[0]] += 1
        else:
            result.not_bounces += 1
            result.false_alarms += tagged
            if tagged:
                result.alarms.append(name)

    if sisimai is not None:
        for path in sorted(sisimai.glob("*/*.eml")):
            mail = parse_message(path.read_bytes(), mailbox=MAILBOX)
            is_bounce = path.parent.name != "not" and not path.name.startswith(("arf-", "rfc3834-"))
            is_bounce = RELABELLED.get(f"sisimai/{path.name}", (is_bounce, ""))[0]
            count(f"sisimai/{path.name}", mail, is_bounce=is_bounce)
            if is_bounce:
                result.sisimai_bounces += 1
                result.sisimai_with_recipients += bool(mail.bounce and mail.bounce.recipients)
    truth = json.loads((FLUFL / "expected.json").read_text())
    for name, expected in truth.items():
        mail = parse_message((FLUFL / name).read_bytes(), mailbox=MAILBOX)
        count(f"flufl/{name}", mail, is_bounce=expected["bounce"])
        if expected["bounce"] and expected["recipients"]:
            result.named += 1
            got = sorted(mail.bounce.recipients) if mail.bounce else []
            permanent = mail.bounce.permanent if mail.bounce else None
            result.permanence_agrees += permanent == expected["permanent"]
            if got == expected["recipients"]:
                result.named_right += 1
            else:
                result.wrong.append(f"{name}: {got}")
    for name, label in json.loads((CPYTHON / "expected.json").read_text()).items():
        try:
            mail = parse_message((CPYTHON / name).read_bytes(), mailbox=MAILBOX)
        except UnparseableMessage as exc:
            result.rejected.append(f"cpython/{name} ({exc.reason})")
            continue
        count(f"cpython/{name}", mail, is_bounce=label["bounce"])
    for directory, name, body in reply_fixtures():
        for subject in ("Re: Quote", "Delivery failure"):  # a person may write either
            mail = parse_message(as_message(body, subject=subject), mailbox=MAILBOX)
            count(f"replies/{directory}/{name} ({subject})", mail, is_bounce=False)
    result.parsed = result.bounces + result.not_bounces
    return result


def reply_fixtures() -> list[tuple[str, str, str]]:
    """(folder, file, body) of every reply fixture, bodies decoded as a mail client would."""
    found = []
    for directory in sorted(p for p in REPLIES.iterdir() if p.is_dir()):
        expected = json.loads((directory / "expected.json").read_text())
        for name, case in expected.items():
            raw = (directory / name).read_bytes()
            if case.get("transfer_encoding") == "quoted-printable":
                raw = quopri.decodestring(raw)
            found.append((directory.name, name, raw.decode("utf-8")))
    return found


def as_message(body: str, *, subject: str = "Re: Quote") -> bytes:
    head = (
        "From: Bob Client <bob@client.example>\nTo: sales@eval.acme-sales.example\n"
        f"Subject: {subject}\nDate: Tue, 14 Jan 2025 10:30:00 +0000\n"
        "Message-ID: <eval@client.example>\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
    )
    return (head + body).encode("utf-8")


def measure_replies() -> Replies:
    result = Replies()
    for directory, name, body in reply_fixtures():
        case = json.loads((REPLIES / directory / "expected.json").read_text())[name]
        reply = split_reply(body)
        result.cases += 1
        wanted = {line.strip() for line in case["text"].splitlines()}
        leaked = [line for line in reply.text.splitlines() if line.strip() not in wanted]
        result.leaked_lines += len(leaked)
        if reply.text == case["text"]:
            result.exact += 1
        else:
            result.misses.append(f"{directory}/{name}")
        if "forwarded" in case:
            result.forwards += 1
            result.forwards_exact += reply.forwarded == case["forwarded"]
    return result
