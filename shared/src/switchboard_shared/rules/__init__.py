"""Classification rules as data: a YAML file compiled into ordered rules over facts.

`classify_call` / `classify_mail` are pure: the event, the rule set and a view of what the
service knows in, a `Verdict` (disposition, tags, reasons) out.
"""

from switchboard_shared.rules.calls import CALL_FACTS, NO_SIBLINGS, LegContext, classify_call
from switchboard_shared.rules.engine import Verdict
from switchboard_shared.rules.loader import (
    RuleBook,
    RulesInvalid,
    default_rules_path,
    load_rules,
    parse_rules,
)
from switchboard_shared.rules.mail import MAIL_FACTS, classify_mail
from switchboard_shared.rules.ruleset import KnowledgeView, NoKnowledge, RuleSet, Standing

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
    "classify_call",
    "classify_mail",
    "default_rules_path",
    "load_rules",
    "parse_rules",
]
