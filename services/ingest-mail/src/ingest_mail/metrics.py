"""ingest-mail metrics (`ingest_mail_*`)."""

from ingest_mail import __version__
from switchboard_shared.metrics import ServiceMetrics

METRICS = ServiceMetrics.create("ingest_mail", __version__)
