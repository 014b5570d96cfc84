"""The HTTP application: routes, request handling, SSE streams.

Routes (every agent-scoped route lives under its prefix `/agents/{name}`; the default agent,
else the first, is also served at the root):

    POST {prefix}/                             A2A JSON-RPC 2.0 (with or without the slash),
                                               v1.0 or v0.3 by `A2A-Version` (versions.py)
    GET  {prefix}/.well-known/agent-card.json  the Agent Card (cached: conditional.py)
    GET  {prefix}/.well-known/agent.json       the same card at its legacy (v0.2) path
    GET  {prefix}/tasks/{id}/events            a task's events for browsers' EventSource
                                               (v1.0 shapes; resume.py)
    GET  /agents                               the agents and their card URLs
    GET  /healthz                              the process is up
    GET  /readyz                               every agent has a target whose gRPC health
                                               is SERVING, and the store answers; per agent
                                               and per target, and the store
    GET  /metrics                              Prometheus (public, behind auth, off, or
                                               alone on its own port: `Settings.metrics*`)
    GET  /ui/                                  the browser page (static files in gateway/ui/)

The ASGI stack, outermost first: CORS (when origins are configured), the metrics port
(when set), authentication (auth.py), the per-principal rate limit (limits.py), the routes.
Public without credentials: the Agent Cards, /agents (names and card URLs only, which the
cards publish anyway), /healthz, /readyz, the page at /ui/ (its calls need credentials)
and, by configuration, /metrics.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.agents import forwarding
from gateway.agents.upstream import Upstream
from gateway.bindings.jsonrpc import envelope as jsonrpc
from gateway.bindings.jsonrpc import versions
from gateway.core import errors, resume, stream
from gateway.core.bridge import Bridge, Caller
from gateway.core.methods import Call, EventStream, Methods
from gateway.core.subscribers import Subscribers
from gateway.http import card, conditional, sse, urls
from gateway.http.auth import ANONYMOUS, PRINCIPAL, Authenticator, AuthMiddleware
from gateway.http.limits import RateLimit, RateLimiter, Slots
from gateway.ops import logs
from gateway.ops.metrics import Metrics
from gateway.ops.settings import Settings
from gateway.stores.contract import Store
from gateway.stores.memory import MemoryStore
from gateway.stores.redis import RedisStore
from gateway.stores.replicas import Replicas

log = logging.getLogger("a2a_gateway")

JSON = "application/json"
STREAMING = frozenset({"SendStreamingMessage", "SubscribeToTask"})
PUBLIC_PATHS = re.compile(
    r"^(/agents/[^/]+)?/\.well-known/agent(-card)?\.json$|^/(healthz|readyz|agents)$|^/ui(/.*)?$"
)
UI_DIR = Path(__file__).resolve().parent / "ui"


class BodyTooLarge(Exception):
    pass


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type=JSON, headers=headers)


class Gateway:
    """The gateway's state for one process: agents, store, bridge, methods."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.store, replicas = make_store(settings)
        self.bridge = Bridge(
            self.store,
            final_grace=settings.final_grace,
            max_running=settings.max_running_tasks,
            metrics=self.metrics,
            max_tasks_per_principal=settings.per_principal.tasks,
            replicas=replicas,
        )
        self.subscribers = Subscribers(limit_per_task=settings.max_subscribers_per_task)
        self.methods = Methods(self.store, self.bridge, self.subscribers)
        self.metrics.methods = frozenset(versions.method_names())
        self.metrics.running(lambda: self.bridge.running)
        self.authenticator = Authenticator(settings.auth) if settings.auth.enabled else None
        self.security = card.security(
            jwt=settings.auth.jwt,
            api_key_header=settings.auth.api_key_header if settings.auth.api_keys else None,
        )
        self.streams = Slots(settings.per_principal.streams)
        self.draining = asyncio.Event()
        self.open_streams = sse.Streams()
        self.cards = conditional.Documents(max_age=settings.card_max_age)
        self.upstreams = {spec.name: Upstream(spec) for spec in settings.agents}
        default = settings.default_agent
        self.default: Upstream | None = (
            self.upstreams[default] if default else next(iter(self.upstreams.values()), None)
        )

    def __repr__(self) -> str:
        return (
            f"<Gateway agents={list(self.upstreams)} {self.store!r} {self.bridge!r} "
            f"{self.subscribers!r}>"
        )

    def start(self) -> None:
        """Start the background work (health watching); needs the running loop."""
        for upstream in self.upstreams.values():
            upstream.start()
        self.bridge.start_replicas()

    def is_public(self, scope: Scope) -> bool:
        if scope["method"] not in ("GET", "HEAD"):
            return False
        path: str = scope["path"]
        if path == "/metrics":
            return self.settings.metrics == "public"
        return PUBLIC_PATHS.match(path) is not None

    async def drain(self) -> None:
        """Shutdown, first part: open streams say goodbye now (`retry:`, then close), new
        requests are refused, running turns get `shutdown_grace` seconds, then are cancelled."""
        self.draining.set()
        self.open_streams.drain()
        await self.bridge.wait(self.settings.shutdown_grace)
        await self.bridge.close()

    async def close(self) -> None:
        self.draining.set()
        self.open_streams.drain()
        await self.bridge.close()
        await self.store.close()
        for upstream in self.upstreams.values():
            await upstream.close()

    # --- routes -------------------------------------------------------------------------

    def upstream_for(self, request: Request) -> Upstream | None:
        name = request.path_params.get("agent")
        if name is None:
            return self.default
        return self.upstreams.get(str(name))

    def base_url(self, request: Request) -> str:
        return urls.base_url(
            request,
            public_url=self.settings.public_url,
            allow=self.settings.forwarded_allow_ips,
        )

    def prefix(self, request: Request, upstream: Upstream, *, at_root: bool) -> str:
        base = self.base_url(request)
        return base if at_root else f"{base}/agents/{upstream.name}"

    async def rpc(self, request: Request) -> Response:
        received = time.monotonic()
        upstream = self.upstream_for(request)
        if upstream is None:
            return unknown_agent(request)
        principal, request_id = self.identify(request, upstream)
        if self.draining.is_set():
            error = errors.internal_error("The gateway is shutting down", reason="SHUTTING_DOWN")
            headers = {"Retry-After": "1", "Connection": "close"}
            return Response(jsonrpc.error(None, error), 503, headers, media_type=JSON)
        try:
            body = await self.read_body(request)
        except BodyTooLarge:
            error = errors.invalid_request(f"the body exceeds {self.settings.max_body_bytes} bytes")
            return Response(jsonrpc.error(None, error), status_code=413, media_type=JSON)
        except TimeoutError:
            error = errors.request_timeout(self.settings.per_principal.body_timeout)
            body_bytes = jsonrpc.error(None, error)
            return Response(body_bytes, 408, {"Connection": "close"}, media_type=JSON)
        try:
            rpc_request = jsonrpc.parse(body)
        except errors.A2AError as exc:
            self.metrics.request("invalid", exc.code)
            return Response(jsonrpc.error(jsonrpc.request_id_of(body), exc), media_type=JSON)
        method = rpc_request.method
        logs.bind(task_id=task_id_of(rpc_request.params))
        try:
            version = versions.negotiate(request.headers, request.query_params)
            route = versions.route(version, method)
        except errors.A2AError as exc:
            self.finished(method, exc.code, received)
            return Response(jsonrpc.error(rpc_request.id, exc), media_type=JSON)
        caller = self.caller(request, principal, request_id)
        streaming = route.target in STREAMING
        slot = False
        try:
            if route.error is not None:
                raise route.error()
            params = route.params(rpc_request.params)
            call = Call(
                id=rpc_request.id,
                params=params,
                upstream=upstream,
                caller=caller,
                last_event_id=request.headers.get("last-event-id"),
                task_hint=route.task_hint(rpc_request.params),
            )
            assert route.target is not None
            if streaming:
                if not self.streams.acquire(principal):
                    self.metrics.limited.labels("streams").inc()
                    raise errors.too_many("streams", self.streams.limit)
                slot = True
            result = await self.methods.table[route.target](call)
        except errors.A2AError as exc:
            if slot:
                self.streams.release(principal)
            self.finished(method, exc.code, received)
            return Response(jsonrpc.error(rpc_request.id, exc), media_type=JSON)
        except Exception:
            if slot:
                self.streams.release(principal)
            log.exception("internal error in %s", method)
            self.finished(method, errors.INTERNAL_ERROR, received)
            error = errors.internal_error("Internal error")
            return Response(jsonrpc.error(rpc_request.id, error), media_type=JSON)
        if isinstance(result, dict) and isinstance(result.get("task"), dict):
            logs.bind(task_id=result["task"].get("id"))
        self.finished(method, 0, received)
        if isinstance(result, EventStream):
            if not slot:
                self.streams.acquire(principal)  # counted, though it started unchecked
            return self.sse(result, rpc_request.id, principal, route, method, received)
        if slot:
            self.streams.release(principal)
        return Response(jsonrpc.result(rpc_request.id, route.result(result)), media_type=JSON)

    async def task_events(self, request: Request) -> Response:
        """`GET {prefix}/tasks/{id}/events`: a subscription for browsers' EventSource.

        Same events, ids and `data:` as SubscribeToTask (v1.0 shapes), with a JSON-RPC `id`
        of null. The resume position is the `Last-Event-ID` header, else the `lastEventId`
        query param (EventSource cannot set headers on its first connection). Without one:
        the current Task, then live events; for a finished task the Task alone. Errors are an
        HTTP status with the JSON-RPC error as body (EventSource stops reconnecting on them);
        204 when a finished task has nothing after the given id, which tells EventSource to
        stop.
        """
        received = time.monotonic()
        upstream = self.upstream_for(request)
        if upstream is None:
            return unknown_agent(request)
        principal, request_id = self.identify(request, upstream)
        last_event_id = request.headers.get("last-event-id")
        if last_event_id is None:
            last_event_id = request.query_params.get(resume.QUERY)
        call = Call(
            id=None,
            params={},
            upstream=upstream,
            caller=self.caller(request, principal, request_id),
            last_event_id=last_event_id,
        )
        if not self.streams.acquire(principal):
            self.metrics.limited.labels("streams").inc()
            error = errors.too_many("streams", self.streams.limit)
            return Response(jsonrpc.error(None, error), status_code=429, media_type=JSON)
        try:
            result = await self.methods.task_events(call, str(request.path_params["task_id"]))
        except errors.A2AError as exc:
            self.streams.release(principal)
            status = errors.http_status(exc)
            if status == 204:
                return Response(status_code=204)
            return Response(jsonrpc.error(None, exc), status_code=status, media_type=JSON)
        return self.sse(result, None, principal, None, "GET events", received)

    @staticmethod
    def identify(request: Request, upstream: Upstream) -> tuple[str, str]:
        """The request's principal (set by auth) and id, bound to its log context."""
        principal: str = request.scope.get(PRINCIPAL, ANONYMOUS)
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        logs.bind(request_id=request_id[:128], principal=principal, agent=upstream.name)
        return principal, request_id

    def caller(self, request: Request, principal: str, request_id: str) -> Caller:
        return Caller(
            principal=principal,
            request_id=request_id,
            headers=forwarding.forwarded(request.headers, self.settings.forward_headers),
        )

    def sse(
        self,
        result: EventStream,
        request_id: jsonrpc.RequestId,
        principal: str,
        route: versions.Route | None,
        method: str,
        received: float,
    ) -> Response:
        """The SSE response of a stream, in the route's wire format (v1.0 without a route).

        The caller holds one of the principal's stream slots; it is released on close."""
        wire, adapt = (route.wire, route.adapt) if route is not None else ("1.0", None)
        if result.task_id is not None:
            logs.bind(task_id=result.task_id)
        self.metrics.stream_opened()

        def closed(seconds: float) -> None:
            if result.release is not None:
                result.release()
            self.streams.release(principal)
            self.metrics.stream_closed(seconds)

        observer = stream.Observer(self.metrics, method, received)
        return sse.response(
            stream.body(
                self.store,
                result,
                request_id,
                wire,
                adapt,
                observer,
                keepalive=self.settings.keepalive,
            ),
            streams=self.open_streams,
            send_timeout=self.settings.send_timeout,
            on_close=closed,
        )

    def finished(self, method: str, code: int, received: float) -> None:
        """Count and log one JSON-RPC request (ids and codes only, never contents)."""
        self.metrics.request(method, code)
        duration_ms = round((time.monotonic() - received) * 1000, 1)
        extra = {"method": self.metrics.method_label(method), "code": code}
        log.info(
            "rpc %s code=%d", extra["method"], code, extra={**extra, "duration_ms": duration_ms}
        )

    async def read_body(self, request: Request) -> bytes:
        """The whole body, within `max_body_bytes` and `limits.body_timeout` seconds.

        Raises BodyTooLarge or TimeoutError (a client sending slowly)."""
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge
        chunks: list[bytes] = []
        size = 0
        async with asyncio.timeout(self.settings.per_principal.body_timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge
                chunks.append(chunk)
        return b"".join(chunks)

    async def agent_card(self, request: Request) -> Response:
        upstream = self.upstream_for(request)
        if upstream is None:
            return unknown_agent(request)
        try:
            description = await upstream.describe()
        except errors.A2AError as exc:
            return json_response({"error": exc.to_json()}, status=503)
        at_root = "agent" not in request.path_params
        url = self.prefix(request, upstream, at_root=at_root) + "/"
        extension = resume.card_entry(
            retained_events=self.settings.max_events_per_task,
            finished_ttl=self.settings.finished_task_ttl,
        )
        body = card.build(
            description,
            url=url,
            fallback_name=upstream.name,
            overrides=upstream.spec.card_overrides,
            extensions=[extension],
            security=self.security,
        )
        return self.cards.respond(request, orjson.dumps(body))

    async def list_agents(self, request: Request) -> Response:
        """Every agent with its URLs, its health, and its description when it answers
        Describe within a second (fetched once, then cached)."""
        base = self.base_url(request)
        upstreams = list(self.upstreams.values())
        described = await asyncio.gather(
            *(asyncio.wait_for(u.describe(timeout=1.0), 1.0) for u in upstreams),
            return_exceptions=True,
        )
        await asyncio.gather(*(u.checked(timeout=1.0) for u in upstreams))
        agents = []
        for upstream, description in zip(upstreams, described, strict=True):
            entry: dict[str, Any] = {
                "name": upstream.name,
                "url": f"{base}/agents/{upstream.name}/",
                "cardUrl": f"{base}/agents/{upstream.name}/.well-known/agent-card.json",
                "default": upstream is self.default,
                "health": upstream.health()["status"],
            }
            if not isinstance(description, BaseException):
                entry["description"] = upstream.spec.card_overrides.get(
                    "description", description.description
                )
            agents.append(entry)
        return json_response({"agents": agents})

    async def healthz(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        """Ready when every agent has a SERVING target and the store answers. Waits up to
        2 s for first answers."""
        upstreams = list(self.upstreams.values())
        _, store = await asyncio.gather(
            asyncio.gather(*(u.checked(timeout=2.0) for u in upstreams)), self.store.health()
        )
        agents = {u.name: u.health() for u in upstreams}
        ready = all(a["status"] == "SERVING" for a in agents.values()) and store["status"] == "ok"
        return json_response(
            {"status": "ready" if ready else "unavailable", "agents": agents, "store": store},
            status=200 if ready else 503,
        )

    async def metrics_page(self, request: Request) -> Response:
        return Response(self.metrics.exposition(), media_type=self.metrics.content_type)


def task_id_of(params: dict[str, Any]) -> str | None:
    """The task a request is about, for the log context."""
    value = params.get("id")
    if value is None and isinstance(params.get("message"), dict):
        value = params["message"].get("taskId")
    return value[:64] if isinstance(value, str) else None


class MetricsPort:
    """Plain ASGI: requests that arrive on the metrics port see only GET /metrics."""

    def __init__(self, app: ASGIApp, *, gateway: Gateway, port: int) -> None:
        self.app = app
        self.gateway = gateway
        self.port = port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        if scope["type"] != "http" or not server or server[1] != self.port:
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/metrics" and scope["method"] in ("GET", "HEAD"):
            page = self.gateway.metrics.exposition()
            response = Response(page, media_type=self.gateway.metrics.content_type)
        else:
            response = Response(b"not found\n", status_code=404, media_type="text/plain")
        await response(scope, receive, send)


def make_store(settings: Settings) -> tuple[Store, Replicas | None]:
    """The configured backend; a shared one comes with this replica's lease keeping."""
    if not settings.shared_store:
        memory = MemoryStore(
            max_events_per_task=settings.max_events_per_task,
            finished_ttl=settings.finished_task_ttl,
        )
        return memory, None
    shared = RedisStore(
        settings.store,
        prefix=settings.store_prefix,
        max_events_per_task=settings.max_events_per_task,
        finished_ttl=settings.finished_task_ttl,
    )
    return shared, Replicas(shared, lease=settings.lease)


def unknown_agent(request: Request) -> Response:
    name = request.path_params.get("agent", "")
    return json_response(
        {"error": {"code": 404, "message": f"No agent named {name!r} here", "agent": name}},
        status=404,
    )


def create_app(settings: Settings) -> FastAPI:
    gateway = Gateway(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        gateway.start()
        yield
        await gateway.close()

    app = FastAPI(title="A2A gRPC gateway", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.gateway = gateway
    for prefix in ("", "/agents/{agent}"):
        app.add_route(f"{prefix}/", gateway.rpc, methods=["POST"])
        if prefix:
            app.add_route(prefix, gateway.rpc, methods=["POST"])
        for name in ("agent-card.json", "agent.json"):
            app.add_route(f"{prefix}/.well-known/{name}", gateway.agent_card, methods=["GET"])
        app.add_route(f"{prefix}/tasks/{{task_id}}/events", gateway.task_events, methods=["GET"])
    app.add_route("/agents", gateway.list_agents, methods=["GET"])
    app.add_route("/healthz", gateway.healthz, methods=["GET"])
    app.add_route("/readyz", gateway.readyz, methods=["GET"])
    if settings.metrics != "off" and settings.metrics_port is None:
        app.add_route("/metrics", gateway.metrics_page, methods=["GET"])
    # add_middleware wraps: the last added runs first.
    if settings.per_principal.rate > 0:
        limiter = RateLimiter(settings.per_principal.rate, settings.per_principal.burst)
        app.add_middleware(RateLimit, limiter=limiter, on_limited=gateway.metrics.rate_limited)
    app.add_middleware(
        AuthMiddleware,
        authenticator=gateway.authenticator,
        is_public=gateway.is_public,
        on_reject=gateway.metrics.auth_failed,
    )
    if settings.metrics_port is not None:
        app.add_middleware(MetricsPort, gateway=gateway, port=settings.metrics_port)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "A2A-Version",
                "Last-Event-ID",
                "X-Request-ID",
                settings.auth.api_key_header,
            ],
            expose_headers=["WWW-Authenticate", "Retry-After"],
            max_age=600,
        )
    app.mount("/ui", StaticFiles(directory=UI_DIR, html=True), name="ui")
    return app
