"""The HTTP application: its routes and ASGI stack, around the gateway's state (state.py).

Routes (every agent-scoped route lives under its prefix `/agents/{name}`; the default agent,
else the first, is also served at the root):

    POST {prefix}/                             A2A JSON-RPC 2.0 (bindings/jsonrpc/; with or
                                               without the slash),
                                               v1.0 or v0.3 by `A2A-Version` (versions.py)
    GET  {prefix}/.well-known/agent-card.json  the Agent Card (cached: conditional.py)
    GET  {prefix}/.well-known/agent.json       the same card at its legacy (v0.2) path
    GET  {prefix}/tasks/{id}/events            a task's events for browsers' EventSource
                                               (v1.0 shapes; resume.py)
    *    {prefix}[/{tenant}]/message:send ...      A2A HTTP+JSON/REST (bindings/rest/routes.py:
                                               message:send, message:stream, tasks,
                                               tasks/{id}[:cancel|:subscribe], push configs,
                                               extendedAgentCard)
    GET  /agents                               the agents and their card URLs
    GET  /healthz                              the process is up
    GET  /readyz                               every agent has a target whose gRPC health
                                               is SERVING, and the store answers; per agent
                                               and per target, and the store
    GET  /metrics                              Prometheus (public, behind auth, off, or
                                               alone on its own port: `Settings.metrics*`)
    GET  /ui/                                  the browser page (static files in http/ui/)
    GET  /.well-known/jwks.json                the key push notifications are signed with
                                               (when `push.signing` is on; push/signing.py)

Unmatched paths and verbs, and uncaught exceptions, answer in the path's binding's error
shape (fallback.py), never Starlette's `{"detail": ...}`.

With `grpc_port` set, the lifespan also serves `lf.a2a.v1.A2AService` (bindings/grpc/).

The ASGI stack, outermost first: CORS (when origins are configured), the guard (guard.py:
JSON content types on POST, the Host check against DNS rebinding), the metrics port (when
set), authentication (auth.py), the per-principal rate limit (limits.py), the routes.
Public without credentials: the Agent Cards, /agents (names and card URLs only, which the
cards publish anyway), /healthz, /readyz, the page at /ui/ (its calls need credentials)
and, by configuration, /metrics.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.bindings.jsonrpc import handler as jsonrpc
from gateway.bindings.rest import handler as rest
from gateway.bindings.rest import routes as rest_routes
from gateway.http import fallback, guard, pages
from gateway.http.auth import AuthMiddleware
from gateway.http.direct import Direct, Endpoint
from gateway.http.front import GatewayApp
from gateway.http.limits import RateLimit
from gateway.http.signing import JWKS_PATH
from gateway.http.state import Gateway
from gateway.ops.settings import Settings

UI_DIR = Path(__file__).resolve().parent / "ui"


class MetricsPort:
    """Plain ASGI: requests that arrive on the metrics port see only GET /metrics."""

    def __init__(self, app: ASGIApp, *, gateway: Gateway, port: int) -> None:
        self.app = app
        self.gateway = gateway
        self.port = port

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        server = scope.get("server")
        if scope["type"] != "http" or not server or server[1] != self.port:
            return self.app(scope, receive, send)  # handed on (direct.py)
        return self.serve(scope, receive, send)

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/metrics" and scope["method"] in ("GET", "HEAD"):
            page = self.gateway.metrics.exposition()
            response = Response(page, media_type=self.gateway.metrics.content_type)
        else:
            response = Response(b"not found\n", status_code=404, media_type="text/plain")
        await response(scope, receive, send)


def create_app(settings: Settings) -> FastAPI:
    gateway = Gateway(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        gateway.start()
        await gateway.start_grpc()
        # What startup built (modules, the app, its routes) lives as long as the process:
        # frozen out of the collector, a full collection scans only what came later (measured:
        # about 100k objects, 60-100 ms per full collection, a pause every stream felt).
        gc.collect()
        gc.freeze()
        yield
        if gateway.grpc is not None:
            await gateway.grpc.stop(settings.shutdown_grace)
        await gateway.close()

    app = GatewayApp(
        title="A2A gRPC gateway",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        exception_handlers={HTTPException: fallback.http_exception, Exception: fallback.internal},
    )
    app.state.gateway = gateway

    def route(handler: Callable[[Gateway, Request], Awaitable[Response]]) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            return await handler(gateway, request)

        return endpoint

    rpc = route(jsonrpc.rpc)
    direct: list[tuple[str, str, Endpoint]] = []
    for prefix in ("", "/agents/{agent}"):
        direct.append(("POST", f"{prefix}/", rpc))
        if prefix:
            direct.append(("POST", prefix, rpc))
        direct.append(("GET", f"{prefix}/tasks/{{task_id}}/events", route(jsonrpc.task_events)))
    for prefix in ("", "/agents/{agent}"):
        app.add_route(f"{prefix}/", rpc, methods=["POST"])
        if prefix:
            app.add_route(prefix, rpc, methods=["POST"])
        for name in ("agent-card.json", "agent.json"):
            app.add_route(f"{prefix}/.well-known/{name}", route(pages.agent_card), methods=["GET"])
        events = route(jsonrpc.task_events)
        app.add_route(f"{prefix}/tasks/{{task_id}}/events", events, methods=["GET"])
    app.add_route(JWKS_PATH, route(pages.jwks), methods=["GET"])
    app.add_route("/agents", route(pages.list_agents), methods=["GET"])
    app.add_route("/healthz", route(pages.healthz), methods=["GET"])
    app.add_route("/readyz", route(pages.readyz), methods=["GET"])
    if settings.metrics != "off" and settings.metrics_port is None:
        app.add_route("/metrics", route(pages.metrics_page), methods=["GET"])

    async def rest_handle(operation: rest_routes.Operation, request: Request) -> Response:
        return await rest.handle(gateway, operation, request)

    if settings.rest:
        rest_routes.register(app, rest_handle)
        direct += rest_routes.streaming(rest_handle)
    # add_middleware wraps: the last added runs first; Direct is innermost (direct.py).
    app.add_middleware(Direct, routes=direct)
    if gateway.limiter is not None:  # one bucket per principal, shared with gRPC
        app.add_middleware(
            RateLimit, limiter=gateway.limiter, on_limited=gateway.metrics.rate_limited
        )
    app.add_middleware(
        AuthMiddleware,
        authenticator=gateway.authenticator,
        is_public=gateway.is_public,
        on_reject=gateway.metrics.auth_failed,
    )
    if settings.metrics_port is not None:
        app.add_middleware(MetricsPort, gateway=gateway, port=settings.metrics_port)
    app.add_middleware(guard.Guard, allowed=guard.allowed_hosts(settings))
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "A2A-Version",
                "A2A-Extensions",
                "Last-Event-ID",
                "X-Request-ID",
                settings.auth.api_key_header,
            ],
            expose_headers=["WWW-Authenticate", "Retry-After", "A2A-Extensions"],
            max_age=600,
        )
    app.mount("/ui", StaticFiles(directory=UI_DIR, html=True), name="ui")
    app.enter_directly()  # the stream routes, past FastAPI's own entry (front.py)
    return app
