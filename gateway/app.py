"""The HTTP application: routes, request handling, SSE streams.

Routes (every agent-scoped route lives under its prefix `/agents/{name}`; the first agent is
also served at the root):

    POST {prefix}/                             A2A JSON-RPC 2.0 (with or without the slash)
    GET  {prefix}/.well-known/agent-card.json  the Agent Card
    GET  {prefix}/tasks/{id}/events            a task's events for browsers' EventSource
    GET  /agents                               the agents and their card URLs
    GET  /healthz                              the process is up
    GET  /readyz                               every agent answers gRPC health SERVING
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

from gateway import card, errors, jsonrpc, resume, sse, stream
from gateway.bridge import Bridge, Caller
from gateway.methods import Call, EventStream, Methods
from gateway.settings import Settings
from gateway.store import MemoryStore
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
        self.store = MemoryStore(
            max_events_per_task=settings.max_events_per_task,
            finished_ttl=settings.finished_task_ttl,
        )
        self.bridge = Bridge(
            self.store, final_grace=settings.final_grace, max_running=settings.max_running_tasks
        )
        self.subscribers = Subscribers(limit_per_task=settings.max_subscribers_per_task)
        self.methods = Methods(self.store, self.bridge, self.subscribers)
        self.upstreams: dict[str, Upstream] = {}
        for spec in settings.agents:
            self.upstreams[spec.name] = Upstream(spec.name, spec.target, deadline=spec.deadline)

    def __repr__(self) -> str:
        return (
            f"<Gateway agents={list(self.upstreams)} {self.store!r} {self.bridge!r} "
            f"{self.subscribers!r}>"
        )

    @property
    def default(self) -> Upstream | None:
        return next(iter(self.upstreams.values()), None)

    async def close(self) -> None:
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
        call = Call(
            id=rpc_request.id,
            params=rpc_request.params,
            upstream=upstream,
            caller=self.caller(request),
            last_event_id=request.headers.get("last-event-id"),
        )
        try:
            handler = self.methods.table.get(rpc_request.method)
            if handler is None:
                raise errors.method_not_found(rpc_request.method)
            result = await handler(call)
        except errors.A2AError as exc:
            return Response(jsonrpc.error(call.id, exc), media_type=JSON)
        except Exception:
            log.exception("internal error in %s", rpc_request.method)
            error = errors.internal_error("Internal error")
            return Response(jsonrpc.error(call.id, error), media_type=JSON)
        if isinstance(result, EventStream):
            return self.sse(result, call.id)
        return Response(jsonrpc.result(call.id, result), media_type=JSON)

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

    @staticmethod
    def caller(request: Request) -> Caller:
        return Caller(
            principal="anonymous",
            request_id=request.headers.get("x-request-id") or uuid.uuid4().hex,
        )

    def sse(self, result: EventStream, request_id: jsonrpc.RequestId) -> Response:
        return sse.response(
            stream.body(self.store, result, request_id),
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
        return json_response(
            card.build(description, url=url, fallback_name=upstream.name, extensions=[extension])
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
        app.add_route(f"{prefix}/tasks/{{task_id}}/events", gateway.task_events, methods=["GET"])
    app.add_route("/agents", gateway.list_agents, methods=["GET"])
    app.add_route("/healthz", gateway.healthz, methods=["GET"])
    app.add_route("/readyz", gateway.readyz, methods=["GET"])
    return app
