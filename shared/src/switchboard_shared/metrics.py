"""Prometheus metrics every service exposes, under the service's own prefix.

Label values are bounded (topic, outcome, reason, route template): never a number or address.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, Info, generate_latest
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class ServiceMetrics:
    """The common instruments; a service's metrics.py creates one and adds its own."""

    prefix: str
    http_requests: Counter
    http_latency: Histogram
    messages: Counter
    processing: Histogram
    published: Counter
    publish_latency: Histogram
    publish_failures: Counter
    dead_lettered: Counter
    rejected: Counter
    consumer_lag: Gauge
    broker_up: Gauge
    downstream_lag: Gauge

    @classmethod
    def create(cls, prefix: str, version: str) -> ServiceMetrics:
        Info(f"{prefix}_build", "Build information").info({"version": version})
        return cls(
            prefix=prefix,
            http_requests=Counter(
                f"{prefix}_http_requests_total",
                "HTTP requests by route template, method and status class",
                ["route", "method", "status"],
            ),
            http_latency=Histogram(
                f"{prefix}_http_request_duration_seconds",
                "HTTP request latency",
                ["route"],
                buckets=LATENCY_BUCKETS,
            ),
            messages=Counter(
                f"{prefix}_messages_total",
                "Consumed messages by outcome (processed, duplicate, retried, dead_lettered)",
                ["topic", "outcome"],
            ),
            processing=Histogram(
                f"{prefix}_processing_seconds",
                "Time to process one consumed message",
                ["topic"],
                buckets=LATENCY_BUCKETS,
            ),
            published=Counter(
                f"{prefix}_events_published_total", "Events acknowledged by the broker", ["topic"]
            ),
            publish_latency=Histogram(
                f"{prefix}_publish_seconds",
                "Time until the broker acknowledged a record (acks=all)",
                ["topic"],
                buckets=LATENCY_BUCKETS,
            ),
            publish_failures=Counter(
                f"{prefix}_publish_failures_total",
                "Publishes the broker did not acknowledge",
                ["topic"],
            ),
            dead_lettered=Counter(
                f"{prefix}_dlq_total", "Messages sent to a dead-letter topic", ["topic"]
            ),
            rejected=Counter(f"{prefix}_rejected_total", "Input rejected, by reason", ["reason"]),
            consumer_lag=Gauge(
                f"{prefix}_consumer_lag", "Messages behind the end of the partition", ["topic"]
            ),
            broker_up=Gauge(
                f"{prefix}_broker_up",
                "1 while the Kafka broker answers (probed in the background every second)",
            ),
            downstream_lag=Gauge(
                f"{prefix}_downstream_lag",
                "Messages the consumer groups reading this service's topics are behind, read "
                "from the broker (so it grows while such a consumer is down)",
                ["group", "topic"],
            ),
        )


def metrics_response() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class HttpMetrics:
    """Count requests by route template (`/webhooks/{provider}`), never by raw path, and time
    them. A pure ASGI middleware: Starlette's `BaseHTTPMiddleware` (`@app.middleware("http")`)
    runs the app in a task group of its own and streams the answer through a memory channel,
    which cost a webhook more CPU than its signature check and parsing together."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics
        # The labelled children, looked up once (`labels()` takes a lock and builds a key each
        # time); route templates, methods (the parser knows a fixed set) and status classes
        # are bounded.
        self._counts: dict[tuple[str, str, int], Any] = {}
        self._latencies: dict[str, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def watched_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")
            if template != "/metrics":
                key = (template, scope["method"], status // 100)
                count = self._counts.get(key)
                if count is None:
                    count = self._counts[key] = self.metrics.http_requests.labels(
                        template, key[1], f"{key[2]}xx"
                    )
                latency = self._latencies.get(template)
                if latency is None:
                    latency = self._latencies[template] = self.metrics.http_latency.labels(template)
                count.inc()
                latency.observe(time.perf_counter() - start)
