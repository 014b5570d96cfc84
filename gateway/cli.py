"""The `a2a-gateway` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

import uvicorn

from gateway.app import create_app
from gateway.settings import AgentSpec, Settings, parse_agent


def _agent(value: str) -> AgentSpec:
    try:
        return parse_agent(value)
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
    serve.add_argument(
        "--public-url",
        default=os.environ.get("A2A_PUBLIC_URL"),
        help="the base URL clients reach the gateway at (put in Agent Cards); default: the "
        "request's URL, corrected by X-Forwarded-Proto/-Host/-Prefix from trusted proxies",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        default=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1"),
        help="comma-separated proxy addresses whose X-Forwarded-* headers are honoured ('*': any)",
    )
    serve.add_argument(
        "--card-max-age", type=int, default=300, help="Cache-Control max-age of Agent Cards"
    )
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
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
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


def _settings(args: argparse.Namespace) -> Settings:
    overrides = card_overrides([a.name for a in args.agents], args.card_files, args.card_overrides)
    agents = tuple(
        AgentSpec(
            name=a.name,
            target=a.target,
            deadline=args.deadline,
            card_overrides=overrides[a.name],
        )
        for a in args.agents
    )
    allow = tuple(ip.strip() for ip in args.forwarded_allow_ips.split(",") if ip.strip())
    return Settings(
        agents=agents,
        keepalive=args.keepalive,
        max_events_per_task=args.max_events_per_task,
        public_url=args.public_url or None,
        forwarded_allow_ips=allow,
        card_max_age=args.card_max_age,
    )


async def serve(settings: Settings, host: str, port: int, log_level: str) -> None:
    """Bind first (port 0 allowed), say where, then serve until SIGINT/SIGTERM."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings),
        log_level=log_level,
        access_log=False,
        lifespan="on",
        proxy_headers=False,  # forwarded headers are honoured in gateway/urls.py only
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    print(f"a2a-gateway listening on http://{shown}:{bound_port}", flush=True)
    await server.serve(sockets=[sock])


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ValueError as exc:
        print(f"a2a-gateway: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s %(message)s")
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
