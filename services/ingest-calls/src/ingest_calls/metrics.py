"""ingest-calls metrics (`ingest_calls_*`)."""

from prometheus_client import Counter, Gauge, Histogram

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
CEL_EVENTS = Counter(
    "ingest_calls_cel_events_total",
    "Asterisk CEL events, by source (ami, push) and outcome (published, duplicate, rejected)",
    ["source", "outcome"],
)
CEL_ASSEMBLED = Counter(
    "ingest_calls_cel_calls_total",
    "Calls assembled from CEL, by why they were emitted (complete, lost_end, timed_out, "
    "evicted, overflow)",
    ["outcome"],
)
CEL_HELD = Gauge(
    "ingest_calls_cel_calls_held",
    "Calls being assembled: seen on calls.cel.v1, not every linkedid ended yet",
)
CEL_ASSEMBLY_EVENTS = Counter(
    "ingest_calls_cel_assembly_events_total",
    "CEL events read by the assembler, by outcome (held, duplicate, late, overflow, undecodable)",
    ["outcome"],
)
AMI_CONNECTED = Gauge(
    "ingest_calls_ami_connected", "1 while logged in to the Asterisk Manager Interface"
)
AMI_RECONNECTS = Counter(
    "ingest_calls_ami_reconnects_total", "AMI connections lost or refused, by reason", ["reason"]
)
