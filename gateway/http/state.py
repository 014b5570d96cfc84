"""The gateway's state for one process: agents, store, bridge, methods, limits, cards.

`Gateway(settings)` builds everything (`make_store`: the configured backend; tracing is set up
when configured). Lifecycle: `start()` starts the background work (needs the running loop),
`start_grpc()` the gRPC binding when `grpc_port` is set; shutdown is `start_drain()` (open
streams say goodbye, new requests are refused, running turns get their grace), then `close()`.
The route handlers of every binding (app.py wires them) read the request through it: the
agent a path names, the public base URL, the caller, the body within its limits, and the
SSE response of a stream. `is_public` names the routes served without credentials.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Scope

from gateway.agents import forwarding
from gateway.agents.upstream import Upstream
from gateway.bindings.grpc.server import GrpcServer
from gateway.bindings.jsonrpc import versions
from gateway.core import request_errors, stream
from gateway.core.bridge import Bridge, Caller
from gateway.core.dispatch import Dispatcher
from gateway.core.methods import Call, EventStream, Methods
from gateway.core.stream import Observer
from gateway.core.subscribers import Subscribers
from gateway.http import card, conditional, pages, sse, urls
from gateway.http.auth import ANONYMOUS, PRINCIPAL, Authenticator
from gateway.http.cards import Cards
from gateway.http.limits import RateLimiter, Slots
from gateway.ops import logs, tracing
from gateway.ops.metrics import Metrics
from gateway.ops.settings import Settings
from gateway.push import auto as push
from gateway.stores.cluster import ClusterStore
from gateway.stores.contract import Store
from gateway.stores.memory import MemoryStore
from gateway.stores.redis import RedisStore
from gateway.stores.replicas import Replicas

log = logging.getLogger("a2a_gateway")

PUBLIC_PATHS = re.compile(
    r"^(/agents/[^/]+)?/\.well-known/agent(-card)?\.json$|^/(healthz|readyz|agents)$|^/ui(/.*)?$"
    r"|^/\.well-known/jwks\.json$"
)


class Gateway:
    """The gateway's state for one process: agents, store, bridge, methods."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        tracing.setup(settings.tracing)
        self.store, replicas = make_store(settings)
        self.bridge = Bridge(
            self.store,
            final_grace=settings.final_grace,
            max_running=settings.max_running_tasks,
            metrics=self.metrics,
            max_tasks_per_principal=settings.per_principal.tasks,
            replicas=replicas,
        )
        self.subscribers = Subscribers(
            limit_per_task=settings.max_subscribers_per_task,
            quotas=replicas.quotas if replicas is not None else None,
        )
        self.push = push.build(settings.push, self.store, self.metrics)
        self.methods = Methods(self.store, self.bridge, self.subscribers, self.push)
        self.metrics.methods = frozenset(versions.method_names())
        self.metrics.running(lambda: self.bridge.running)
        self.authenticator = Authenticator(settings.auth) if settings.auth.enabled else None
        self.security = card.security(
            jwt=settings.auth.jwt,
            api_key_header=settings.auth.api_key_header if settings.auth.api_keys else None,
        )
        self.streams = Slots(settings.per_principal.streams)
        per = settings.per_principal
        self.limiter = RateLimiter(per.rate, per.burst) if per.rate > 0 else None
        self.grpc: GrpcServer | None = None  # set by the lifespan when grpc_port is set
        self.draining = asyncio.Event()
        self._drain: asyncio.Task[None] | None = None
        self.dispatcher = Dispatcher(self.methods, self.metrics, self.streams, self.draining)
        self.open_streams = sse.Streams()
        self.cards = conditional.Documents(max_age=settings.card_max_age)
        self.agent_cards = Cards(settings, self.security)  # ValueError: a bad signing key
        self.methods.extended_cards = self.extended_card
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
        if self.push is not None:
            self.push.start()

    async def start_grpc(self) -> str | None:
        """Serve the gRPC binding when `grpc_port` is set (once; the CLI starts it before
        uvicorn, to refuse a port in use first); its `host:port`. Raises OSError."""
        if self.settings.grpc_port is None:
            return None
        if self.grpc is None:
            server = GrpcServer(self, self.settings.host, self.settings.grpc_port)
            await server.start()
            self.grpc = server
        return self.grpc.address

    def is_public(self, scope: Scope) -> bool:
        if scope["method"] not in ("GET", "HEAD"):
            return False
        path: str = scope["path"]
        if path == "/metrics":
            return self.settings.metrics == "public"
        return PUBLIC_PATHS.match(path) is not None

    def start_drain(self) -> asyncio.Task[None]:
        """Shutdown, first part (once; `close` waits for it): open streams say goodbye now
        (`retry:`, then close), new requests are refused, running turns get
        `shutdown_grace` seconds, then are cancelled."""
        if self._drain is None:
            self._drain = asyncio.create_task(self._drain_turns())
        return self._drain

    async def _drain_turns(self) -> None:
        self.draining.set()
        self.open_streams.drain()
        if self.grpc is not None:
            self.grpc.drain()
        await self.bridge.wait(self.settings.shutdown_grace)
        await self.bridge.close()

    async def close(self) -> None:
        """Shutdown, last part (the lifespan's end): after a drain in progress has given the
        running turns their grace, stop everything."""
        if self._drain is not None:
            await self._drain
        self.draining.set()
        self.open_streams.drain()
        await self.bridge.close()
        if self.push is not None:
            await self.push.close()
        await self.store.close()
        for upstream in self.upstreams.values():
            await upstream.close()
        tracing.shutdown()

    def card_urls(self, request: Request, upstream: Upstream) -> tuple[str, str]:
        """The gateway's base URL and the agent's JSON-RPC URL as `request` reached them
        (Call.base_url, Call.agent_url: what GetExtendedAgentCard puts in its card)."""
        at_root = "agent" not in request.path_params
        return self.base_url(request), self.prefix(request, upstream, at_root=at_root) + "/"

    async def extended_card(self, call: Call) -> dict[str, Any]:
        """GetExtendedAgentCard's card, at the URLs the call came through (Call.base_url)."""
        prefix = call.agent_url.removesuffix("/")
        return await self.agent_cards.document(
            call.upstream,
            url=call.agent_url,
            base=call.base_url,
            interfaces=pages.interfaces(
                prefix,
                rest=self.settings.rest,
                grpc=pages.grpc_interface(self, call.agent_url, call.upstream.name),
            ),
            extended=True,
            grpc=self.grpc is not None,
            push=self.push is not None,
        )

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
            trace=tracing.carrier(request.headers),
        )

    def stream_response(
        self,
        result: EventStream,
        framing: sse.Framing,
        method: str,
        received: float,
    ) -> Response:
        """The SSE response of a stream in a binding's framing. The dispatcher made
        `result.release` give back the stream's slots; it runs once when the stream closes.
        With tracing on, the stream's span (`result.span`) ends with it: events sent, and why."""
        if result.task_id is not None:
            logs.bind(task_id=result.task_id)
        self.metrics.stream_opened()
        observer = Observer(self.metrics, method, received, result)  # closes it too
        batches = stream.batches(self.store, result, keepalive=self.settings.keepalive)
        return sse.response(
            batches,
            framing,
            observer=observer,
            streams=self.open_streams,
            send_timeout=self.settings.send_timeout,
        )

    async def read_body(self, request: Request) -> bytes:
        """The whole body, within `max_body_bytes` and `limits.body_timeout` seconds.

        Raises A2AError BODY_TOO_LARGE, REQUEST_TIMEOUT for a client sending slowly, or
        CLIENT_DISCONNECTED for one gone before the end of its body (logged on one info
        line; the answer reaches no one)."""
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise request_errors.body_too_large(limit)
        chunks: list[bytes] = []
        size = 0
        timeout = self.settings.per_principal.body_timeout
        try:
            async with asyncio.timeout(timeout):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise request_errors.body_too_large(limit)
                    chunks.append(chunk)
        except TimeoutError:
            raise request_errors.request_timeout(timeout) from None
        except ClientDisconnect:
            log.info("the client disconnected after %d bytes of its body", size)
            raise request_errors.client_disconnected(size) from None
        return b"".join(chunks)


def make_store(settings: Settings) -> tuple[Store, Replicas | None]:
    """The configured backend; a shared one comes with this replica's lease keeping."""
    if not settings.shared_store:
        memory = MemoryStore(
            max_events_per_task=settings.max_events_per_task,
            finished_ttl=settings.finished_task_ttl,
        )
        return memory, None
    kind = ClusterStore if settings.store_cluster else RedisStore
    shared = kind(
        settings.store,
        prefix=settings.store_prefix,
        max_events_per_task=settings.max_events_per_task,
        finished_ttl=settings.finished_task_ttl,
    )
    return shared, Replicas(shared, lease=settings.lease)
