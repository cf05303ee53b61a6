"""ingest-calls metrics (`ingest_calls_*`)."""

from prometheus_client import Counter, Histogram

from ingest_calls import __version__
from switchboard_shared.metrics import LATENCY_BUCKETS, ServiceMetrics

METRICS = ServiceMetrics.create("ingest_calls", __version__)

WEBHOOKS = Counter(
    "ingest_calls_webhooks_total",
    "Webhook requests by provider and outcome",
    ["provider", "outcome"],
)
CALL_EVENTS = Counter(
    "ingest_calls_call_events_total",
    "Call events accepted, by provider, kind (final/progress) and status",
    ["provider", "kind", "status"],
)
WEBHOOK_LATENCY = Histogram(
    "ingest_calls_webhook_duration_seconds",
    "Time from request to answer, by provider (includes the broker's acknowledgement)",
    ["provider"],
    buckets=LATENCY_BUCKETS,
)
