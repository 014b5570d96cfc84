"""The `a2a-gateway` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
from collections.abc import Coroutine
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
        "--workers",
        type=int,
        default=1,
        help="worker processes; more than 1 needs a shared task store (the Redis backend, "
        "not available yet): with the memory store only 1 is accepted",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    agents = tuple(
        AgentSpec(name=a.name, target=a.target, deadline=args.deadline) for a in args.agents
    )
    return Settings(
        agents=agents,
        keepalive=args.keepalive,
        max_events_per_task=args.max_events_per_task,
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
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    print(f"a2a-gateway listening on http://{shown}:{bound_port}", flush=True)
    await server.serve(sockets=[sock])


def workers_refusal(workers: int) -> str:
    if workers < 1:
        return f"--workers must be at least 1, got {workers}"
    return (
        f"--workers {workers} is refused: tasks and their event logs live in the memory of "
        "one process, so a second worker would not see them (GetTask, SubscribeToTask and "
        "CancelTask would fail at random). Run one worker per gateway, or use a shared "
        "store (the Redis backend, when it exists)."
    )


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` on uvloop when it is installed (the `fast` extra), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.workers != 1:
        print(f"a2a-gateway: {workers_refusal(args.workers)}", file=sys.stderr)
        return 2
    try:
        settings = _settings(args)
    except ValueError as exc:
        print(f"a2a-gateway: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s %(message)s")
    try:
        run(serve(settings, args.host, args.port, args.log_level))
    except OSError as exc:
        print(f"a2a-gateway: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
