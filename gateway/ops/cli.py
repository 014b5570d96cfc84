"""The `a2a-gateway` command: `serve`, and the client commands of a2a_client/commands.py."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from a2a_client import commands as client_commands
from gateway.ops import logs, tracing
from gateway.ops.config import ConfigError, load
from gateway.ops.settings import Settings, parse_api_key

if TYPE_CHECKING:
    import uvicorn

# The server stack (uvicorn, the app, FastAPI, gRPC) is imported by the functions that serve:
# a client command (`call`, `agents`, ...) starts in a fraction of the time without it.


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


def card_overrides(
    names: list[str], files: list[str], fields: list[str]
) -> dict[str, dict[str, Any]]:
    """Per agent, the card overrides of `--card-file NAME=PATH` then `--card-override`."""
    out: dict[str, dict[str, Any]] = {name: {} for name in names}

    def agent(name: str, option: str) -> dict[str, Any]:
        if name not in out:
            raise ValueError(f"{option}: no agent named {name!r}")
        return out[name]

    for value in files:
        name, sep, path = value.partition("=")
        if not sep:
            raise ValueError(f"--card-file {value!r} is not NAME=PATH")
        try:
            loaded = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"--card-file {value!r}: {exc}") from None
        if not isinstance(loaded, dict):
            raise ValueError(f"--card-file {value!r}: the file must hold a JSON object")
        agent(name, "--card-file").update(loaded)
    for value in fields:
        target, sep, raw = value.partition("=")
        name, dot, field = target.partition(".")
        if not sep or not dot or not field:
            raise ValueError(f"--card-override {value!r} is not NAME.FIELD=VALUE")
        try:
            parsed: Any = json.loads(raw)
        except ValueError:
            parsed = raw
        if not isinstance(parsed, dict | list | str):
            parsed = raw  # `version=2` means the string "2"
        agent(name, "--card-override")[field] = parsed
    return out


def _section(data: dict[str, Any], key: str) -> dict[str, Any]:
    """The mapping at `key` (created when absent); a non-mapping is left for validation."""
    value = data.setdefault(key, {})
    return value if isinstance(value, dict) else {}


def _overrides(args: argparse.Namespace) -> Callable[[dict[str, Any]], None]:
    """Apply the flags to the raw configuration (they take precedence over file and env)."""

    def apply(data: dict[str, Any]) -> None:
        agents = data.setdefault("agents", [])
        if not isinstance(agents, list):
            return
        for name, targets in args.agents:
            known = [a for a in agents if isinstance(a, dict) and a.get("name") == name]
            for agent in known:
                agent.pop("target", None)
                agent["targets"] = targets
            if not known:
                agents.append({"name": name, "targets": targets})
        if args.deadline is not None:
            for agent in agents:
                if isinstance(agent, dict):
                    agent["deadline"] = args.deadline
        listen = (
            ("host", args.host),
            ("port", args.port),
            ("grpc_port", args.grpc_port),
            ("grpc_cert_file", args.grpc_cert_file),
            ("grpc_key_file", args.grpc_key_file),
            ("workers", args.workers),
        )
        for key, value in listen:
            if value is not None:
                _section(data, "listen")[key] = value
        if isinstance(data.get("store"), str):
            data["store"] = {"url": data["store"]}
        store = (
            ("url", args.store),
            ("prefix", args.store_prefix),
            ("lease", args.lease),
            ("cluster", args.store_cluster),
        )
        for key, value in store:
            if value is not None:
                _section(data, "store")[key] = value
        limits = (
            ("keepalive", args.keepalive),
            ("max_events_per_task", args.max_events_per_task),
            ("max_subscribers_per_task", args.max_subscribers_per_task),
            ("finished_task_ttl", args.task_ttl),
            ("max_running_tasks", args.max_running_tasks),
            ("send_timeout", args.send_timeout),
        )
        for key, value in limits:
            if value is not None:
                _section(data, "limits")[key] = value
        allow = args.forwarded_allow_ips
        http = (
            ("public_url", args.public_url),
            ("forwarded_allow_ips", [ip.strip() for ip in allow.split(",")] if allow else None),
            ("card_max_age", args.card_max_age),
        )
        for key, value in http:
            if value is not None:
                _section(data, "http")[key] = value
        if args.max_body_bytes is not None:
            _section(data, "limits")["max_body_bytes"] = args.max_body_bytes
        auth = (
            ("jwt_hs256_secret_file", args.jwt_hs256_secret_file),
            ("jwt_public_key_file", args.jwt_public_key_file),
            ("jwks_file", args.jwks_file),
            ("jwt_audience", args.jwt_audience),
            ("jwt_issuer", args.jwt_issuer),
            ("principal_claim", args.jwt_principal_claim),
            ("leeway", args.jwt_leeway),
            ("api_key_header", args.api_key_header),
        )
        for key, value in auth:
            if value is not None:
                _section(data, "auth")[key] = value
        if args.api_keys:
            try:
                keys = [parse_api_key(k) for k in args.api_keys]
            except ValueError as exc:
                raise ConfigError([("--api-key-hash", str(exc))]) from None
            _section(data, "auth")["api_keys"] = [
                {"principal": k.principal, "sha256": k.sha256} for k in keys
            ]
        per_principal = (
            ("rate", args.rate),
            ("burst", args.burst),
            ("streams", args.max_streams),
            ("tasks", args.max_tasks),
            ("body_timeout", args.body_timeout),
            ("header_timeout", args.header_timeout),
            ("max_header_bytes", args.max_header_bytes),
        )
        for key, value in per_principal:
            if value is not None:
                _section(data, "per_principal")[key] = value
        for key, value in (("mode", args.metrics), ("port", args.metrics_port)):
            if value is not None:
                _section(data, "metrics")[key] = value
        if args.cors_origins:
            data["cors_origins"] = list(args.cors_origins)
        if args.allowed_hosts:
            data["allowed_hosts"] = list(args.allowed_hosts)
        if args.shutdown_grace is not None:
            data["shutdown_grace"] = args.shutdown_grace
        signing = (("key_file", args.card_signing_key), ("kid", args.card_signing_kid))
        for key, value in signing:
            if value is not None:
                _section(data, "card_signing")[key] = value
        traces = (
            ("endpoint", args.otlp_endpoint),
            ("protocol", args.otlp_protocol),
            ("sampling_ratio", args.trace_sampling_ratio),
        )
        for key, value in traces:
            if value is not None:
                _section(data, "tracing")[key] = value
        if args.otlp_endpoint is not None:
            _section(data, "tracing")["enabled"] = True
        if args.push_allow:
            _section(data, "push")["allow_hosts"] = list(args.push_allow)
        push = (
            ("allow_http", args.push_allow_http),
            ("signing", args.push_signing or (True if args.push_signing_key else None)),
            ("signing_key_file", args.push_signing_key),
            ("enabled", False if args.no_push else None),
        )
        for key, value in push:
            if value is not None:
                _section(data, "push")[key] = value
        if args.rest is not None:
            data["rest"] = args.rest
        if args.card_files or args.card_overrides:
            by_name = {a["name"]: a for a in agents if isinstance(a, dict) and "name" in a}
            try:
                cards = card_overrides(list(by_name), args.card_files, args.card_overrides)
            except ValueError as exc:
                raise ConfigError([("card overrides", str(exc))]) from None
            for name, fields in cards.items():
                if fields:
                    card = by_name[name].setdefault("card", {})
                    if isinstance(card, dict):
                        card.update(fields)

    return apply


def uvicorn_config(app: Any, settings: Settings, log_level: str, **options: Any) -> uvicorn.Config:
    import uvicorn

    limits = settings.per_principal
    return uvicorn.Config(
        app,
        log_level=log_level,
        log_config=None,
        access_log=False,  # never log URLs: the event stream may carry an access_token
        lifespan="on",
        interface="asgi3",  # said, not guessed: GatewayApp.__call__ returns an awaitable
        proxy_headers=False,  # forwarded headers are honoured in gateway/urls.py only
        h11_max_incomplete_event_size=limits.max_header_bytes,
        timeout_graceful_shutdown=int(settings.shutdown_grace) + 2,
        **options,
    )


def build_app(settings: Settings) -> Any:
    """The app (ConfigError if an agent's targets cannot be resolved)."""
    from gateway.http.app import create_app

    try:
        return create_app(settings)
    except (ValueError, OSError) as exc:
        raise ConfigError([("agents", f"cannot set up the upstream channels: {exc}")]) from None


async def serve(settings: Settings, log_level: str) -> None:
    """Bind first (port 0 allowed; a ConfigError if the agents' channels cannot be set up),
    say where, then serve until SIGINT/SIGTERM, draining."""
    from gateway.http import server
    from gateway.http.app import Gateway

    sockets = [server.listen(settings.host, settings.port)]
    if settings.port == 0:  # the bound port (the gRPC binding's extended card names it)
        settings = dataclasses.replace(settings, port=sockets[0].getsockname()[1])
    if settings.metrics_port is not None:
        sockets.append(server.listen(settings.host, settings.metrics_port))
        settings = dataclasses.replace(settings, metrics_port=sockets[1].getsockname()[1])
    app = build_app(settings)
    gateway: Gateway = app.state.gateway
    limits = settings.per_principal
    config = uvicorn_config(
        app,
        settings,
        log_level,
        http=server.limited_protocol(limits.max_header_bytes, limits.header_timeout),
    )
    try:
        grpc_address = await gateway.start_grpc()
    except OSError as exc:
        print(f"a2a-gateway: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    print(f"a2a-gateway listening on {server.url_of(sockets[0])}", flush=True)
    if grpc_address is not None:
        tls = " (TLS)" if settings.grpc_cert_file else ""
        print(f"a2a-gateway gRPC on {grpc_address}{tls}", flush=True)
    if len(sockets) > 1:
        print(f"a2a-gateway metrics on {server.url_of(sockets[1])}/metrics", flush=True)
    await server.Server(config, gateway).serve(sockets=sockets)


WORKER_ARGV = "A2A_GATEWAY_WORKER_ARGV"


def serve_workers(settings: Settings, log_level: str, argv: list[str]) -> None:
    """`--workers N`: N processes accept on one socket (uvicorn's supervisor restarts a dead
    one). Each rebuilds the same settings from this command line (`worker_app`), and each is a
    replica of its own on the shared store: leases, cancels and sweeps work between them as
    between hosts. (Each worker runs uvicorn's own server: the head-size and head-time limits
    of the single-process server, and the drain that says goodbye to open streams, are not
    there; streams end with the worker and clients resume on another one.)"""
    from uvicorn.supervisors import Multiprocess

    from gateway.http import server

    sock = server.listen(settings.host, settings.port)
    print(f"a2a-gateway listening on {server.url_of(sock)}", flush=True)
    if settings.grpc_port is not None:  # every worker binds it (SO_REUSEPORT)
        print(f"a2a-gateway gRPC on {settings.host}:{settings.grpc_port}", flush=True)
    os.environ[WORKER_ARGV] = json.dumps(argv)
    config = uvicorn_config(
        "gateway.ops.cli:worker_app", settings, log_level, factory=True, workers=settings.workers
    )
    Multiprocess(config, sockets=[sock]).run()


def worker_app() -> Any:
    """The app of one worker process (uvicorn calls this factory in each)."""
    args = build_parser().parse_args(json.loads(os.environ[WORKER_ARGV]))
    return build_app(load(args.config, overrides=_overrides(args)))


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    """uvicorn re-raises the signal it drained on once it is done: that means exit 0."""
    raise SystemExit(0)


def _refuse(exc: ConfigError, path: str | None) -> int:
    source = f" ({path})" if path else ""
    lines = "".join(f"\n  {line}" for line in str(exc).splitlines())
    print(f"a2a-gateway: invalid configuration{source}:{lines}", file=sys.stderr)
    return 2


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` on uvloop when it is installed (the `fast` extra), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.command in client_commands.NAMES:
        return client_commands.run(args)
    try:
        settings = load(args.config, overrides=_overrides(args))
        if settings.auth.enabled:
            from gateway.http.auth import load_keys

            load_keys(settings.auth)  # fail now, with a message, on a bad key file
        tracing.resolve(settings.tracing, os.environ)  # likewise on a bad OTEL_* protocol
    except ConfigError as exc:
        return _refuse(exc, args.config)
    except (ValueError, OSError) as exc:
        print(f"a2a-gateway: {exc}", file=sys.stderr)
        return 2
    logs.configure(args.log_level, args.log_format)
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        if settings.workers > 1:
            serve_workers(settings, args.log_level, argv)
        else:
            run(serve(settings, args.log_level))
    except ConfigError as exc:
        return _refuse(exc, args.config)
    except OSError as exc:
        where = f"{settings.host}:{settings.port}"
        print(f"a2a-gateway: cannot listen on {where}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
