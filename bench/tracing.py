"""The `tracing` workload of `make bench`: what OpenTelemetry tracing costs the gateway.

Two gateways in front of one load agent: `gateway` with tracing off (the default), and
`gateway_traced` with tracing on at sampling 1.0 (`--otlp-endpoint` to an OTLP/HTTP sink in
this process that answers 200 and keeps nothing; the SDK's default batching). The agent
itself does not trace. Each is measured on the same two client workloads, off and on in
turn:

- `stream`: `streams` concurrent streams of `per_stream` events: CPU per event, where the
  per-request spans (request, turn, stream: no span per event) are spread over the events;
- `requests`: `requests` one-event streams one after the other: CPU per request, the worst
  case (the same three spans for one event).

Reported: gateway CPU (user + system, from /proc) per event and per request, off and on,
and the difference: the added CPU per event with tracing on.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.launch import AGENT_LINE, GATEWAY_LINE, run_clients
from bench.procs import Server, start
from bench.workload import Spec

SYSTEMS = ("gateway", "gateway_traced")


class Sink:
    """An OTLP/HTTP endpoint on 127.0.0.1 that accepts every export and keeps nothing."""

    def __init__(self) -> None:
        sink = self
        self.requests = 0
        self.bytes = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("content-length", "0"))
                self.rfile.read(size)
                sink.requests += 1
                sink.bytes += size
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_gateway(name: str, agent: Server, *extra: str) -> Server:
    args = ["-m", "gateway", "serve", "--port", "0", "--log-level", "warning"]
    args += ["--agent", f"load={agent.address}", *extra]
    server = start(name, args, GATEWAY_LINE)
    server.address += "/"
    return server


def tracing_cost(sizes: Any) -> dict[str, dict[str, float]]:
    """One run of the workload in fresh processes: {system: {metric: value}}."""
    streams, per_stream, requests = sizes.streams, sizes.per_stream, max(20, sizes.ttfe * 4)
    sink = Sink()
    servers: list[Server] = []
    out: dict[str, dict[str, float]] = {system: {} for system in SYSTEMS}
    try:
        agent = start("agent", ["-m", "bench.agent"], AGENT_LINE)
        servers.append(agent)
        gateways = {
            "gateway": start_gateway("gateway", agent),
            "gateway_traced": start_gateway(
                "gateway_traced",
                agent,
                "--otlp-endpoint",
                sink.endpoint,
                "--trace-sampling-ratio",
                "1",
            ),
        }
        servers += gateways.values()
        warm = Spec(events=20, size=sizes.size)
        for gateway in gateways.values():
            run_clients("sse", "stream", gateway.address, 2, warm)
        load = Spec(events=per_stream, size=sizes.size)
        one = Spec(events=1, size=sizes.size)
        for system, gateway in gateways.items():
            before = gateway.cpu()
            result = run_clients(
                "sse", "stream", gateway.address, streams, load, procs=sizes.client_procs
            )
            out[system]["cpu_us_per_event"] = (gateway.cpu() - before) * 1e6 / result["events"]
            out[system]["events"] = result["events"]
        for system, gateway in gateways.items():
            before = gateway.cpu()
            run_clients("sse", "serial", gateway.address, requests, one)
            out[system]["cpu_us_per_request"] = (gateway.cpu() - before) * 1e6 / requests
    finally:
        for server in reversed(servers):
            server.stop(timeout=10)  # the traced gateway flushes its last batch
        sink.close()
    out["gateway_traced"]["exports"] = sink.requests
    return out


def markdown(results: dict[str, Any]) -> list[str]:
    """The tracing table of a bench run (nothing when the workload did not run)."""
    m = results["median"].get("tracing")
    if not m:
        return []
    s = results["sizes"]
    off, on = m["gateway"], m["gateway_traced"]
    lines = [
        "",
        "### Cost of tracing: OpenTelemetry off and on (sampling 1.0, OTLP/HTTP)",
        "",
        "| gateway CPU | tracing off | tracing on | added |",
        "|---|---|---|---|",
    ]
    rows = (
        (
            f"us per event ({s['streams']} streams x {s['per_stream']:,} events)",
            "cpu_us_per_event",
        ),
        ("us per request (one-event streams, one after the other)", "cpu_us_per_request"),
    )
    for label, key in rows:
        added = on[key] - off[key]
        lines.append(f"| {label} | {off[key]:,.2f} | {on[key]:,.2f} | {added:+,.2f} |")
    return lines
