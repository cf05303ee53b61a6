"""classifier metrics (`classifier_*`). Label values are bounded: kind, disposition, tag, rule
outcome - never a number or an address."""

from prometheus_client import Counter, Gauge

from classifier import __version__
from switchboard_shared.metrics import ServiceMetrics

METRICS = ServiceMetrics.create("classifier", __version__)

VERDICTS = Counter(
    "classifier_verdicts_total",
    "Classified interactions by kind and disposition",
    ["kind", "disposition"],
)
TAGS = Counter("classifier_tags_total", "Tags given, by tag", ["tag"])
OVERTURNED = Counter(
    "classifier_overturned_total",
    "Verdicts a manager overturned (crm.feedback.v1), by the tag the classifier had given "
    "(`none` for a verdict without tags)",
    ["tag"],
)
RULE_RELOADS = Counter(
    "classifier_rules_reloads_total",
    "Rules file changes seen: applied, or rejected as invalid (the old rules stay)",
    ["outcome"],
)
KNOWLEDGE_LOADED = Gauge(
    "classifier_knowledge_loaded", "1 once the knowledge topics have been read up to their end"
)
KNOWLEDGE_POINTS = Gauge("classifier_knowledge_points", "Known contact points (numbers, addresses)")
KNOWLEDGE_REPORTS = Gauge(
    "classifier_knowledge_reports", "Manager reports kept for the wrong-number and spam reputation"
)
HELD_LEGS = Gauge("classifier_held_legs", "Unanswered call legs waiting for their siblings")
KNOWLEDGE_WRITES = Counter(
    "classifier_knowledge_writes_total",
    "Reputation values written to classifier.knowledge.v1 (a point's reports changed)",
)
