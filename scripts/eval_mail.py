"""Mail quality on corpora nobody here wrote, as ingest-mail parses and the classifier tags.

    python scripts/eval_mail.py            # what `make eval` runs after scripts/eval.py

The figures are measured by `tests/support/mail_quality.py` (its docstring says on what):
bounce recall and precision, failed recipients exactly right, reply stripping exact and without
quoted lines leaking. Exit status 0 when every target is met, 1 otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from classifier.rules import default_rules_path, load_rules
from support.corpora import sisimai_maildir
from support.mail_quality import (
    RELABELLED,
    TARGETS,
    Bounces,
    Replies,
    measure_bounces,
    measure_replies,
)


def verdict(name: str, passed: bool) -> bool:
    print(f"  target {name}: {'PASS' if passed else 'FAIL'}")
    return passed


def report(bounces: Bounces, replies: Replies, sisimai: Path | None) -> bool:
    print(
        "\nmail: bounces (sisimai, flufl.bounce, CPython's email tests; non-bounces include "
        "every reply fixture)"
    )
    print(f"  messages parsed: {bounces.parsed}; not a message: {', '.join(bounces.rejected)}")
    if sisimai is None:
        print("  sisimai corpus not found beside the repository: measured on flufl.bounce only")
    print(f"  bounces tagged bounce: {bounces.recall:.1%} ({bounces.tagged}/{bounces.bounces})")
    print(
        f"  non-bounces tagged bounce: {bounces.false_alarms}/{bounces.not_bounces} "
        f"(precision {bounces.precision:.3f})"
    )
    for name, (is_bounce, why) in RELABELLED.items():
        print(f"    counted as {'a bounce' if is_bounce else 'no bounce'}: {name} ({why})")
    if bounces.missed:
        print("    missed: " + ", ".join(f"{k} x{v}" for k, v in sorted(bounces.missed.items())))
    for name in bounces.alarms[:10]:
        print(f"    false alarm: {name}")
    print(
        f"  failed recipients exactly right: {bounces.recipients:.1%} "
        f"({bounces.named_right}/{bounces.named} flufl.bounce messages that name them)"
    )
    for line in bounces.wrong[:10]:
        print(f"    wrong: {line}")
    print(
        f"  permanent/temporary as the suite says: {bounces.permanence_agrees}/{bounces.named} "
        "(the suite calls every 'Action: failed' permanent; a 4.x.x give-up is temporary here)"
    )
    if bounces.sisimai_bounces:
        share = bounces.sisimai_with_recipients / bounces.sisimai_bounces
        print(
            f"  sisimai bounces with recipients read: {share:.1%} "
            f"({bounces.sisimai_with_recipients}/{bounces.sisimai_bounces}; no expected values)"
        )
    print("\nmail: replies (tests/corpora/replies)")
    print(f"  exact: {replies.share:.1%} ({replies.exact}/{replies.cases})")
    print(f"  quoted lines leaking into the text: {replies.leaked_lines}")
    print(f"  forwards kept apart exactly: {replies.forwards_exact}/{replies.forwards}")
    for name in replies.misses[:10]:
        print(f"    not exact: {name}")
    results = [
        verdict(
            f"bounce recall >= {TARGETS['bounce_recall']:.0%}",
            bounces.recall >= TARGETS["bounce_recall"],
        ),
        verdict("bounce precision 1.0", bounces.false_alarms == 0),
        verdict(
            f"failed recipients exact >= {TARGETS['recipients']:.0%}",
            bounces.recipients >= TARGETS["recipients"],
        ),
        verdict(f"replies exact >= {TARGETS['replies']:.0%}", replies.share >= TARGETS["replies"]),
        verdict("no quoted line leaks", replies.leaked_lines == 0),
        verdict("forwards kept apart", replies.forwards_exact == replies.forwards),
    ]
    return all(results)


def main() -> int:
    sisimai = sisimai_maildir()
    rules = load_rules(default_rules_path())
    ok = report(measure_bounces(rules, sisimai), measure_replies(), sisimai)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
