"""Prometheus metrics, one registry per app (no process-global state).

    sse_connections_total                       SSE streams opened
    sse_events_sent_total                       task events written to SSE streams
    sse_connection_duration_seconds             how long SSE streams stayed open (histogram)
    active_sse_connections                      SSE streams open now
    a2a_jsonrpc_requests_total{method,code}     JSON-RPC requests by method and outcome
                                                (code "0" = success, else the JSON-RPC code;
                                                unknown methods count as method "other")
    a2a_requests_total{binding,method,code}     the same for every binding (jsonrpc, rest, grpc)
    a2a_upstream_calls_total{agent,method,code} gRPC calls to agents by final gRPC status
    a2a_time_to_first_event_seconds{method}     request received -> first SSE event written
    a2a_task_turn_duration_seconds{state}       a task turn's start -> its final state
    a2a_tasks_running                           task turns running now
    a2a_subscribers_evicted_total               SSE subscribers dropped for falling behind
    a2a_auth_failures_total                     requests refused with 401
    a2a_rate_limited_total{limit}               requests refused by a per-principal limit

Per-event cost: events are counted once per written batch, not once per event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

DURATION_BUCKETS = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, float("inf"))
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, float("inf"))


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, methods: Iterable[str] = ()) -> None:
        self.registry = r = CollectorRegistry()
        self.methods = frozenset(methods)
        self.sse_connections = Counter("sse_connections_total", "SSE streams opened", registry=r)
        self.sse_events = Counter("sse_events_sent_total", "Events sent on SSE streams", registry=r)
        self.sse_duration = Histogram(
            "sse_connection_duration_seconds",
            "SSE stream duration",
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.sse_active = Gauge("active_sse_connections", "SSE streams open now", registry=r)
        self.requests = Counter(
            "a2a_jsonrpc_requests_total",
            "JSON-RPC requests by method and outcome code (0 = success)",
            ["method", "code"],
            registry=r,
        )
        self.binding_requests = Counter(
            "a2a_requests_total",
            "A2A requests of every binding by method and outcome code (0 = success)",
            ["binding", "method", "code"],
            registry=r,
        )
        self.upstream = Counter(
            "a2a_upstream_calls_total",
            "gRPC calls to agents by final status",
            ["agent", "method", "code"],
            registry=r,
        )
        self.first_event = Histogram(
            "a2a_time_to_first_event_seconds",
            "Request received to first SSE event written",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.turn_duration = Histogram(
            "a2a_task_turn_duration_seconds",
            "Task turn duration by final state",
            ["state"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.tasks_running = Gauge("a2a_tasks_running", "Task turns running now", registry=r)
        self.evicted = Counter(
            "a2a_subscribers_evicted_total", "SSE subscribers dropped as too slow", registry=r
        )
        self.auth_failures = Counter(
            "a2a_auth_failures_total", "Requests refused as unauthenticated", registry=r
        )
        self.limited = Counter(
            "a2a_rate_limited_total",
            "Requests refused by a per-principal limit",
            ["limit"],
            registry=r,
        )

    def __repr__(self) -> str:
        return f"<Metrics active_sse={self.sse_active._value.get():g}>"

    def method_label(self, method: str) -> str:
        return method if method in self.methods else "other"

    def request(self, method: str, code: int, *, binding: str = "jsonrpc") -> None:
        label = self.method_label(method)
        if binding == "jsonrpc":
            self.requests.labels(label, str(code)).inc()
        self.binding_requests.labels(binding, label, str(code)).inc()

    def upstream_call(self, agent: str, method: str, code: str) -> None:
        self.upstream.labels(agent, method, code).inc()

    def turn_ended(self, state: str, seconds: float) -> None:
        self.turn_duration.labels(state.removeprefix("TASK_STATE_")).observe(seconds)

    def subscriber_evicted(self) -> None:
        """Call when a subscriber is dropped for falling behind the event log."""
        self.evicted.inc()

    def auth_failed(self) -> None:
        self.auth_failures.inc()

    def rate_limited(self) -> None:
        self.limited.labels("rate").inc()

    def running(self, count: Callable[[], float]) -> None:
        """Report `count()` as the number of running task turns at each scrape."""
        self.tasks_running.set_function(count)

    def stream_opened(self) -> None:
        self.sse_connections.inc()
        self.sse_active.inc()

    def stream_closed(self, seconds: float) -> None:
        self.sse_active.dec()
        self.sse_duration.observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
