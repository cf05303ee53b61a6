"""crm-store metrics (`crm_store_*`). Label values are bounded: kinds, outcomes, link kinds."""

from prometheus_client import Counter, Gauge, Histogram

from crm_store import __version__
from switchboard_shared.metrics import LATENCY_BUCKETS, ServiceMetrics

METRICS = ServiceMetrics.create("crm_store", __version__)

INTERACTIONS = Counter(
    "crm_store_interactions_total",
    "Interactions recorded, by kind and outcome (stored, duplicate)",
    ["kind", "outcome"],
)
LINKS = Counter(
    "crm_store_interaction_links_total",
    "Stored interactions by how they were linked (contact, ambiguous, company, domain, none)",
    ["kind", "link"],
)
ACTIVITY_CHANGES = Counter(
    "crm_store_activity_changes_total",
    "Activity changes by kind, change (opened, repeated, closed, canceled, status_set, "
    "status_undone, status_corrected) and by whom (auto, manager, supervisor)",
    ["kind", "change", "by"],
)
OUTBOX_PENDING = Gauge(
    "crm_store_outbox_pending", "Events stored but not yet acknowledged by the broker"
)
DB_LATENCY = Histogram(
    "crm_store_db_transaction_seconds",
    "Time of one database unit of work, by operation",
    ["operation"],
    buckets=LATENCY_BUCKETS,
)
DATABASE_UP = Gauge("crm_store_database_up", "1 when the database answers")
ACTIVITIES_OPEN = Gauge("crm_store_activities_open", "Open activities now, by kind", ["kind"])
ACTIVITIES_OVERDUE = Gauge(
    "crm_store_activities_overdue", "Open activities past their due time, by kind", ["kind"]
)
