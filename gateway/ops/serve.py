"""The `serve` command in one process: bind, build the app, say where, serve until signalled.

The server stack (uvicorn, the app, FastAPI, gRPC) is imported when these functions run, not
with this module (see cli.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from gateway.ops.config import ConfigError
from gateway.ops.settings import Settings

if TYPE_CHECKING:
    import uvicorn


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
    from gateway.http.state import Gateway

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


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` on uvloop when it is installed (the `fast` extra), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)
