"""Loading, validating and reloading the rules file.

Every problem is reported at once, each naming the rule and the field
(`rule 'call.wrong_number_short' field 'when.talk_s.lte': unknown threshold 'short_s'`), and a
file that fails validation never replaces the rules in force.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from switchboard_shared.phone import NumberKind, PhonePolicy, normalise_phone
from switchboard_shared.rules.calls import CALL_FACTS
from switchboard_shared.rules.engine import (
    FactSpec,
    Rule,
    RuleError,
    check_detail,
    compile_conditions,
)
from switchboard_shared.rules.mail import MAIL_FACTS
from switchboard_shared.rules.ruleset import MailPatterns, RuleSet, cause_key
from switchboard_shared.rules.schema import MailLists, RulesFile, RuleSpec

log = logging.getLogger(__name__)

DEFAULT_RULES = "default.yaml"
_E164_PREFIX_RE = re.compile(r"^\+[0-9]{1,14}$")


class RulesInvalid(ValueError):
    """The rules file cannot be used; `problems` lists every error found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} problem(s):\n  " + "\n  ".join(problems))


def default_rules_path() -> Path:
    with resources.as_file(resources.files("switchboard_shared.rules") / DEFAULT_RULES) as path:
        return Path(path)


def load_rules(path: Path, *, default_region: str = "US") -> RuleSet:
    data = path.read_bytes()
    return parse_rules(data, source=path.name, default_region=default_region)


