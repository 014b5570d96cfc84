"""OpenTelemetry tracing of the gateway: off by default, on by configuration or by the
standard `OTEL_*` environment variables (docs/tracing.md).

Off, nothing of the OpenTelemetry SDK is imported, no provider or exporter exists, and every
hook here starts with one check of the module bool `on` (the request path pays that, and
nothing per event). On (`setup`), a TracerProvider of the gateway's own (the global one is
left alone) batches spans to an OTLP exporter (`http/protobuf` or `grpc`) on the SDK's
background thread; `shutdown` flushes it.

The spans of one request, each one of `SPANS` (attribute names in docs/tracing.md):

- `request` (SERVER), one per method call, around `Dispatcher.call`: its parent is the W3C
  trace context the binding received (`carrier()` of the HTTP headers or gRPC metadata, on
  `Caller.trace`; baggage is kept), else it starts a trace. It ends when the method returns:
  for a stream, when the stream is handed to the binding.
- `turn` (CLIENT), one per task turn (one gRPC `Run` call), a child of the request that
  started it; the bridge injects its context (traceparent, tracestate, baggage) into the
  call's metadata, so the agent's spans are its children. It ends with the turn.
- `stream` (INTERNAL), one per stream, a child of the request, started by the dispatcher
  (`EventStream.span`): the binding ends it when the stream ends (`end_stream`: the events
  sent and why it ended; http/state.py for SSE), else the stream's release does.

No span per event. Attributes hold names, ids, counts and codes: never message contents,
header values, tokens or keys (the principal itself is not recorded, only its kind).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from gateway.ops import logs
from gateway.ops.settings import TRACE_PROTOCOLS, TracingSettings

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span

log = logging.getLogger("a2a_gateway")

DEFAULT_SERVICE = "a2a-gateway"
HEADERS = ("traceparent", "tracestate", "baggage")
EMPTY: Mapping[str, str] = MappingProxyType({})
TASK_SERVICE = "a2a_bridge.v1.TaskService"

on = False
_tracer: Any = None
_provider: Any = None


@dataclass(frozen=True, slots=True)
class Export:
    """Where and how spans go, resolved from settings and environment (`resolve`)."""

    protocol: str
    service_name: str
    endpoint: str | None = None  # None: the exporter reads OTEL_EXPORTER_OTLP_* itself
    sampling_ratio: float | None = None  # None: the SDK reads OTEL_TRACES_SAMPLER(_ARG)
    headers: Mapping[str, str] = field(default_factory=dict)


def resolve(
    settings: TracingSettings, environ: Mapping[str, str], default_service: str = DEFAULT_SERVICE
) -> Export | None:
    """What to export, or None when tracing is off (see `TracingSettings`).

    `OTEL_SDK_DISABLED=true` turns it off whatever else says. An explicit `endpoint` is a
    base URL like `OTEL_EXPORTER_OTLP_ENDPOINT`: `/v1/traces` is added for http/protobuf.
    """
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    enabled = settings.enabled
    if enabled is None:
        names = environ.get("OTEL_TRACES_EXPORTER", "").lower().split(",")
        enabled = settings.endpoint is not None or "otlp" in (name.strip() for name in names)
    if not enabled:
        return None
    protocol = (
        settings.protocol
        or environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )
    if protocol not in TRACE_PROTOCOLS:
        raise ValueError(f"OTLP protocol {protocol!r} is not one of {', '.join(TRACE_PROTOCOLS)}")
    endpoint = settings.endpoint
    if endpoint is not None and protocol == "http/protobuf":
        endpoint = endpoint.rstrip("/")
        if not endpoint.endswith("/v1/traces"):
            endpoint += "/v1/traces"
    return Export(
        protocol=protocol,
        service_name=settings.service_name or environ.get("OTEL_SERVICE_NAME") or default_service,
        endpoint=endpoint,
        sampling_ratio=settings.sampling_ratio,
        headers=dict(settings.headers),
    )


def setup(settings: TracingSettings, environ: Mapping[str, str] | None = None) -> bool:
    """Turn tracing on when `settings` and the environment say so; True when it is on.

    Once per process: a second call while on changes nothing."""
    global on, _tracer, _provider
    if on:
        return True
    export = resolve(settings, os.environ if environ is None else environ)
    if export is None:
        return False
    _provider = provider(export)
    _tracer = _provider.get_tracer("a2a_gateway")
    on = True
    logs.traced(True)
    where = shown(export.endpoint) if export.endpoint else "the OTEL_EXPORTER_OTLP_* endpoint"
    log.info("tracing on: OTLP %s to %s as %s", export.protocol, where, export.service_name)
    return True


def shown(url: str) -> str:
    """`url` fit for a log line: scheme, host, port and path (no user info, no query)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def provider(export: Export) -> Any:
    """A TracerProvider batching to the OTLP exporter `export` names (imports the SDK)."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    exporter: Any
    headers = dict(export.headers) or None
    if export.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=export.endpoint, headers=headers)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )

        exporter = HttpExporter(endpoint=export.endpoint, headers=headers)
    sampler = None
    if export.sampling_ratio is not None:
        sampler = ParentBased(TraceIdRatioBased(export.sampling_ratio))
    resource = Resource.create({SERVICE_NAME: export.service_name})
    made = TracerProvider(resource=resource, sampler=sampler)
    made.add_span_processor(BatchSpanProcessor(exporter))
    return made


def shutdown() -> None:
    """Export what is batched and stop (at the gateway's close); tracing is off after it."""
    global on, _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    on, _tracer, _provider = False, None, None
    logs.traced(False)


# --- propagation ---------------------------------------------------------------------------


def carrier(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> Mapping[str, str]:
    """The W3C trace context among HTTP headers (a case-insensitive mapping, e.g.
    Starlette's) or gRPC metadata (key, value pairs): what a binding puts on `Caller.trace`.
    EMPTY when tracing is off."""
    if not on:
        return EMPTY
    if isinstance(headers, Mapping):
        found = {name: headers.get(name) for name in HEADERS}
    else:
        found = {key.lower(): value for key, value in headers if key.lower() in HEADERS}
    return {name: value for name, value in found.items() if isinstance(value, str) and value}


def inject(span: Span | None, metadata: Sequence[tuple[str, str]]) -> Sequence[tuple[str, str]]:
    """`metadata` with the trace context of `span` (and the current baggage) in place of any
    the caller forwarded; `metadata` itself when `span` is None."""
    if span is None:
        return metadata
    out: dict[str, str] = {}
    propagate.inject(out, context=trace.set_span_in_context(span))
    return [(k, v) for k, v in metadata if k.lower() not in HEADERS] + list(out.items())


def activate(span: Span | None) -> object | None:
    """Make `span` current in this task's context (a token for `deactivate`)."""
    if span is None:
        return None
    return otel_context.attach(trace.set_span_in_context(span))


def enter(context: Context) -> object:
    """Make `context` current in this task's context (a token for `deactivate`)."""
    return otel_context.attach(context)


def deactivate(token: object | None) -> None:
    if token is not None:
        otel_context.detach(token)  # type: ignore[arg-type]


def parent_of(trace_carrier: Mapping[str, str]) -> Context | None:
    """The context a carrier (`Caller.trace`) names, for a span started outside a request."""
    return propagate.extract(trace_carrier) if on and trace_carrier else None


# --- spans ---------------------------------------------------------------------------------

RPC_SYSTEMS = {"jsonrpc": "jsonrpc", "grpc": "grpc"}


def start_request(
    method: str,
    label: str,
    *,
    binding: str,
    version: str | None,
    agent: str,
    principal: str,
    parent: Mapping[str, str],
) -> tuple[Span, Context] | None:
    """The request span of one method call (see the module docstring), and the context to
    make current while it runs: the caller's (its baggage too) with the span in it."""
    if not on:
        return None
    attributes: dict[str, Any] = {
        "rpc.method": method,
        "rpc.service": "a2a",
        "a2a.method": method,
        "a2a.binding": binding,
        "a2a.agent": agent,
        "a2a.principal.kind": "anonymous" if principal == "anonymous" else "authenticated",
    }
    if binding in RPC_SYSTEMS:
        attributes["rpc.system"] = RPC_SYSTEMS[binding]
    if label != method:
        attributes["a2a.method.wire_name"] = label
    if version is not None:
        attributes["a2a.version"] = version
    parent_context = propagate.extract(parent) if parent else otel_context.Context()
    span: Span = _tracer.start_span(
        f"a2a/{method}", context=parent_context, kind=trace.SpanKind.SERVER, attributes=attributes
    )
    return span, trace.set_span_in_context(span, parent_context)


def end_request(
    span: Span | None,
    *,
    binding: str,
    code: int,
    reason: str = "",
    grpc_status: str | None = None,
    http_status: int | None = None,
    task_id: str | None = None,
) -> None:
    """End a request span with its outcome: the JSON-RPC code (0 = success), the gRPC or HTTP
    status of the binding, the error's reason."""
    if span is None:
        return
    span.set_attribute("a2a.error.code", code)
    if binding == "jsonrpc" and code:
        span.set_attribute("rpc.jsonrpc.error_code", code)
    if grpc_status is not None:
        span.set_attribute("rpc.grpc.status_code", grpc_status)
    if http_status is not None:
        span.set_attribute("http.response.status_code", http_status)
    if reason:
        span.set_attribute("a2a.error.reason", reason)
    if task_id:
        span.set_attribute("a2a.task.id", task_id)
    if code:
        span.set_status(trace.StatusCode.ERROR, reason or str(code))
    span.end()


def start_turn(
    *, agent: str, target: str, task_id: str, context_id: str, first_turn: bool
) -> Span | None:
    """The span of one task turn (a gRPC Run call to the agent), child of the current span."""
    if not on:
        return None
    host, _, port = target.rpartition(":")
    attributes: dict[str, Any] = {
        "rpc.system": "grpc",
        "rpc.service": TASK_SERVICE,
        "rpc.method": "Run",
        "server.address": host.strip("[]"),
        "a2a.agent": agent,
        "a2a.task.id": task_id,
        "a2a.context.id": context_id,
        "a2a.turn.first": first_turn,
    }
    if port.isdigit():
        attributes["server.port"] = int(port)
    span: Span = _tracer.start_span(
        f"{TASK_SERVICE}/Run", kind=trace.SpanKind.CLIENT, attributes=attributes
    )
    return span


def first_event(span: Span | None, milliseconds: float) -> None:
    if span is not None:
        span.set_attribute("a2a.turn.time_to_first_event_ms", round(milliseconds, 3))


def end_turn(
    span: Span | None, *, state: str | None, grpc_status: str, events: int, direct: bool = False
) -> None:
    """End a turn span: the task's state after the turn, the call's gRPC status, the events
    logged in the turn (a direct reply: no task, `a2a.turn.direct_reply`)."""
    if span is None:
        return
    span.set_attribute("rpc.grpc.status_code", grpc_status)
    span.set_attribute("a2a.turn.events", events)
    if state is not None:
        span.set_attribute("a2a.task.state", state)
    if direct:
        span.set_attribute("a2a.turn.direct_reply", True)
    if grpc_status != "OK" or state == "TASK_STATE_FAILED":
        span.set_status(trace.StatusCode.ERROR, state or grpc_status)
    span.end()


def start_stream(
    parent: Context | None,
    *,
    method: str,
    binding: str,
    task_id: str | None,
    wire_name: str | None = None,
) -> Span | None:
    """The span of one open stream, a child of its request (`parent`): `method` the v1.0
    method it answers, `wire_name` the name the client used when it differs."""
    if not on:
        return None
    attributes: dict[str, Any] = {"a2a.method": method, "a2a.binding": binding}
    if wire_name is not None and wire_name != method:
        attributes["a2a.method.wire_name"] = wire_name
    if task_id is not None:
        attributes["a2a.task.id"] = task_id
    span: Span = _tracer.start_span(
        "a2a/stream", context=parent, kind=trace.SpanKind.INTERNAL, attributes=attributes
    )
    return span


STREAM_ENDS = {
    "done": "completed",
    "disconnect": "client_gone",
    "drain": "drain",
    "stalled": "stalled",
    None: "cancelled",
}


def end_stream(span: Span | None, *, events: int, why: str, error: str | None = None) -> None:
    """End a stream span: events sent and why it ended (completed, client_gone, evicted,
    error, drain, stalled, cancelled); `error` the reason of the error event that ended it."""
    if span is None:
        return
    span.set_attribute("a2a.stream.events", events)
    span.set_attribute("a2a.stream.end", why)
    if error:
        span.set_attribute("a2a.error.reason", error)
    span.end()


def end_stream_unsaid(span: Span | None) -> None:
    """End a stream span its binding did not end (a no-op on one it did)."""
    if span is not None and span.is_recording():
        span.end()
