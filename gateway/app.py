"""The HTTP application: routes, request handling, SSE streams.

Routes (every agent-scoped route lives under its prefix `/agents/{name}`; the first agent is
also served at the root):

    POST {prefix}/                             A2A JSON-RPC 2.0 (with or without the slash)
    GET  {prefix}/.well-known/agent-card.json  the Agent Card
    GET  /agents                               the agents and their card URLs
    GET  /healthz                              the process is up
    GET  /readyz                               every agent answers gRPC health SERVING
    GET  /metrics                              Prometheus (public, behind auth, off, or
                                               alone on its own port: `Settings.metrics*`)

The ASGI stack, outermost first: CORS (when origins are configured), the metrics port
(when set), authentication (auth.py), the per-principal rate limit (limits.py), the routes.
Public without credentials: the Agent Cards, /agents (names and card URLs only, which the
cards publish anyway), /healthz, /readyz and, by configuration, /metrics.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import card, errors, jsonrpc, logs, sse
from gateway.auth import ANONYMOUS, PRINCIPAL, Authenticator, AuthMiddleware
from gateway.bridge import Bridge, Caller
from gateway.limits import RateLimit, RateLimiter, Slots
from gateway.methods import Call, EventStream, Methods
from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.store import EventsExpired, MemoryStore
from gateway.upstream import Upstream

log = logging.getLogger("a2a_gateway")

JSON = "application/json"
STREAMING = frozenset({"SendStreamingMessage", "SubscribeToTask"})
PUBLIC_PATHS = re.compile(
    r"^(/agents/[^/]+)?/\.well-known/agent-card\.json$|^/(healthz|readyz|agents)$"
)


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
        self.store = MemoryStore(max_events_per_task=settings.max_events_per_task)
        self.bridge = Bridge(
            self.store,
            final_grace=settings.final_grace,
            metrics=self.metrics,
            max_tasks_per_principal=settings.limits.tasks,
        )
        self.methods = Methods(self.store, self.bridge)
        self.metrics.methods = frozenset(self.methods.table)
        self.metrics.running(lambda: self.bridge.running)
        self.authenticator = Authenticator(settings.auth) if settings.auth.enabled else None
        self.security = card.security(
            jwt=settings.auth.jwt,
            api_key_header=settings.auth.api_key_header if settings.auth.api_keys else None,
        )
        self.streams = Slots(settings.limits.streams)
        self.draining = asyncio.Event()
        self.upstreams: dict[str, Upstream] = {}
        for spec in settings.agents:
            self.upstreams[spec.name] = Upstream(spec.name, spec.target, deadline=spec.deadline)

    def __repr__(self) -> str:
        return f"<Gateway agents={list(self.upstreams)} {self.store!r} {self.bridge!r}>"

    @property
    def default(self) -> Upstream | None:
        return next(iter(self.upstreams.values()), None)

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
        await self.bridge.wait(self.settings.shutdown_grace)
        await self.bridge.close()

    async def close(self) -> None:
        self.draining.set()
        await self.bridge.close()
        for upstream in self.upstreams.values():
            await upstream.close()

    # --- routes -------------------------------------------------------------------------

    def upstream_for(self, request: Request) -> Upstream | None:
        name = request.path_params.get("agent")
        if name is None:
            return self.default
        return self.upstreams.get(str(name))

    @staticmethod
    def prefix(request: Request, upstream: Upstream, *, at_root: bool) -> str:
        base = str(request.base_url).rstrip("/")
        return base if at_root else f"{base}/agents/{upstream.name}"

    async def rpc(self, request: Request) -> Response:
        received = time.monotonic()
        upstream = self.upstream_for(request)
        if upstream is None:
            return unknown_agent(request)
        principal = request.scope.get(PRINCIPAL, ANONYMOUS)
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        logs.bind(request_id=request_id[:128], principal=principal, agent=upstream.name)
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
            error = errors.request_timeout(self.settings.limits.body_timeout)
            body_bytes = jsonrpc.error(None, error)
            return Response(body_bytes, 408, {"Connection": "close"}, media_type=JSON)
        try:
            rpc_request = jsonrpc.parse(body)
        except errors.A2AError as exc:
            self.metrics.request("invalid", exc.code)
            return Response(jsonrpc.error(jsonrpc.request_id_of(body), exc), media_type=JSON)
        method = rpc_request.method
        logs.bind(task_id=task_id_of(rpc_request.params))
        caller = Caller(principal=principal, request_id=request_id)
        call = Call(
            id=rpc_request.id,
            params=rpc_request.params,
            upstream=upstream,
            caller=caller,
            last_event_id=request.headers.get("last-event-id"),
        )
        slot = False
        try:
            handler = self.methods.table.get(method)
            if handler is None:
                raise errors.method_not_found(method)
            if method in STREAMING:
                if not self.streams.acquire(principal):
                    self.metrics.limited.labels("streams").inc()
                    raise errors.too_many("streams", self.streams.limit)
                slot = True
            result = await handler(call)
        except errors.A2AError as exc:
            if slot:
                self.streams.release(principal)
            self.finished(method, exc.code, received)
            return Response(jsonrpc.error(call.id, exc), media_type=JSON)
        except Exception:
            if slot:
                self.streams.release(principal)
            log.exception("internal error in %s", method)
            self.finished(method, errors.INTERNAL_ERROR, received)
            error = errors.internal_error("Internal error")
            return Response(jsonrpc.error(call.id, error), media_type=JSON)
        if isinstance(result, dict) and isinstance(result.get("task"), dict):
            logs.bind(task_id=result["task"].get("id"))
        self.finished(method, 0, received)
        if isinstance(result, EventStream):
            if not slot:
                self.streams.acquire(principal)  # counted, though it started unchecked
            if result.task_id is not None:
                logs.bind(task_id=result.task_id)
            self.metrics.stream_opened()

            def closed(seconds: float) -> None:
                self.streams.release(principal)
                self.metrics.stream_closed(seconds)

            return sse.response(
                self.stream_body(result, call.id, method, received),
                keepalive=self.settings.keepalive,
                drain=self.draining,
                on_close=closed,
            )
        if slot:
            self.streams.release(principal)
        return Response(jsonrpc.result(call.id, result), media_type=JSON)

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
        async with asyncio.timeout(self.settings.limits.body_timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge
                chunks.append(chunk)
        return b"".join(chunks)

    async def stream_body(
        self,
        stream: EventStream,
        request_id: jsonrpc.RequestId,
        method: str = "",
        received: float | None = None,
    ) -> AsyncIterator[bytes]:
        """The SSE body: the head events, then the log until a final event.

        The first chunk carries the `retry:` hint in front of the first event's fields.
        Events are counted per chunk written; the first chunk times the first event.
        """
        metrics = self.metrics
        prefix = sse.request_prefix(request_id)
        chunks = [sse.retry_hint()]
        for event in stream.head:
            if event.seq == 0:
                chunks.append(sse.data_frame(prefix + event.encoded() + b"}"))
            else:
                chunks.append(sse.frame(event, prefix))
        if stream.head:
            metrics.sse_events.inc(len(stream.head))
            if received is not None:
                metrics.first_event.labels(method).observe(time.monotonic() - received)
                received = None
        if stream.task_id is None or any(e.final for e in stream.head):
            yield b"".join(chunks)
            return
        if stream.head:
            yield b"".join(chunks)
            chunks = []
        try:
            async for batch in self.store.follow(stream.task_id, stream.after):
                if received is not None:
                    metrics.first_event.labels(method).observe(time.monotonic() - received)
                    received = None
                for index, event in enumerate(batch):
                    if event.final:
                        chunks.append(sse.frames(batch[: index + 1], prefix))
                        metrics.sse_events.inc(index + 1)
                        yield b"".join(chunks)
                        return
                chunks.append(sse.frames(batch, prefix))
                metrics.sse_events.inc(len(batch))
                yield b"".join(chunks)
                chunks = []
        except EventsExpired as exc:
            metrics.subscriber_evicted()
            error = errors.A2AError(
                errors.INTERNAL_ERROR,
                f"This subscriber fell behind: events before {exc.oldest} are no longer "
                "retained. Resubscribe to get the current task.",
                reason="EVENTS_EXPIRED",
                metadata={"oldestEventId": str(exc.oldest)},
            )
            chunks.append(sse.data_frame(jsonrpc.error(request_id, error)))
            yield b"".join(chunks)

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
        return json_response(
            card.build(description, url=url, fallback_name=upstream.name, security=self.security)
        )

    async def list_agents(self, request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        agents = [
            {
                "name": name,
                "url": f"{base}/agents/{name}/",
                "cardUrl": f"{base}/agents/{name}/.well-known/agent-card.json",
                "default": upstream is self.default,
            }
            for name, upstream in self.upstreams.items()
        ]
        return json_response({"agents": agents})

    async def healthz(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        names = list(self.upstreams)
        statuses = await asyncio.gather(*(self.upstreams[n].health() for n in names))
        agents = dict(zip(names, statuses, strict=True))
        ready = all(s == "SERVING" for s in statuses)
        return json_response(
            {"status": "ready" if ready else "unavailable", "agents": agents},
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
        yield
        await gateway.close()

    app = FastAPI(title="A2A gRPC gateway", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.gateway = gateway
    for prefix in ("", "/agents/{agent}"):
        app.add_route(f"{prefix}/", gateway.rpc, methods=["POST"])
        if prefix:
            app.add_route(prefix, gateway.rpc, methods=["POST"])
        app.add_route(f"{prefix}/.well-known/agent-card.json", gateway.agent_card, methods=["GET"])
    app.add_route("/agents", gateway.list_agents, methods=["GET"])
    app.add_route("/healthz", gateway.healthz, methods=["GET"])
    app.add_route("/readyz", gateway.readyz, methods=["GET"])
    if settings.metrics != "off" and settings.metrics_port is None:
        app.add_route("/metrics", gateway.metrics_page, methods=["GET"])
    # add_middleware wraps: the last added runs first.
    if settings.limits.rate > 0:
        limiter = RateLimiter(settings.limits.rate, settings.limits.burst)
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
    return app
