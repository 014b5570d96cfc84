"""Push metrics, on the app's registry (ops/metrics.py):

a2a_push_deliveries_total{outcome}          events acknowledged / given up (per config)
a2a_push_attempts_total{result}             POSTs by result: 2xx, 3xx, 4xx, 5xx, timeout,
                                            connection, refused (by the SSRF guard)
a2a_push_attempt_duration_seconds           one POST, sent to answered
a2a_push_configs_failed_total{reason}       configs whose delivery stopped for good
a2a_push_workers                            configs this process delivers now
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from gateway.ops.metrics import LATENCY_BUCKETS, Metrics


class PushMetrics:
    def __init__(self, metrics: Metrics) -> None:
        r = metrics.registry
        self.deliveries = Counter(
            "a2a_push_deliveries_total", "Push events by outcome", ["outcome"], registry=r
        )
        self.attempts = Counter(
            "a2a_push_attempts_total", "Push POST attempts by result", ["result"], registry=r
        )
        self.duration = Histogram(
            "a2a_push_attempt_duration_seconds",
            "One push POST, sent to answered",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.failed = Counter(
            "a2a_push_configs_failed_total",
            "Push configs whose delivery stopped for good",
            ["reason"],
            registry=r,
        )
        self.workers = Gauge("a2a_push_workers", "Push configs delivered now", registry=r)
