"""A compiled rule set, and the view of the service's knowledge that the rules may consult."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from switchboard_shared.rules.engine import Rule


@dataclass(frozen=True)
class Standing:
    """What managers said about one number or address under one label (wrong number, spam)."""

    reports: int = 0  # distinct managers who picked the label
    overturns: int = 0  # times a manager overturned an automatic tag of this label
    last: datetime | None = None

    @property
    def net(self) -> int:
        return max(0, self.reports - self.overturns)


class KnowledgeView(Protocol):
    def is_known(self, point: str) -> bool:
        """Whether a CRM contact or company owns this E.164 number or address."""
        ...

    def standing(self, point: str, label: str, now: datetime, window_days: int) -> Standing: ...


class NoKnowledge:
    """Knows nobody: for tests and the evaluation's control runs."""

    def is_known(self, point: str) -> bool:
        return False

    def standing(self, point: str, label: str, now: datetime, window_days: int) -> Standing:
        return Standing()


@dataclass(frozen=True)
class MailPatterns:
    allow_addresses: frozenset[str] = frozenset()
    allow_domains: frozenset[str] = frozenset()
    daemon_senders: re.Pattern[str] | None = None
    noreply_senders: re.Pattern[str] | None = None
    auto_reply_subjects: re.Pattern[str] | None = None
    bounce_subjects: re.Pattern[str] | None = None
    out_of_office_texts: re.Pattern[str] | None = None
    out_of_office_hints: re.Pattern[str] | None = None
    calendar_reply_subjects: re.Pattern[str] | None = None


@dataclass(frozen=True)
class RuleSet:
    name: str
    version: str  # `<rules file name>@<sha256 prefix>`: which rules decided
    call_rules: tuple[Rule, ...]
    mail_rules: tuple[Rule, ...]
    thresholds: dict[str, float] = field(default_factory=dict)
    own_numbers: frozenset[str] = frozenset()
    spam_numbers: frozenset[str] = frozenset()
    spam_prefixes: tuple[str, ...] = ()
    wrong_numbers: frozenset[str] = frozenset()
    service_numbers: frozenset[str] = frozenset()
    hold_s: float = 0.0
    answered_elsewhere_causes: frozenset[str] = frozenset()
    window_days: int = 365
    wrong_number_presets: frozenset[str] = frozenset()
    spam_presets: frozenset[str] = frozenset()
    mail: MailPatterns = field(default_factory=MailPatterns)
    source: Any = field(default=None, compare=False, repr=False)
    """The validated rules file (`schema.RulesFile`) the rules were compiled from: thresholds
    are bound when compiling, so changing one compiles again (`loader.with_thresholds`)."""


def cause_key(cause: str) -> str:
    """`Answered elsewhere`, `answered-elsewhere` and `ANSWERED_ELSEWHERE` are one cause."""
    return re.sub(r"[\s\-]+", "_", cause.strip()).upper()
