"""`serve --workers N`: N server processes on one socket, under uvicorn's supervisor."""

from __future__ import annotations

import json
import os
from typing import Any

from gateway.ops.config import load
from gateway.ops.flags import build_parser
from gateway.ops.overrides import flag_overrides
from gateway.ops.serve import build_app, uvicorn_config
from gateway.ops.settings import Settings

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
        "gateway.ops.workers:worker_app",
        settings,
        log_level,
        factory=True,
        workers=settings.workers,
    )
    Multiprocess(config, sockets=[sock]).run()


def worker_app() -> Any:
    """The app of one worker process (uvicorn calls this factory in each)."""
    args = build_parser().parse_args(json.loads(os.environ[WORKER_ARGV]))
    return build_app(load(args.config, overrides=flag_overrides(args)))
