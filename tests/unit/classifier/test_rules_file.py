"""The rules file: validated on load with errors that name the rule and the field, reloaded when
it changes, refused as a whole when broken (the rules in force stay)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

import classifier
from classifier.rules import (
    CALL_FACTS,
    MAIL_FACTS,
    RuleBook,
    RulesInvalid,
    default_rules_path,
    parse_rules,
)

DEFAULT = yaml.safe_load(default_rules_path().read_text())


def with_changes(**changes: Any) -> bytes:
    data = yaml.safe_load(default_rules_path().read_text())
    for path, value in changes.items():
        target = data
        *parents, last = path.split("__")
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return yaml.safe_dump(data, allow_unicode=True).encode()


def problems(data: bytes) -> list[str]:
    with pytest.raises(RulesInvalid) as caught:
        parse_rules(data, source="rules.yaml")
    assert str(caught.value).startswith("rules.yaml: ")
    return caught.value.problems


def rule_index(section: str, rule_id: str) -> int:
    return next(i for i, r in enumerate(DEFAULT[section]) if r["id"] == rule_id)


def test_the_default_rules_load() -> None:
    rules = parse_rules(default_rules_path().read_bytes(), source="default.yaml")
    assert rules.name == "default"
    assert rules.call_rules[-1].id == "call.fallback"
    assert rules.mail_rules[-1].id == "mail.inbound"
    assert rules.thresholds["very_short_call_s"] == 10
    assert rules.hold_s == 3


@pytest.mark.parametrize(
    ("section", "rule_id", "field", "value", "expected"),
    [
        (
            "call_rules",
            "call.wrong_number_short",
            "when",
            {"talk_seconds": {"lte": 10}},
            "rule 'call.wrong_number_short' (call_rules[14]) field 'when.talk_seconds': "
            "unknown fact",
        ),
        (
            "call_rules",
            "call.wrong_number_short",
            "when",
            {"talk_s": {"lte": "short_s"}},
            "rule 'call.wrong_number_short' (call_rules[14]) field 'when.talk_s.lte': unknown "
            "threshold 'short_s'",
        ),
        (
            "call_rules",
            "call.missed_inbound",
            "when",
            {"direction": "inbnd"},
            "rule 'call.missed_inbound' (call_rules[12]) field 'when.direction': 'inbnd' is not "
            "one of inbound, outbound, internal",
        ),
        (
            "call_rules",
            "call.missed_inbound",
            "when",
            {"answered": "no"},
            "rule 'call.missed_inbound' (call_rules[12]) field 'when.answered': this fact is true "
            "or false, got 'no'",
        ),
        (
            "call_rules",
            "call.missed_inbound",
            "when",
            {"status": {"about": 1}},
            "rule 'call.missed_inbound' (call_rules[12]) field 'when.status.about': "
            "unknown operator",
        ),
        (
            "call_rules",
            "call.missed_inbound",
            "when",
            {"status": {"lt": 3}},
            "rule 'call.missed_inbound' (call_rules[12]) field 'when.status.lt': `lt` compares "
            "numbers; this fact is choice",
        ),
        (
            "call_rules",
            "call.missed_inbound",
            "disposition",
            "call_back",
            "rule 'call.missed_inbound' (call_rules[12]) field 'disposition': Input should be",
        ),
        (
            "call_rules",
            "call.missed_inbound",
            "tags",
            ["missd"],
            "rule 'call.missed_inbound' (call_rules[12]) field 'tags.0': Input should be",
        ),
        (
            "call_rules",
            "call.missed_inbound",
            "detail",
            "missed call from {counterpart}",
            "rule 'call.missed_inbound' (call_rules[12]) field 'detail': {counterpart} is neither "
            "a fact nor a threshold",
        ),
        (
            "mail_rules",
            "mail.inbound",
            "detail",
            "mail from {sender_domain}",
            "rule 'mail.inbound' (mail_rules[22]) field 'detail': {sender_domain} is personal data",
        ),
        (
            "mail_rules",
            "mail.bulk",
            "whenn",
            {"list_headers": True},
            "rule 'mail.bulk' (mail_rules[14]) field 'whenn': Extra inputs are not permitted",
        ),
        (
            "mail_rules",
            "mail.bulk",
            "id",
            "Bulk Mail",
            "rule 'Bulk Mail' (mail_rules[14]) field 'id': Value error, must look like",
        ),
    ],
)
def test_errors_name_the_rule_and_the_field(
    section: str, rule_id: str, field: str, value: Any, expected: str
) -> None:
    index = rule_index(section, rule_id)
    found = problems(with_changes(**{f"{section}__{index}__{field}": value}))
    assert any(p.startswith(expected) for p in found), found


def test_every_problem_is_reported_at_once() -> None:
    data = with_changes(
        call_rules__0__when={"nope": True},
        mail_rules__0__when={"nada": True},
        numbers__spam=["not a number"],
        mail__noreply_senders=["(unclosed"],
    )
    found = problems(data)
    assert len(found) == 4
    assert "field 'numbers.spam[0]': 'not a number' is not a valid phone number" in found
    assert any(
        p.startswith("field 'mail.noreply_senders[0]': bad regular expression") for p in found
    )


def test_a_duplicate_id_and_a_missing_fallback() -> None:
    rules = DEFAULT["call_rules"]
    data = with_changes(call_rules=[*rules[:-1], {**rules[0]}])
    found = problems(data)
    assert any("field 'id': the id is used twice" in p for p in found)
    assert any("the last rule is the fallback and must have no conditions" in p for p in found)


def test_unknown_keys_and_bad_values_outside_rules() -> None:
    assert problems(with_changes(numbers={"ownn": []})) == [
        "field 'numbers.ownn': Extra inputs are not permitted"
    ]
    found = problems(with_changes(legs={"hold_s": -1}))
    assert found[0].startswith("field 'legs.hold_s': Input should be greater than or equal to 0")
    assert problems(b"name: [unclosed")[0].startswith("not valid YAML")
    assert problems(b"- a list")[0].startswith("the file must be a mapping")


def test_facts_are_documented() -> None:
    for facts in (CALL_FACTS, MAIL_FACTS):
        for name, spec in facts.items():
            assert spec.doc, name


class TestReload:
    def write(self, path: Path, data: bytes, mtime: int) -> None:
        path.write_bytes(data)
        os.utime(path, ns=(mtime, mtime))

    def test_a_changed_file_is_applied_and_a_broken_one_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "rules.yaml"
        self.write(path, default_rules_path().read_bytes(), 1_000_000_000)
        book = RuleBook.open(path, default_region="US")
        first = book.current
        assert first.version.startswith("rules.yaml@")
        assert book.refresh() is None  # unchanged

        self.write(path, with_changes(thresholds__very_short_call_s=5), 2_000_000_000)
        assert book.refresh() is True
        assert book.current.thresholds["very_short_call_s"] == 5
        assert book.current.version != first.version

        self.write(path, with_changes(call_rules__0__when={"nope": 1}), 3_000_000_000)
        assert book.refresh() is False
        assert book.current.thresholds["very_short_call_s"] == 5  # still in force

        path.unlink()
        assert book.refresh() is False
        assert book.current.thresholds["very_short_call_s"] == 5

    def test_a_broken_file_at_start_up_is_an_error(self, tmp_path: Path) -> None:
        path = tmp_path / "rules.yaml"
        path.write_bytes(with_changes(call_rules__0__disposition="maybe"))
        with pytest.raises(
            RulesInvalid, match=r"rule 'call.internal' \(call_rules\[0\]\) field 'disposition'"
        ):
            RuleBook.open(path, default_region="US")

    def test_national_numbers_are_read_in_the_default_region(self) -> None:
        rules = parse_rules(
            with_changes(numbers={"own": ["030 1234567"]}), source="x", default_region="DE"
        )
        assert rules.own_numbers == frozenset({"+49301234567"})


def test_the_readme_lists_every_fact() -> None:
    readme = (Path(classifier.__file__).parents[2] / "README.md").read_text()
    for facts in (CALL_FACTS, MAIL_FACTS):
        for name in facts:
            assert f"| `{name}` |" in readme, name
