"""A tiny OTLP/HTTP collector that prints each trace as a tree: for trying tracing locally
without a tracing backend (docs/tracing.md).

    python -m examples.trace_printer [--port 4318]

It accepts `POST /v1/traces` (protobuf, as the OpenTelemetry SDKs send it), decodes each
ExportTraceServiceRequest with `opentelemetry-proto`, and prints a trace once no span of it
has arrived for `--quiet` seconds (default 6; the SDKs export every 5 s): one line per span,
indented under its parent, with its service, duration and a few attributes. It keeps
nothing else; Ctrl-C (or SIGTERM) prints what is pending and stops it.
"""

from __future__ import annotations

import argparse
import gzip
import signal
import sys
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as collector
from opentelemetry.proto.common.v1 import common_pb2

SHOWN = (
    "a2a.agent",
    "a2a.task.state",
    "a2a.error.reason",
    "rpc.grpc.status_code",
    "a2a.turn.events",
    "a2a.turn.time_to_first_event_ms",
    "a2a.stream.events",
    "a2a.stream.end",
)


def _value(value: common_pb2.AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind and kind not in ("array_value", "kvlist_value") else "…"


class Traces:
    """Spans by trace id until a trace has been quiet, then printed."""

    def __init__(self, quiet: float) -> None:
        self.quiet = quiet
        self.lock = threading.Lock()
        self.spans: dict[str, list[dict[str, Any]]] = {}
        self.last: dict[str, float] = {}

    def add(self, request: collector.ExportTraceServiceRequest) -> None:
        with self.lock:
            for resource_spans in request.resource_spans:
                attributes = resource_spans.resource.attributes
                service = next(
                    (a.value.string_value for a in attributes if a.key == "service.name"), "?"
                )
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        trace_id = span.trace_id.hex()
                        self.spans.setdefault(trace_id, []).append(
                            {
                                "id": span.span_id.hex(),
                                "parent": span.parent_span_id.hex(),
                                "name": span.name,
                                "service": service,
                                "start": span.start_time_unix_nano,
                                "ms": (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6,
                                "attributes": {a.key: _value(a.value) for a in span.attributes},
                            }
                        )
                        self.last[trace_id] = time.monotonic()

    def flush(self) -> None:
        now = time.monotonic()
        with self.lock:
            done = [t for t, last in self.last.items() if now - last >= self.quiet]
            ready = [(t, self.spans.pop(t)) for t in done]
            for trace_id in done:
                del self.last[trace_id]
        for trace_id, spans in ready:
            print(render(trace_id, spans), flush=True)


def render(trace_id: str, spans: list[dict[str, Any]]) -> str:
    """The trace as an indented tree (spans whose parent never came are roots)."""
    ids = {s["id"] for s in spans}
    children: dict[str, list[dict[str, Any]]] = {}
    for span in sorted(spans, key=lambda s: s["start"]):
        parent = span["parent"] if span["parent"] in ids else ""
        children.setdefault(parent, []).append(span)
    lines = [f"trace {trace_id} ({len(spans)} spans)"]

    def walk(parent: str, depth: int) -> None:
        for span in children.get(parent, []):
            shown = " ".join(
                f"{key.split('.', 1)[1]}={span['attributes'][key]}"
                for key in SHOWN
                if key in span["attributes"]
            )
            lines.append(
                f"{'  ' * (depth + 1)}{span['service']}: {span['name']} "
                f"{span['ms']:.1f} ms {shown}".rstrip()
            )
            walk(span["id"], depth + 1)

    walk("", 0)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print OTLP/HTTP traces as trees.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4318)
    parser.add_argument(
        "--quiet",
        type=float,
        default=6.0,
        help="seconds without a new span of a trace before it is printed (default 6: the "
        "SDKs send their batch every 5 s)",
    )
    args = parser.parse_args(argv)
    traces = Traces(args.quiet)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            if self.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path != "/v1/traces":
                self.send_response(404)
                self.end_headers()
                return
            traces.add(collector.ExportTraceServiceRequest.FromString(body))
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # like Ctrl-C: print what is pending, then exit
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    print(f"trace printer listening on http://{args.host}:{port}/v1/traces", flush=True)
    try:
        while True:
            time.sleep(0.2)
            traces.flush()
    except KeyboardInterrupt:
        traces.quiet = 0
        traces.flush()
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
