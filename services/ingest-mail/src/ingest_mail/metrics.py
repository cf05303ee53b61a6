"""ingest-mail metrics (`ingest_mail_*`)."""

from prometheus_client import Counter, Histogram

from ingest_mail import __version__
from switchboard_shared.metrics import LATENCY_BUCKETS, ServiceMetrics

METRICS = ServiceMetrics.create("ingest_mail", __version__)

MESSAGES = Counter(
    "ingest_mail_intake_messages_total",
    "Messages by intake (imap, lmtp, http) and outcome (published, duplicate, rejected, "
    "unavailable, too_large)",
    ["intake", "outcome"],
)
BYTES = Counter("ingest_mail_intake_bytes_total", "Raw message bytes received", ["intake"])
DEFECTS = Counter(
    "ingest_mail_parse_defects_total", "MIME and header defects found while parsing", ["intake"]
)
PARSE_SECONDS = Histogram(
    "ingest_mail_parse_seconds", "Time to parse one message", ["intake"], buckets=LATENCY_BUCKETS
)
PARSE_WORKER_RESTARTS = Counter(
    "ingest_mail_parse_worker_restarts_total",
    "Parser workers replaced after a message (parse_timeout: killed; parse_resources: died)",
    ["reason"],
)
LMTP_RECIPIENTS = Counter(
    "ingest_mail_lmtp_recipients_total",
    "LMTP RCPT TO by outcome (accepted, not_ours, over_limit, bad_address)",
    ["outcome"],
)
