"""crm-store metrics (`crm_store_*`)."""

from prometheus_client import Counter, Gauge

from crm_store import __version__
from switchboard_shared.metrics import ServiceMetrics

METRICS = ServiceMetrics.create("crm_store", __version__)

INTERACTIONS = Counter(
    "crm_store_interactions_total",
    "Interactions recorded, by kind and outcome (stored, duplicate)",
    ["kind", "outcome"],
)
ACTIVITY_CHANGES = Counter(
    "crm_store_activity_changes_total",
    "Activity changes by kind and change (opened, repeated, closed, status_set)",
    ["kind", "change"],
)
OUTBOX_PENDING = Gauge(
    "crm_store_outbox_pending", "Events stored but not yet acknowledged by the broker"
)
DATABASE_UP = Gauge("crm_store_database_up", "1 when the database answers")
