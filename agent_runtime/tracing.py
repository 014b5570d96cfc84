"""OpenTelemetry tracing for agents built on agent_runtime (docs/tracing.md).

On when the standard environment says so: `OTEL_TRACES_EXPORTER=otlp` (and not
`OTEL_SDK_DISABLED=true`). The OTLP exporter then follows `OTEL_EXPORTER_OTLP_*` (endpoint,
headers; protocol `http/protobuf`, the default, or `grpc`), the sampler
`OTEL_TRACES_SAMPLER(_ARG)`, and `service.name` is `OTEL_SERVICE_NAME`, else the agent's name.
The runtime's provider becomes the global one, so the handler's own instrumentation (any
`opentelemetry.trace.get_tracer(...)`) joins the same traces. Off, the SDK is not imported
and no exporter exists.

Whether on or off, the trace context the gateway sends with each Run call (`traceparent`,
`tracestate`, `baggage` in the gRPC metadata) is current while the handler runs, so the calls
it makes through a propagating client (a2a_client is one) carry the trace on, even from an
agent that exports nothing itself.

On, each Run call is one SERVER span `a2a_bridge.v1.TaskService/Run`, a child of the
gateway's turn span; `TaskContext.span(name)` starts a child of it. No message contents in
attributes: ids, names, counts and states.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span

HEADERS = ("traceparent", "tracestate", "baggage")
RUN_SPAN = "a2a_bridge.v1.TaskService/Run"

on = False
_tracer: Any = None
_provider: Any = None


def wanted(environ: Mapping[str, str]) -> bool:
    """Whether the environment turns tracing on."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    names = environ.get("OTEL_TRACES_EXPORTER", "").lower().split(",")
    return "otlp" in (name.strip() for name in names)


def setup(agent_name: str, environ: Mapping[str, str] | None = None) -> bool:
    """Turn tracing on when the environment says so (once per process); True when on."""
    global on, _tracer, _provider
    environ = os.environ if environ is None else environ
    if on:
        return True
    if not wanted(environ):
        return False
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )
    exporter: Any
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    elif protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )

        exporter = HttpExporter()
    else:
        raise ValueError(f"OTLP protocol {protocol!r} is not http/protobuf or grpc")
    service = environ.get("OTEL_SERVICE_NAME") or agent_name
    _provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    _provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(_provider)
    _tracer = _provider.get_tracer("agent_runtime")
    on = True
    return True


def shutdown() -> None:
    """Export what is batched and stop; tracing is off after it."""
    global on, _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    on, _tracer, _provider = False, None, None


def parent_of(metadata: Iterable[Any] | None) -> Context | None:
    """The trace context in a call's invocation metadata, None when it has none."""
    carrier = {}
    for item in metadata or ():
        key, value = item
        if key in HEADERS and isinstance(value, str):
            carrier[key] = value
    return propagate.extract(carrier) if carrier else None


def start_run(
    parent: Context | None, *, agent: str, task_id: str, context_id: str, first_turn: bool
) -> Span | None:
    """The span of one Run call (None when off)."""
    if not on:
        return None
    span: Span = _tracer.start_span(
        RUN_SPAN,
        context=parent,
        kind=trace.SpanKind.SERVER,
        attributes={
            "rpc.system": "grpc",
            "rpc.service": "a2a_bridge.v1.TaskService",
            "rpc.method": "Run",
            "a2a.agent": agent,
            "a2a.task.id": task_id,
            "a2a.context.id": context_id,
            "a2a.turn.first": first_turn,
        },
    )
    return span


def enter(parent: Context | None, span: Span | None) -> object | None:
    """Make the run's span (else the gateway's context) current; a token for `leave`."""
    if span is not None:
        return otel_context.attach(trace.set_span_in_context(span, parent))
    if parent is not None:
        return otel_context.attach(parent)
    return None


def leave(token: object | None) -> None:
    if token is not None:
        otel_context.detach(token)  # type: ignore[arg-type]


def end_run(span: Span | None, *, state: str | None, events: int, grpc_status: str) -> None:
    if span is None:
        return
    span.set_attribute("a2a.turn.events", events)
    span.set_attribute("rpc.grpc.status_code", grpc_status)
    if state is not None:
        span.set_attribute("a2a.task.state", state)
    if grpc_status != "OK" or state == "TASK_STATE_FAILED":
        span.set_status(trace.StatusCode.ERROR, state or grpc_status)
    span.end()


@contextmanager
def span(name: str, attributes: Mapping[str, Any] | None = None) -> Iterator[Span]:
    """A span current for the block, a child of the current one (a non-recording one that
    still carries the trace on when tracing is off)."""
    tracer = _tracer if on else trace.NoOpTracer()
    with tracer.start_as_current_span(name, attributes=dict(attributes or {})) as current:
        yield current
