"""Tracing settings (OTEL_* variables, the configuration, flags), the trace context carrier,
the collector URL in logs, and the trace printer of examples/."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from gateway.ops import tracing
from gateway.ops.config import ConfigError, load
from gateway.ops.settings import TracingSettings
from tests.servers import ROOT
from tests.tracing_helpers import REQUEST, RUN, TRACE_ID, TRACEPARENT


def test_the_standard_otel_variables_turn_tracing_on() -> None:
    export = tracing.resolve(TracingSettings(), {"OTEL_TRACES_EXPORTER": "console,otlp"})
    assert export == tracing.Export(protocol="http/protobuf", service_name="a2a-gateway")
    export = tracing.resolve(
        TracingSettings(),
        {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
            "OTEL_SERVICE_NAME": "edge-1",
        },
    )
    assert export is not None
    assert (export.protocol, export.service_name, export.endpoint) == ("grpc", "edge-1", None)


def test_tracing_is_off_without_configuration_or_when_disabled() -> None:
    assert tracing.resolve(TracingSettings(), {}) is None
    assert tracing.resolve(TracingSettings(), {"OTEL_TRACES_EXPORTER": "none"}) is None
    on = {"OTEL_TRACES_EXPORTER": "otlp"}
    assert tracing.resolve(TracingSettings(enabled=False), on) is None
    assert tracing.resolve(TracingSettings(), {**on, "OTEL_SDK_DISABLED": "true"}) is None


def test_configured_tracing_beats_the_environment() -> None:
    settings = TracingSettings(
        endpoint="http://collector:4318/",
        service_name="gw",
        sampling_ratio=0.25,
        headers={"x-token": "t"},
    )
    export = tracing.resolve(settings, {"OTEL_SERVICE_NAME": "other"})
    assert export == tracing.Export(
        protocol="http/protobuf",
        service_name="gw",
        endpoint="http://collector:4318/v1/traces",
        sampling_ratio=0.25,
        headers={"x-token": "t"},
    )
    grpc_export = tracing.resolve(
        TracingSettings(endpoint="http://collector:4317", protocol="grpc"), {}
    )
    assert grpc_export is not None
    assert grpc_export.endpoint == "http://collector:4317"


def test_an_unknown_otlp_protocol_in_the_environment_is_refused() -> None:
    with pytest.raises(ValueError, match="OTLP protocol 'http/json'"):
        tracing.resolve(
            TracingSettings(),
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
        )


def test_the_tracing_section_of_the_configuration_is_validated(tmp_path: Any) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "agents: [{name: a, target: '127.0.0.1:5'}]\n"
        "tracing: {endpoint: 'collector:4318', protocol: thrift, sampling_ratio: 2}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load(config, environ={})
    paths = [path for path, _ in caught.value.problems]
    assert paths == ["tracing.endpoint", "tracing.protocol", "tracing.sampling_ratio"]
    config.write_text(
        "agents: [{name: a, target: '127.0.0.1:5'}]\n"
        "tracing: {endpoint: 'http://127.0.0.1:4318', sampling_ratio: 0.5}\n"
    )
    settings = load(config, environ={"A2A_GATEWAY__TRACING__SERVICE_NAME": "edge"})
    assert settings.tracing == TracingSettings(
        endpoint="http://127.0.0.1:4318", sampling_ratio=0.5, service_name="edge"
    )


def test_the_gateway_refuses_to_start_with_an_unknown_otlp_protocol() -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
    }
    command = [sys.executable, "-m", "gateway", "serve", "--agent", "a=127.0.0.1:5", "--port", "0"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "OTLP protocol 'http/json' is not one of http/protobuf, grpc" in done.stderr


def test_the_collector_url_is_logged_without_credentials() -> None:
    assert tracing.shown("https://user:pw@collector:4318/v1/traces?key=k") == (
        "https://collector:4318/v1/traces"
    )
    assert tracing.shown("http://[::1]:4318/v1/traces") == "http://[::1]:4318/v1/traces"


def test_the_carrier_takes_the_w3c_fields_from_http_headers_or_grpc_metadata(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from starlette.datastructures import Headers

    assert tracing.carrier(Headers({"traceparent": TRACEPARENT})) == {}  # off: nothing
    monkeypatch.setattr(tracing, "on", True)
    headers = Headers({"Traceparent": TRACEPARENT, "Baggage": "a=1", "Authorization": "x"})
    assert tracing.carrier(headers) == {"traceparent": TRACEPARENT, "baggage": "a=1"}
    metadata = [("traceparent", TRACEPARENT), ("tracestate", "v=1"), ("x-key", "k")]
    assert tracing.carrier([*metadata, ("baggage-bin", "b")]) == {
        "traceparent": TRACEPARENT,
        "tracestate": "v=1",
    }


def test_the_trace_printer_prints_a_trace_as_a_tree_of_its_spans() -> None:
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as collector
    from opentelemetry.proto.common.v1 import common_pb2
    from opentelemetry.proto.trace.v1 import trace_pb2

    from examples import trace_printer

    def span(span_id: str, parent: str, name: str, start: int, **attributes: str) -> Any:
        return trace_pb2.Span(
            trace_id=bytes.fromhex(TRACE_ID),
            span_id=bytes.fromhex(span_id),
            parent_span_id=bytes.fromhex(parent),
            name=name,
            start_time_unix_nano=start,
            end_time_unix_nano=start + 2_500_000,
            attributes=[
                common_pb2.KeyValue(key=k, value=common_pb2.AnyValue(string_value=v))
                for k, v in attributes.items()
            ],
        )

    def service(name: str, *spans: Any) -> Any:
        resource = {"attributes": [{"key": "service.name", "value": {"string_value": name}}]}
        return {"resource": resource, "scope_spans": [{"spans": list(spans)}]}

    request = collector.ExportTraceServiceRequest(
        resource_spans=[
            service(
                "a2a-gateway",
                span("0000000000000002", "", REQUEST, 1, **{"a2a.agent": "doc"}),
                span("0000000000000003", "0000000000000002", RUN, 2),
            ),
            service(
                "doc",
                span("0000000000000004", "0000000000000003", RUN, 3, **{"a2a.task.state": "done"}),
            ),
        ]
    )
    traces = trace_printer.Traces(quiet=0)
    traces.add(request)
    assert trace_printer.render(TRACE_ID, traces.spans[TRACE_ID]).splitlines() == [
        f"trace {TRACE_ID} (3 spans)",
        f"  a2a-gateway: {REQUEST} 2.5 ms agent=doc",
        f"    a2a-gateway: {RUN} 2.5 ms",
        f"      doc: {RUN} 2.5 ms task.state=done",
    ]
