"""The `a2a-gateway` command."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import signal
import sys
from types import FrameType

import uvicorn

from gateway import logs, server
from gateway.app import Gateway, create_app
from gateway.auth import load_keys
from gateway.settings import (
    AgentSpec,
    ApiKey,
    AuthSettings,
    Limits,
    Settings,
    parse_agent,
    parse_api_key,
)


def _agent(value: str) -> AgentSpec:
    try:
        return parse_agent(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _api_key(value: str) -> ApiKey:
    try:
        return parse_api_key(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
        "first agent is also served at /.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    serve.add_argument(
        "--agent",
        dest="agents",
        metavar="NAME=HOST:PORT",
        type=_agent,
        action="append",
        required=True,
        help="an agent's route name and gRPC target; repeat for several agents",
    )
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"), help="listen address")
    serve.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT", "8000")),
        help="listen port (0 picks a free one; env PORT)",
    )
    serve.add_argument(
        "--keepalive", type=float, default=15.0, help="seconds between SSE keep-alive comments"
    )
    serve.add_argument(
        "--deadline",
        type=float,
        default=None,
        help="upstream deadline per task turn, in seconds (default: none)",
    )
    serve.add_argument(
        "--max-events-per-task", type=int, default=10_000, help="events retained per task"
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
    auth.add_argument("--jwt-principal-claim", default="sub", help="claim naming the principal")
    auth.add_argument("--jwt-leeway", type=float, default=30.0, help="clock skew allowed, s")
    auth.add_argument(
        "--api-key-hash",
        dest="api_keys",
        metavar="PRINCIPAL=SHA256HEX",
        type=_api_key,
        action="append",
        default=[],
        help="an API key, by its SHA-256 hex digest; repeat for several",
    )
    auth.add_argument("--api-key-header", default="X-API-Key", help="header carrying API keys")
    limits = serve.add_argument_group("limits (per principal; 0 = unlimited)")
    limits.add_argument("--rate", type=float, default=0.0, help="requests per second")
    limits.add_argument("--burst", type=int, default=20, help="token bucket size")
    limits.add_argument("--max-streams", type=int, default=0, help="concurrent SSE streams")
    limits.add_argument("--max-tasks", type=int, default=0, help="concurrent running task turns")
    limits.add_argument("--max-body-bytes", type=int, default=1024 * 1024, help="request body")
    limits.add_argument("--body-timeout", type=float, default=10.0, help="seconds to send a body")
    limits.add_argument("--header-timeout", type=float, default=10.0, help="seconds for headers")
    limits.add_argument("--max-header-bytes", type=int, default=64 * 1024, help="request head")
    ops = serve.add_argument_group("operations")
    ops.add_argument(
        "--metrics",
        default="public",
        choices=["public", "auth", "off"],
        help="/metrics without credentials, behind auth, or not served",
    )
    ops.add_argument("--metrics-port", type=int, default=None, help="serve /metrics only here")
    ops.add_argument(
        "--cors-origin",
        dest="cors_origins",
        action="append",
        default=[],
        help="allow browser calls from this origin (repeat; '*' for any)",
    )
    ops.add_argument(
        "--shutdown-grace", type=float, default=10.0, help="seconds running turns get at SIGTERM"
    )
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    agents = tuple(
        AgentSpec(name=a.name, target=a.target, deadline=args.deadline) for a in args.agents
    )
    auth = AuthSettings(
        jwt_hs256_secret_file=args.jwt_hs256_secret_file,
        jwt_public_key_file=args.jwt_public_key_file,
        jwks_file=args.jwks_file,
        jwt_audience=args.jwt_audience,
        jwt_issuer=args.jwt_issuer,
        principal_claim=args.jwt_principal_claim,
        leeway=args.jwt_leeway,
        api_keys=tuple(args.api_keys),
        api_key_header=args.api_key_header,
    )
    limits = Limits(
        rate=args.rate,
        burst=args.burst,
        streams=args.max_streams,
        tasks=args.max_tasks,
        body_timeout=args.body_timeout,
        header_timeout=args.header_timeout,
        max_header_bytes=args.max_header_bytes,
    )
    return Settings(
        agents=agents,
        keepalive=args.keepalive,
        max_events_per_task=args.max_events_per_task,
        max_body_bytes=args.max_body_bytes,
        auth=auth,
        limits=limits,
        metrics=args.metrics,
        metrics_port=args.metrics_port,
        cors_origins=tuple(args.cors_origins),
        shutdown_grace=args.shutdown_grace,
    )


async def serve(settings: Settings, host: str, port: int, log_level: str) -> None:
    """Bind first (port 0 allowed), say where, then serve until SIGINT/SIGTERM, draining."""
    sockets = [server.listen(host, port)]
    if settings.metrics_port is not None:
        sockets.append(server.listen(host, settings.metrics_port))
        metrics_port = sockets[1].getsockname()[1]
        settings = dataclasses.replace(settings, metrics_port=metrics_port)
    app = create_app(settings)
    gateway: Gateway = app.state.gateway
    config = uvicorn.Config(
        app,
        log_level=log_level,
        log_config=None,
        access_log=False,
        lifespan="on",
        http=server.limited_protocol(
            settings.limits.max_header_bytes, settings.limits.header_timeout
        ),
        h11_max_incomplete_event_size=settings.limits.max_header_bytes,
        timeout_graceful_shutdown=int(settings.shutdown_grace) + 2,
    )
    print(f"a2a-gateway listening on {server.url_of(sockets[0])}", flush=True)
    if len(sockets) > 1:
        print(f"a2a-gateway metrics on {server.url_of(sockets[1])}/metrics", flush=True)
    await server.Server(config, gateway).serve(sockets=sockets)


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    """uvicorn re-raises the signal it drained on once it is done: that means exit 0."""
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = _settings(args)
        if settings.auth.enabled:
            load_keys(settings.auth)  # fail now, with a message, on a bad key file
    except (ValueError, OSError) as exc:
        print(f"a2a-gateway: {exc}", file=sys.stderr)
        return 2
    logs.configure(args.log_level, args.log_format)
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        asyncio.run(serve(settings, args.host, args.port, args.log_level))
    except OSError as exc:
        print(f"a2a-gateway: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
