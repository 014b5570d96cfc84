"""The command line: the `serve` flags, grouped as `--help` shows them, and the client commands.

Flags that set the configuration default to None or an empty list (`--public-url` and
`--forwarded-allow-ips`: their environment variable), so only those given override the file
and the environment when overrides.py lays them over the raw configuration. The client
commands (`call`, `agents`, ...) and their flags are a2a_client/commands.py's.
"""

from __future__ import annotations

import argparse
import os

from a2a_client import commands as client_commands


def _agent(value: str) -> tuple[str, list[str]]:
    name, sep, targets = value.partition("=")
    if not sep or not name.strip() or not targets.strip():
        raise argparse.ArgumentTypeError(f"{value!r} is not NAME=HOST:PORT[,HOST:PORT...]")
    return name.strip(), [t.strip() for t in targets.split(",")]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="a2a-gateway",
        description="Serve gRPC TaskService agents as A2A (JSON-RPC 2.0 + SSE) endpoints.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="run the gateway",
        description="Run the gateway in front of one or more agents. Each agent is served at "
        "/agents/NAME/ with its Agent Card at /agents/NAME/.well-known/agent-card.json; the "
        "default agent (else the first) is also served at /. Settings come from --config FILE, "
        "then A2A_GATEWAY__* environment variables, then these flags (highest precedence); "
        "see docs/configuration.md.",
    )
    serve.add_argument("--config", metavar="FILE", help="YAML configuration file")
    serve.add_argument(
        "--agent",
        dest="agents",
        metavar="NAME=HOST:PORT[,HOST:PORT]",
        type=_agent,
        action="append",
        default=[],
        help="an agent's route name and gRPC target(s); repeat for several agents. An agent "
        "of the config file with this name keeps its other settings and gets these targets",
    )
    serve.add_argument("--host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port; 0 picks a free one (default 8000)")
    serve.add_argument(
        "--grpc-port",
        type=int,
        help="also serve the A2A gRPC binding (lf.a2a.v1.A2AService) on this port of --host; "
        "0 picks a free one (default: off)",
    )
    serve.add_argument(
        "--grpc-cert-file", metavar="PATH", help="PEM certificate (chain): gRPC over TLS"
    )
    serve.add_argument("--grpc-key-file", metavar="PATH", help="PEM private key of it")
    serve.add_argument(
        "--keepalive", type=float, help="seconds between SSE keep-alive comments (default 15)"
    )
    serve.add_argument(
        "--deadline", type=float, help="upstream deadline per task turn in seconds, every agent"
    )
    serve.add_argument(
        "--public-url",
        default=os.environ.get("A2A_PUBLIC_URL"),
        help="the base URL clients reach the gateway at (put in Agent Cards); default: the "
        "request's URL, corrected by X-Forwarded-Proto/-Host/-Prefix from trusted proxies",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        default=os.environ.get("FORWARDED_ALLOW_IPS"),
        help="comma-separated proxy addresses whose X-Forwarded-* headers are honoured ('*': any)",
    )
    serve.add_argument(
        "--card-max-age", type=int, help="Cache-Control max-age of Agent Cards (default 300)"
    )
    serve.add_argument(
        "--card-signing-key",
        metavar="PATH",
        help="PEM EC or RSA private key: every Agent Card served is signed (A2A 8.4); "
        "needs --card-signing-kid",
    )
    serve.add_argument("--card-signing-kid", metavar="KID", help="the signing key's kid")
    serve.add_argument(
        "--card-override",
        dest="card_overrides",
        metavar="NAME.FIELD=VALUE",
        action="append",
        default=[],
        help="override an Agent Card field of agent NAME (VALUE: a JSON object, array or "
        "string, else the text itself); "
        "fields: provider, documentationUrl, iconUrl, skills, version, name, description, "
        "defaultInputModes, defaultOutputModes",
    )
    serve.add_argument(
        "--card-file",
        dest="card_files",
        metavar="NAME=PATH",
        action="append",
        default=[],
        help="a JSON object of Agent Card field overrides for agent NAME",
    )
    serve.add_argument(
        "--max-events-per-task",
        type=int,
        help="events retained per task, for resume and slow subscribers (default 10000)",
    )
    serve.add_argument(
        "--max-subscribers-per-task",
        type=int,
        help="open streams per task (default 100)",
    )
    serve.add_argument(
        "--task-ttl",
        type=float,
        help="seconds a finished task is kept before it is evicted (default 3600)",
    )
    serve.add_argument(
        "--max-running-tasks",
        type=int,
        help="task turns running at once (default 1000)",
    )
    serve.add_argument(
        "--send-timeout",
        type=float,
        help="seconds one SSE send may block before a stalled client's stream is closed "
        "(default 30)",
    )
    serve.add_argument(
        "--store",
        metavar="URL",
        help="where tasks and their events live: 'memory' (default; this process only) or "
        "redis://HOST:PORT/DB, shared by every replica on it",
    )
    serve.add_argument(
        "--store-cluster",
        action="store_const",
        const=True,
        help="the --store URL is a node of a Redis Cluster (the others are discovered)",
    )
    serve.add_argument(
        "--store-prefix", metavar="PREFIX", help="prefix of every Redis key (default 'a2a:')"
    )
    serve.add_argument(
        "--lease",
        type=float,
        help="seconds after which a dead replica's running tasks are FAILED by another one "
        "(Redis store; default 10)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        help="server processes on this host sharing the port (needs --store redis://...)",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--log-format", default="text", choices=["text", "json"], help="json: one object a line"
    )
    auth = serve.add_argument_group("authentication (off unless a key source is given)")
    auth.add_argument("--jwt-hs256-secret-file", metavar="PATH", help="HS256 secret (>= 32 bytes)")
    auth.add_argument("--jwt-public-key-file", metavar="PATH", help="PEM RSA (RS256) or EC key")
    auth.add_argument("--jwks-file", metavar="PATH", help="a JWKS document on disk")
    auth.add_argument("--jwt-audience", help="required `aud` (needed with any JWT key)")
    auth.add_argument("--jwt-issuer", help="required `iss`")
    auth.add_argument("--jwt-principal-claim", help="claim naming the principal (default sub)")
    auth.add_argument("--jwt-leeway", type=float, help="clock skew allowed, s (default 30)")
    auth.add_argument(
        "--api-key-hash",
        dest="api_keys",
        metavar="PRINCIPAL=SHA256HEX",
        action="append",
        default=[],
        help="an API key, by its SHA-256 hex digest; repeat for several",
    )
    auth.add_argument("--api-key-header", help="header carrying API keys (default X-API-Key)")
    per = serve.add_argument_group("limits per principal (0 = unlimited) and request hygiene")
    per.add_argument("--rate", type=float, help="requests per second (default 0)")
    per.add_argument("--burst", type=int, help="token bucket size (default 20)")
    per.add_argument("--max-streams", type=int, help="concurrent SSE streams (default 0)")
    per.add_argument("--max-tasks", type=int, help="concurrent running task turns (default 0)")
    per.add_argument("--max-body-bytes", type=int, help="request body (default 16 MiB)")
    per.add_argument("--body-timeout", type=float, help="seconds to send a body (default 10)")
    per.add_argument("--header-timeout", type=float, help="seconds for headers (default 10)")
    per.add_argument("--max-header-bytes", type=int, help="request head (default 64 KiB)")
    ops = serve.add_argument_group("operations")
    ops.add_argument(
        "--metrics",
        choices=["public", "auth", "off"],
        help="/metrics without credentials, behind auth, or not served (default public)",
    )
    ops.add_argument("--metrics-port", type=int, help="serve /metrics only on this port")
    ops.add_argument(
        "--cors-origin",
        dest="cors_origins",
        action="append",
        default=[],
        help="allow browser calls from this origin (repeat; '*' for any)",
    )
    ops.add_argument(
        "--allowed-host",
        dest="allowed_hosts",
        action="append",
        default=[],
        help="a Host name served besides loopback ones (repeat; '*.example.com'; '*' for any)",
    )
    ops.add_argument(
        "--shutdown-grace", type=float, help="seconds running turns get at SIGTERM (default 10)"
    )
    push = serve.add_argument_group("push notifications (docs/push.md)")
    push.add_argument(
        "--push-allow",
        dest="push_allow",
        metavar="HOST|ADDRESS|CIDR",
        action="append",
        default=[],
        help="a webhook host the SSRF guard lets through (repeat), e.g. 127.0.0.1",
    )
    push.add_argument(
        "--push-allow-http", action="store_true", default=None, help="allow http:// webhooks"
    )
    push.add_argument(
        "--push-signing", action="store_true", default=None, help="sign webhook requests (JWT)"
    )
    push.add_argument("--push-signing-key", metavar="PATH", help="PEM private key to sign with")
    push.add_argument(
        "--no-push", action="store_true", default=None, help="turn push notifications off"
    )
    ops.add_argument(
        "--no-rest",
        dest="rest",
        action="store_false",
        default=None,
        help="serve JSON-RPC only, without the HTTP+JSON/REST binding",
    )
    traces = serve.add_argument_group(
        "tracing (OpenTelemetry; off unless set here, in the file or OTEL_*)"
    )
    traces.add_argument(
        "--otlp-endpoint",
        metavar="URL",
        help="turn tracing on: send spans to this OTLP collector, e.g. http://127.0.0.1:4318 "
        "(see docs/tracing.md)",
    )
    traces.add_argument(
        "--otlp-protocol", choices=["http/protobuf", "grpc"], help="default http/protobuf"
    )
    traces.add_argument(
        "--trace-sampling-ratio", type=float, metavar="RATIO", help="0..1 (default 1, every trace)"
    )
    client_commands.add_commands(commands)
    return parser
