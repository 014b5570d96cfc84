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
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from gateway import (
    card,
    conditional,
    errors,
    forwarding,
    jsonrpc,
    resume,
    sse,
    stream,
    urls,
    versions,
)
from gateway.bridge import Bridge, Caller
from gateway.methods import Call, EventStream, Methods
from gateway.redis_store import RedisStore
from gateway.replicas import Replicas
from gateway.settings import Settings
from gateway.store import MemoryStore, Store
from gateway.subscribers import Subscribers
from gateway.upstream import Upstream

log = logging.getLogger("a2a_gateway")

JSON = "application/json"


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
        self.store, replicas = make_store(settings)
        self.bridge = Bridge(
            self.store,
            final_grace=settings.final_grace,
            max_running=settings.max_running_tasks,
            replicas=replicas,
        )
        self.subscribers = Subscribers(limit_per_task=settings.max_subscribers_per_task)
        self.methods = Methods(self.store, self.bridge, self.subscribers)
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

    async def close(self) -> None:
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
        upstream = self.upstream_for(request)
        if upstream is None:
            return unknown_agent(request)
        try:
            body = await self.read_body(request)
        except BodyTooLarge:
            error = errors.invalid_request(f"the body exceeds {self.settings.max_body_bytes} bytes")
            return Response(jsonrpc.error(None, error), status_code=413, media_type=JSON)
        try:
            rpc_request = jsonrpc.parse(body)
        except errors.A2AError as exc:
            return Response(jsonrpc.error(jsonrpc.request_id_of(body), exc), media_type=JSON)
        try:
            version = versions.negotiate(request.headers, request.query_params)
            route = versions.route(version, rpc_request.method)
        except errors.A2AError as exc:
            return Response(jsonrpc.error(rpc_request.id, exc), media_type=JSON)
        caller = self.caller(request)
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
            result = await self.methods.table[route.target](call)
        except errors.A2AError as exc:
            return Response(jsonrpc.error(rpc_request.id, exc), media_type=JSON)
        except Exception:
            log.exception("internal error in %s", rpc_request.method)
            error = errors.internal_error("Internal error")
            return Response(jsonrpc.error(rpc_request.id, error), media_type=JSON)
        if isinstance(result, EventStream):
            return self.sse(result, rpc_request.id, route)
        return Response(jsonrpc.result(rpc_request.id, route.result(result)), media_type=JSON)

    async def task_events(self, request: Request) -> Response:
        """`GET {prefix}/tasks/{id}/events`: a subscription for browsers' EventSource.

        Same events, ids and `data:` as SubscribeToTask, with a JSON-RPC `id` of null. The
        resume position is the `Last-Event-ID` header, else the `lastEventId` query param
        (EventSource cannot set headers on its first connection). Without one: the current
        Task, then live events; for a finished task the Task alone. Errors are an HTTP status
        with the JSON-RPC error as body (EventSource stops reconnecting on them); 204 when a
        finished task has nothing after the given id, which tells EventSource to stop.
        """
        upstream = self.upstream_for(request)
        if upstream is None:
            return unknown_agent(request)
        last_event_id = request.headers.get("last-event-id")
        if last_event_id is None:
            last_event_id = request.query_params.get(resume.QUERY)
        call = Call(
            id=None,
            params={},
            upstream=upstream,
            caller=self.caller(request),
            last_event_id=last_event_id,
        )
        try:
            result = await self.methods.task_events(call, str(request.path_params["task_id"]))
        except errors.A2AError as exc:
            status = errors.http_status(exc)
            if status == 204:
                return Response(status_code=204)
            return Response(jsonrpc.error(None, exc), status_code=status, media_type=JSON)
        return self.sse(result, None)

    def caller(self, request: Request) -> Caller:
        return Caller(
            principal="anonymous",
            request_id=request.headers.get("x-request-id") or uuid.uuid4().hex,
            headers=forwarding.forwarded(request.headers, self.settings.forward_headers),
        )

    def sse(
        self,
        result: EventStream,
        request_id: jsonrpc.RequestId,
        route: versions.Route | None = None,
    ) -> Response:
        """The SSE response of a stream, in the route's wire format (v1.0 without a route)."""
        wire, adapt = (route.wire, route.adapt) if route is not None else ("1.0", None)
        return sse.response(
            stream.body(self.store, result, request_id, wire, adapt),
            keepalive=self.settings.keepalive,
            send_timeout=self.settings.send_timeout,
            on_close=result.release,
        )

    async def read_body(self, request: Request) -> bytes:
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge
        chunks: list[bytes] = []
        size = 0
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
    return app
