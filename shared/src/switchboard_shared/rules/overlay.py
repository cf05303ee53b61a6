"""The administrator's settings laid over a rule set from the rules file.

Pure: the classifier applies it to the rules in force whenever the rules file or a settings
group changes, and crm-store's admin preview applies it to compare a change with the values in
force. Thresholds replace the file's values; lists add to the file's lists.
"""

from __future__ import annotations

import dataclasses

from switchboard_shared.rules.loader import with_thresholds
from switchboard_shared.rules.ruleset import RuleSet
from switchboard_shared.settings.groups import ClassificationSettings, TelephonySettings

THRESHOLDS = ("very_short_call_s", "wrong_number_reports", "spam_reports")


def with_settings(
    rules: RuleSet,
    classification: ClassificationSettings | None = None,
    telephony: TelephonySettings | None = None,
    *,
    versions: tuple[int, int] = (0, 0),
) -> RuleSet:
    """`rules` with the settings applied; `versions` (classification, telephony) go into the
    rule set's version, so every verdict says which settings decided."""
    if classification is None and telephony is None:
        return rules
    changes: dict[str, object] = {}
    own = set(rules.own_numbers)
    if telephony is not None:
        own |= set(telephony.own_numbers)
    changes["own_numbers"] = frozenset(own)
    if classification is not None:
        rules = with_thresholds(
            rules, {name: float(getattr(classification, name)) for name in THRESHOLDS}
        )
        allow = classification.allow_senders
        changes.update(
            spam_numbers=rules.spam_numbers | frozenset(classification.spam_numbers),
            spam_prefixes=tuple(
                dict.fromkeys([*rules.spam_prefixes, *classification.spam_prefixes])
            ),
            wrong_numbers=rules.wrong_numbers | frozenset(classification.wrong_numbers),
            service_numbers=rules.service_numbers | frozenset(classification.service_numbers),
            mail=dataclasses.replace(
                rules.mail,
                allow_addresses=rules.mail.allow_addresses
                | frozenset(a for a in allow if not a.startswith("@")),
                allow_domains=rules.mail.allow_domains
                | frozenset(a[1:] for a in allow if a.startswith("@")),
            ),
        )
    changes["version"] = f"{rules.version}+settings.{versions[0]}.{versions[1]}"
    return dataclasses.replace(rules, **changes)  # type: ignore[arg-type]
