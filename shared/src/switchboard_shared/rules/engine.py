"""The pure rule engine: ordered rules over a flat dictionary of facts; the first match decides.

Facts are computed from the event and what the service knows (`calls.py`, `mail.py`). A rule's
conditions are compiled once, when the file is loaded, into predicates over those facts.

A condition is `fact: matcher`, where the matcher is
* a scalar (`true`, `inbound`, `3`): the fact equals it;
* a list: the fact is one of its items;
* a mapping of operators: `eq`, `ne`, `in`, `not_in`, `lt`, `lte`, `gt`, `gte` (a number or the
  name of a threshold), `present` (true: the fact has a value). An unknown fact (None, e.g. the
  talk time of a call whose provider did not say) never satisfies a comparison.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from switchboard_shared.events import Disposition, Reason, Tag

Facts = Mapping[str, Any]
Predicate = Callable[[Facts], bool]


class FactKind(StrEnum):
    BOOL = "bool"
    NUMBER = "number"
    CHOICE = "choice"
    TEXT = "text"


@dataclass(frozen=True)
class FactSpec:
    kind: FactKind
    doc: str
    choices: tuple[str, ...] = ()
    private: bool = False  # personal data: usable in conditions, never shown in a detail


class RuleError(ValueError):
    """One problem in the rules file, located by rule and field."""

    def __init__(self, where: object, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = str(where)
        self.problem = problem


@dataclass(frozen=True)
class Verdict:
    disposition: Disposition
    tags: tuple[Tag, ...]
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class Rule:
    id: str
    predicate: Predicate
    disposition: Disposition
    tags: tuple[Tag, ...]
    detail: str

    def verdict(self, facts: Facts, thresholds: Mapping[str, float]) -> Verdict:
        detail = _FORMATTER.vformat(self.detail, (), _Values(facts, thresholds))
        return Verdict(self.disposition, self.tags, (Reason(rule=self.id, detail=detail),))


def evaluate(rules: tuple[Rule, ...], facts: Facts, thresholds: Mapping[str, float]) -> Verdict:
    for rule in rules:
        if rule.predicate(facts):
            return rule.verdict(facts, thresholds)
    # The loader insists that the last rule has no conditions, so this is unreachable.
    raise LookupError("no rule matched; the rule set has no fallback rule")


# -- compiling ---------------------------------------------------------------------------------

_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
}
_OPERATORS = frozenset({"eq", "ne", "in", "not_in", "present", *_COMPARISONS})


def compile_conditions(
    where: str,
    when: Mapping[str, Any],
    any_of: list[dict[str, Any]],
    facts: Mapping[str, FactSpec],
    thresholds: Mapping[str, float],
) -> Predicate:
    required = [
        _compile_condition(_Where(where, f"when.{name}"), name, raw, facts, thresholds)
        for name, raw in when.items()
    ]
    alternatives = [
        [
            _compile_condition(_Where(where, f"any[{i}].{name}"), name, raw, facts, thresholds)
            for name, raw in group.items()
        ]
        for i, group in enumerate(any_of)
    ]
    for i, group in enumerate(alternatives):
        if not group:
            raise RuleError(f"{where} field 'any[{i}]'", "an alternative needs a condition")

    def predicate(values: Facts) -> bool:
        if not all(check(values) for check in required):
            return False
        return not alternatives or any(
            all(check(values) for check in group) for group in alternatives
        )

    return predicate


@dataclass(frozen=True)
class _Where:
    rule: str
    field: str

    def __str__(self) -> str:
        return f"{self.rule} field '{self.field}'"

    def __truediv__(self, part: str) -> _Where:
        return _Where(self.rule, f"{self.field}.{part}")


def _compile_condition(
    where: _Where,
    name: str,
    raw: Any,
    facts: Mapping[str, FactSpec],
    thresholds: Mapping[str, float],
) -> Predicate:
    spec = facts.get(name)
    if spec is None:
        raise RuleError(where, f"unknown fact; known facts: {', '.join(sorted(facts))}")
    if isinstance(raw, Mapping):
        if not raw:
            raise RuleError(where, "an empty operator mapping")
        checks = [
            _compile_operator(where / str(op), name, spec, str(op), value, thresholds)
            for op, value in raw.items()
        ]
        return lambda values: all(check(values) for check in checks)
    if isinstance(raw, list):
        return _compile_operator(where, name, spec, "in", raw, thresholds)
    return _compile_operator(where, name, spec, "eq", raw, thresholds)


def _compile_operator(
    where: _Where,
    name: str,
    spec: FactSpec,
    op: str,
    value: Any,
    thresholds: Mapping[str, float],
) -> Predicate:
    if op not in _OPERATORS:
        raise RuleError(where, f"unknown operator; use one of {', '.join(sorted(_OPERATORS))}")
    if op == "present":
        if not isinstance(value, bool):
            raise RuleError(where, "`present` takes true or false")
        return lambda values: _has_value(values.get(name)) is value
    if op in _COMPARISONS:
        if spec.kind is not FactKind.NUMBER:
            raise RuleError(where, f"`{op}` compares numbers; this fact is {spec.kind.value}")
        bound = _number(where, value, thresholds)
        compare = _COMPARISONS[op]

        def check_number(values: Facts) -> bool:
            fact = values.get(name)
            return isinstance(fact, int | float) and compare(float(fact), bound)

        return check_number
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            raise RuleError(where, f"`{op}` takes a non-empty list")
        items = frozenset(_scalar(where, spec, item, thresholds) for item in value)
        if op == "in":
            return lambda values: values.get(name) in items
        return lambda values: values.get(name) not in items
    expected = _scalar(where, spec, value, thresholds)
    if op == "eq":
        return lambda values: values.get(name) == expected
    return lambda values: values.get(name) != expected


def _has_value(value: Any) -> bool:
    return value is not None and value != "" and value is not False


def _number(where: _Where, value: Any, thresholds: Mapping[str, float]) -> float:
    if isinstance(value, bool):
        raise RuleError(where, "expected a number or a threshold name, not true/false")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        if value in thresholds:
            return float(thresholds[value])
        known = ", ".join(sorted(thresholds)) or "none defined"
        raise RuleError(where, f"unknown threshold {value!r}; thresholds: {known}")
    raise RuleError(where, f"expected a number or a threshold name, got {value!r}")


def _scalar(where: _Where, spec: FactSpec, value: Any, thresholds: Mapping[str, float]) -> Any:
    if value is None:
        return None
    if spec.kind is FactKind.BOOL:
        if not isinstance(value, bool):
            raise RuleError(where, f"this fact is true or false, got {value!r}")
        return value
    if spec.kind is FactKind.NUMBER:
        return _number(where, value, thresholds)
    if not isinstance(value, str):
        raise RuleError(where, f"expected text, got {value!r}")
    if spec.kind is FactKind.CHOICE and value not in spec.choices:
        raise RuleError(where, f"{value!r} is not one of {', '.join(spec.choices)}")
    return value


def check_detail(
    where: str, template: str, facts: Mapping[str, FactSpec], thresholds: Mapping[str, float]
) -> None:
    """A detail may name public facts and thresholds only; personal data never enters it."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise RuleError(where, f"bad template: {exc}") from exc
    for _, field_name, spec, _ in parsed:
        if field_name is None:
            continue
        root = field_name.split(".")[0].split("[")[0]
        if not root or root.isdigit():
            raise RuleError(where, "placeholders must be named, e.g. {talk_s}")
        if root in thresholds:
            continue
        fact = facts.get(root)
        if fact is None:
            raise RuleError(where, f"{{{root}}} is neither a fact nor a threshold")
        if fact.private:
            raise RuleError(where, f"{{{root}}} is personal data and cannot appear in a detail")
        if spec and "{" in spec:
            raise RuleError(where, "nested placeholders are not supported")


class _Values(dict[str, Any]):
    def __init__(self, facts: Facts, thresholds: Mapping[str, float]) -> None:
        super().__init__(thresholds)
        self.update(facts)


class _Formatter(string.Formatter):
    """Unknown figures print as `unknown` instead of failing the format."""

    def format_field(self, value: Any, format_spec: str) -> str:
        if value is None:
            return "unknown"
        if isinstance(value, float) and value.is_integer() and not format_spec:
            return str(int(value))
        try:
            return str(super().format_field(value, format_spec))
        except (ValueError, TypeError):
            return str(value)


_FORMATTER = _Formatter()
