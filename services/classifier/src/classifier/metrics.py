"""classifier metrics (`classifier_*`)."""

from prometheus_client import Counter

from classifier import __version__
from switchboard_shared.metrics import ServiceMetrics

METRICS = ServiceMetrics.create("classifier", __version__)

VERDICTS = Counter(
    "classifier_verdicts_total",
    "Classified interactions by kind and disposition",
    ["kind", "disposition"],
)
TAGS = Counter("classifier_tags_total", "Tags given, by tag", ["tag"])
