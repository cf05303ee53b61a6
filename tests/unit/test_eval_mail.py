"""The mail section of `make eval` meets the issue's targets.

Bounce recall >= 98 % with precision 1.0 on sisimai's corpus, flufl.bounce's and CPython's test
messages and the reply fixtures; failed recipients exactly right in >= 95 % of the bounces that
name them; replies >= 95 % exact with no quoted line leaking. The figures come from
`support.mail_quality`, which `scripts/eval_mail.py` prints; it runs in a few seconds.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from classifier.rules import default_rules_path, load_rules
from support.corpora import REPO_ROOT, sisimai_maildir
from support.infra import missing_infra
from support.mail_quality import TARGETS, measure_bounces, measure_replies


def sisimai() -> Path:
    found = sisimai_maildir()
    if found is None:
        missing_infra("sisimai corpus not found beside the repository (shared/corpora/sisimai)")
    return found


def test_bounces_are_tagged_and_read() -> None:
    bounces = measure_bounces(load_rules(default_rules_path()), sisimai())
    assert bounces.bounces >= 700  # sisimai's ~600, flufl.bounce's ~115: none went missing
    assert bounces.not_bounces >= 300
    assert bounces.recall >= TARGETS["bounce_recall"], bounces.missed
    assert bounces.false_alarms == 0, bounces.alarms
    assert bounces.named >= 100
    assert bounces.recipients >= TARGETS["recipients"], bounces.wrong
    assert bounces.sisimai_with_recipients / bounces.sisimai_bounces >= 0.9
    assert bounces.rejected == ["cpython/msg_19.txt (not_a_message)"]


def test_replies_are_stripped_exactly_without_leaks() -> None:
    replies = measure_replies()
    assert replies.cases >= 140
    assert replies.share >= TARGETS["replies"], replies.misses
    assert replies.leaked_lines == 0, replies.misses
    assert replies.forwards >= 4
    assert replies.forwards_exact == replies.forwards


def test_the_script_passes_and_prints_the_figures() -> None:
    sisimai()
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "eval_mail.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for figure in (
        "bounces tagged bounce:",
        "non-bounces tagged bounce: 0/",
        "failed recipients exactly right:",
        "quoted lines leaking into the text: 0",
    ):
        assert figure in done.stdout
    assert "FAIL" not in done.stdout
