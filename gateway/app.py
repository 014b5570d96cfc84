"""The HTTP application: routes, request handling, SSE streams.

Routes (every agent-scoped route lives under its prefix `/agents/{name}`; the first agent is
also served at the root):

    POST {prefix}/                             A2A JSON-RPC 2.0 (with or without the slash)
    GET  {prefix}/.well-known/agent-card.json  the Agent Card
    GET  /agents                               the agents and their card URLs
    GET  /healthz                              the process is up
    GET  /readyz                               every agent answers gRPC health SERVING
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from gateway import card, errors, jsonrpc, sse
from gateway.bridge import Bridge, Caller
from gateway.methods import Call, EventStream, Methods
from gateway.settings import Settings
from gateway.store import EventsExpired, MemoryStore
from gateway.upstream import Upstream

log = logging.getLogger("a2a_gateway")

JSON = "application/json"
LINGER = 0.001  # seconds: see MemoryStore.follow(linger=...)


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
        self.store = MemoryStore(max_events_per_task=settings.max_events_per_task)
        self.bridge = Bridge(self.store, final_grace=settings.final_grace)
        self.methods = Methods(self.store, self.bridge)
        self.upstreams: dict[str, Upstream] = {}
        for spec in settings.agents:
            self.upstreams[spec.name] = Upstream(spec.name, spec.target, deadline=spec.deadline)

    def __repr__(self) -> str:
        return f"<Gateway agents={list(self.upstreams)} {self.store!r} {self.bridge!r}>"

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
        caller = Caller(
            principal="anonymous",
            request_id=request.headers.get("x-request-id") or uuid.uuid4().hex,
        )
        call = Call(
            id=rpc_request.id,
            params=rpc_request.params,
            upstream=upstream,
            caller=caller,
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
            return sse.EventStreamResponse(self.stream_body(result, call.id))
        return Response(jsonrpc.result(call.id, result), media_type=JSON)

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

    async def stream_body(
        self, stream: EventStream, request_id: jsonrpc.RequestId
    ) -> AsyncGenerator[bytes, None]:
        """The SSE body: the head events, then the log until a final event.

        The first chunk carries the `retry:` hint in front of the first event's fields. A
        keep-alive comment goes out after every `keepalive` seconds without events.
        """
        prefix = sse.request_prefix(request_id)
        chunks = [sse.retry_hint()]
        for event in stream.head:
            if event.seq == 0:
                chunks.append(sse.data_frame(prefix + event.encoded() + b"}"))
            else:
                chunks.append(sse.frame(event, prefix))
        if stream.task_id is None or any(e.final for e in stream.head):
            yield b"".join(chunks)
            return
        if stream.head:
            yield b"".join(chunks)
            chunks = []
        try:
            async for batch in self.store.follow(
                stream.task_id, stream.after, idle=self.settings.keepalive, linger=LINGER
            ):
                if not batch:
                    yield sse.KEEPALIVE
                    continue
                for index, event in enumerate(batch):
                    if event.final:
                        chunks.append(sse.frames(batch[: index + 1], prefix))
                        yield b"".join(chunks)
                        return
                chunks.append(sse.frames(batch, prefix))
                yield b"".join(chunks)
                chunks = []
        except EventsExpired as exc:
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
        return json_response(card.build(description, url=url, fallback_name=upstream.name))

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
    app.add_route("/agents", gateway.list_agents, methods=["GET"])
    app.add_route("/healthz", gateway.healthz, methods=["GET"])
    app.add_route("/readyz", gateway.readyz, methods=["GET"])
    return app
