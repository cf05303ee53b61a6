"""The classification rules the classifier applies: the pure rules themselves live in
`switchboard_shared.rules` (crm-store's admin preview runs the same rules over past
interactions), re-exported here; `live` overlays the administrator's settings
(`crm.settings.v1`) on the rules file in force."""

from switchboard_shared.rules import (
    CALL_FACTS,
    MAIL_FACTS,
    NO_SIBLINGS,
    KnowledgeView,
    LegContext,
    NoKnowledge,
    RuleBook,
    RuleSet,
    RulesInvalid,
    Standing,
    Verdict,
    classify_call,
    classify_mail,
    default_rules_path,
    load_rules,
    parse_rules,
)
from switchboard_shared.rules.calls import call_facts

__all__ = [
    "CALL_FACTS",
    "MAIL_FACTS",
    "NO_SIBLINGS",
    "KnowledgeView",
    "LegContext",
    "NoKnowledge",
    "RuleBook",
    "RuleSet",
    "RulesInvalid",
    "Standing",
    "Verdict",
    "call_facts",
    "classify_call",
    "classify_mail",
    "default_rules_path",
    "load_rules",
    "parse_rules",
]