def parse_rules(data: bytes, *, source: str, default_region: str = "US") -> RuleSet:
    try:
        raw = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise RulesInvalid(source, [f"not valid YAML: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise RulesInvalid(source, ["the file must be a mapping (name, thresholds, rules...)"])
    try:
        spec = RulesFile.model_validate(raw)
    except ValidationError as exc:
        raise RulesInvalid(source, _located(exc, raw)) from exc
    problems: list[str] = []
    call_rules = _compile_section(spec.call_rules, "call_rules", CALL_FACTS, spec, problems)
    mail_rules = _compile_section(spec.mail_rules, "mail_rules", MAIL_FACTS, spec, problems)
    policy = PhonePolicy(default_region=default_region, internal_max_digits=0)
    own = _numbers("numbers.own", spec.numbers.own, policy, problems)
    spam = _numbers("numbers.spam", spec.numbers.spam, policy, problems)
    for i, prefix in enumerate(spec.numbers.spam_prefixes):
        if not _E164_PREFIX_RE.match(prefix):
            problems.append(f"field 'numbers.spam_prefixes[{i}]': {prefix!r} is not +<digits>")
    mail = _mail_patterns(spec.mail, problems)
    if problems:
        raise RulesInvalid(source, problems)
    digest = hashlib.sha256(data).hexdigest()[:12]
    return RuleSet(
        name=spec.name,
        version=f"{source}@{digest}",
        call_rules=call_rules,
        mail_rules=mail_rules,
        thresholds=dict(spec.thresholds),
        own_numbers=own,
        spam_numbers=spam,
        spam_prefixes=tuple(spec.numbers.spam_prefixes),
        hold_s=spec.legs.hold_s,
        answered_elsewhere_causes=frozenset(
            cause_key(c) for c in spec.legs.answered_elsewhere_causes
        ),
        window_days=spec.reputation.window_days,
        wrong_number_presets=frozenset(spec.reputation.wrong_number_presets),
        spam_presets=frozenset(spec.reputation.spam_presets),
        mail=mail,
        source=spec,
    )


def with_thresholds(rules: RuleSet, thresholds: Mapping[str, float]) -> RuleSet:
    """The same rules compiled with these thresholds (names the file does not define are
    added; the rules that use none of them are unchanged)."""
    spec = rules.source
    if not isinstance(spec, RulesFile):
        raise ValueError("these rules were not compiled from a rules file")
    merged = {**spec.thresholds, **thresholds}
    if merged == spec.thresholds:
        return rules
    spec = spec.model_copy(update={"thresholds": merged})
    problems: list[str] = []
    call_rules = _compile_section(spec.call_rules, "call_rules", CALL_FACTS, spec, problems)
    mail_rules = _compile_section(spec.mail_rules, "mail_rules", MAIL_FACTS, spec, problems)
    if problems:
        raise RulesInvalid(rules.version, problems)
    return dataclasses.replace(
        rules, call_rules=call_rules, mail_rules=mail_rules, thresholds=merged, source=spec
    )


def _compile_section(
    specs: list[RuleSpec],
    section: str,
    facts: Mapping[str, FactSpec],
    spec: RulesFile,
    problems: list[str],
) -> tuple[Rule, ...]:
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, rule in enumerate(specs):
        where = f"rule '{rule.id}' ({section}[{i}])"
        if rule.id in seen:
            problems.append(f"{where} field 'id': the id is used twice")
        seen.add(rule.id)
        try:
            predicate = compile_conditions(where, rule.when, rule.any, facts, spec.thresholds)
            check_detail(f"{where} field 'detail'", rule.detail, facts, spec.thresholds)
        except RuleError as exc:
            problems.append(str(exc))
            continue
        rules.append(Rule(rule.id, predicate, rule.disposition, tuple(rule.tags), rule.detail))
    last = specs[-1]
    if last.when or last.any:
        problems.append(
            f"rule '{last.id}' ({section}[{len(specs) - 1}]) field 'when': the last rule is the "
            "fallback and must have no conditions, so that every interaction gets a verdict"
        )
    return tuple(rules)


def _numbers(
    field: str, items: list[str], policy: PhonePolicy, problems: list[str]
) -> frozenset[str]:
    out: set[str] = set()
    for i, item in enumerate(items):
        number = normalise_phone(str(item), policy)
        if number.kind is not NumberKind.EXTERNAL or number.e164 is None:
            problems.append(f"field '{field}[{i}]': {item!r} is not a valid phone number")
            continue
        out.add(number.e164)
    return frozenset(out)


def _mail_patterns(lists: MailLists, problems: list[str]) -> MailPatterns:
    addresses = {a.strip().lower() for a in lists.allow_senders if not a.strip().startswith("@")}
    domains = {
        a.strip().lower().lstrip("@") for a in lists.allow_senders if a.strip().startswith("@")
    }

    def compiled(name: str) -> re.Pattern[str] | None:
        patterns: list[str] = getattr(lists, name)
        good = []
        for i, pattern in enumerate(patterns):
            try:
                re.compile(pattern)
            except re.error as exc:
                problems.append(f"field 'mail.{name}[{i}]': bad regular expression: {exc}")
                continue
            good.append(f"(?:{pattern})")
        return re.compile("|".join(good), re.IGNORECASE) if good else None

    return MailPatterns(
        allow_addresses=frozenset(addresses),
        allow_domains=frozenset(domains),
        daemon_senders=compiled("daemon_senders"),
        noreply_senders=compiled("noreply_senders"),
        auto_reply_subjects=compiled("auto_reply_subjects"),
        bounce_subjects=compiled("bounce_subjects"),
        out_of_office_texts=compiled("out_of_office_texts"),
        out_of_office_hints=compiled("out_of_office_hints"),
        calendar_reply_subjects=compiled("calendar_reply_subjects"),
    )


def _located(exc: ValidationError, raw: dict[str, Any]) -> list[str]:
    problems = []
    for error in exc.errors():
        loc = list(error["loc"])
        prefix = ""
        if len(loc) >= 2 and loc[0] in ("call_rules", "mail_rules") and isinstance(loc[1], int):
            section, index = str(loc[0]), loc[1]
            items = raw.get(section)
            rule_id = "?"
            if isinstance(items, list) and index < len(items) and isinstance(items[index], dict):
                rule_id = str(items[index].get("id", "?"))
            prefix = f"rule '{rule_id}' ({section}[{index}]) "
            loc = loc[2:]
        field = ".".join(str(part) for part in loc) or "(the rule itself)"
        problems.append(f"{prefix}field '{field}': {error['msg']}")
    return problems


@dataclass
class RuleBook:
    """The rule set in force, reloaded when its file changes (checked by `refresh`)."""

    path: Path
    default_region: str
    current: RuleSet
    _stamp: tuple[int, int] = (0, 0)

    @classmethod
    def open(cls, path: Path, *, default_region: str) -> RuleBook:
        stamp = _stamp(path)
        book = cls(path, default_region, load_rules(path, default_region=default_region))
        book._stamp = stamp
        return book

    def refresh(self) -> bool | None:
        """Reload if the file changed: True when new rules are in force, False when the new
        file is invalid (the old rules stay), None when nothing changed."""
        try:
            stamp = _stamp(self.path)
        except OSError as exc:
            log.error(
                "rules file unreadable; keeping the rules in force", extra={"error": str(exc)}
            )
            return False
        if stamp == self._stamp:
            return None
        self._stamp = stamp
        try:
            rules = load_rules(self.path, default_region=self.default_region)
        except (RulesInvalid, OSError) as exc:
            log.error(
                "rules file invalid; keeping the rules in force",
                extra={"rules": self.current.version, "error": str(exc)},
            )
            return False
        if rules.version == self.current.version:
            return None
        log.info("rules reloaded", extra={"previous": self.current.version, "rules": rules.version})
        self.current = rules
        return True


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size
