"""`lf.a2a.v1.A2AService` over the one method table: parse, call the dispatcher, encode.

Each RPC, in order (the HTTP bindings' order, so limits and errors agree):

1. Authentication from metadata (`authorization: Bearer <jwt>`, or the API-key header's
   name in lower case, e.g. `x-api-key`), with http/auth.py's Authenticator; failures are
   UNAUTHENTICATED. Then the principal's request rate (RESOURCE_EXHAUSTED RATE_LIMITED).
2. `a2a-version` metadata (section 10.2): `1.0` or `1.0.x`. This service is the v1.0
   proto, so a missing value (which means 0.3, section 3.6) or any other version is
   FAILED_PRECONDITION VERSION_NOT_SUPPORTED, `metadata.supported = "1.0"`.
3. The request bytes are parsed here (convert.py): not a valid message is INVALID_ARGUMENT
   PARSE_ERROR. The request's `tenant` names the agent (the card's GRPC interface carries
   `tenant: NAME`, and the SDK clients copy it into every request); empty means the default
   agent. An unknown tenant is NOT_FOUND AGENT_NOT_FOUND.
4. `Dispatcher.call(method, Call, binding="grpc")`: limits, metrics, logs like any binding.
   Errors leave through status.py (code, message, `google.rpc.Status` details).

The Call also carries what the HTTP bindings fill from headers: the `a2a-extensions` asked
for (core/extensions.py; the activated ones go back as initial metadata before the answer or
the first event), the W3C trace context of the metadata (`Caller.trace`; a stream's span ends
in `send` with what it sent and why), and the card URLs of GetExtendedAgentCard (`card_urls`).

Streams (SendStreamingMessage, SubscribeToTask) are server-streaming: one `StreamResponse`
per event of core/stream.py, each carrying its event id (convert.py). Resume: send
`SubscribeToTask` with metadata `last-event-id: N` (the resume extension; same rules and
errors as the `Last-Event-ID` header). An error after the first message ends the stream with
that status (EVENTS_EXPIRED: OUT_OF_RANGE; STORE_UNAVAILABLE: UNAVAILABLE). A send blocked
for `send_timeout` seconds (a client that stopped reading) ends the call. At shutdown every
open stream ends at once with UNAVAILABLE SHUTTING_DOWN: the client resumes elsewhere by id.
Disconnecting never cancels a task.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
from a2a.types import a2a_pb2 as pb
from google.protobuf import empty_pb2
from google.protobuf.message import Message
from starlette.datastructures import Headers

from gateway.agents import forwarding
from gateway.agents.upstream import Upstream
from gateway.bindings.grpc import convert, status
from gateway.core import errors, extensions, request_errors, resume, stream
from gateway.core.bridge import Caller
from gateway.core.methods import Call, EventStream
from gateway.http.auth import ANONYMOUS, Unauthorized
from gateway.ops import logs, tracing

if TYPE_CHECKING:
    from gateway.http.state import Gateway

log = logging.getLogger("a2a_gateway")

SERVICE = "lf.a2a.v1.A2AService"
BINDING = "grpc"
VERSION_KEY = "a2a-version"
EXTENSIONS_KEY = extensions.METADATA
LAST_EVENT_ID_KEY = resume.GRPC_METADATA_KEY
SUPPORTED_VERSION = "1.0"
WILDCARDS = ("", "0.0.0.0", "::")

# method -> (request type, response type); None: a server-streaming method
UNARY: dict[str, tuple[type[Message], type[Message]]] = {
    "SendMessage": (pb.SendMessageRequest, pb.SendMessageResponse),
    "GetTask": (pb.GetTaskRequest, pb.Task),
    "ListTasks": (pb.ListTasksRequest, pb.ListTasksResponse),
    "CancelTask": (pb.CancelTaskRequest, pb.Task),
    "CreateTaskPushNotificationConfig": (
        pb.TaskPushNotificationConfig,
        pb.TaskPushNotificationConfig,
    ),
    "GetTaskPushNotificationConfig": (
        pb.GetTaskPushNotificationConfigRequest,
        pb.TaskPushNotificationConfig,
    ),
    "ListTaskPushNotificationConfigs": (
        pb.ListTaskPushNotificationConfigsRequest,
        pb.ListTaskPushNotificationConfigsResponse,
    ),
    "DeleteTaskPushNotificationConfig": (
        pb.DeleteTaskPushNotificationConfigRequest,
        empty_pb2.Empty,
    ),
    "GetExtendedAgentCard": (pb.GetExtendedAgentCardRequest, pb.AgentCard),
}
STREAMING: dict[str, type[Message]] = {
    "SendStreamingMessage": pb.SendMessageRequest,
    "SubscribeToTask": pb.SubscribeToTaskRequest,
}

Context = grpc.aio.ServicerContext[bytes, bytes]


class Aborted(Exception):
    """The call has been ended with a status (grpc's AbortError is raised by abort())."""


def metadata_of(context: Context) -> list[tuple[str, str]]:
    """The call's text metadata (keys are lower case in gRPC)."""
    out: list[tuple[str, str]] = []
    for key, value in context.invocation_metadata() or ():
        if isinstance(value, str):
            out.append((key.lower(), value))
    return out


def _first(metadata: list[tuple[str, str]], key: str) -> str | None:
    for name, value in metadata:
        if name == key:
            return value
    return None


def check_version(metadata: list[tuple[str, str]]) -> None:
    """VERSION_NOT_SUPPORTED unless `a2a-version` is 1.0 or 1.0.x (see the module docstring)."""
    value = (_first(metadata, VERSION_KEY) or "").strip()
    parts = value.split(".")
    numeric = len(parts) in (2, 3) and all(p.isdigit() for p in parts)
    if numeric and ".".join(parts[:2]) == SUPPORTED_VERSION:
        return
    error = request_errors.version_not_supported(value, [SUPPORTED_VERSION])
    if not value:
        error.message = (
            "Missing a2a-version metadata: a request without one speaks A2A 0.3 (section "
            "3.6), and this gRPC service (lf.a2a.v1.A2AService) speaks 1.0; send "
            "a2a-version: 1.0"
        )
    raise error


class Service:
    """The servicer: one handler per A2A method, over the gateway's dispatcher."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.open: set[asyncio.Task[Any]] = set()
        self.draining = False

    def __repr__(self) -> str:
        return f"<grpc.Service open_streams={len(self.open)} draining={self.draining}>"

    def handler(self) -> grpc.GenericRpcHandler:
        """The generic handler serving every method of SERVICE, on raw bytes (convert.py
        parses and encodes, so a malformed request gets our error, not grpcio's)."""
        handlers: dict[str, grpc.RpcMethodHandler[bytes, bytes]] = {}
        for name in UNARY:
            handlers[name] = grpc.unary_unary_rpc_method_handler(self._unary(name))
        for name in STREAMING:
            handlers[name] = grpc.unary_stream_rpc_method_handler(self._streaming(name))
        return grpc.method_handlers_generic_handler(SERVICE, handlers)

    def drain(self) -> None:
        """End every open stream now with UNAVAILABLE SHUTTING_DOWN (see the docstring)."""
        self.draining = True
        for task in list(self.open):
            task.cancel()

    # --- the RPC handlers ------------------------------------------------------------

    def _unary(self, method: str) -> Callable[[bytes, Context], Awaitable[bytes]]:
        request_type, response_type = UNARY[method]

        async def handle(request: bytes, context: Context) -> bytes:
            received = time.monotonic()
            try:
                call = await self.call_of(method, request, request_type, context, received)
                result = await self.gateway.dispatcher.call(
                    method, call, binding=BINDING, label=method, version=SUPPORTED_VERSION
                )
                if isinstance(result, EventStream):  # no unary method streams
                    if result.release is not None:
                        result.release()
                    raise errors.internal_error(f"{method} answered a stream")
                answer = convert.encode(result, response_type)
                await self.announce(call, context)
                return answer
            except errors.A2AError as exc:
                await self.abort(context, exc)
            except Exception:
                log.exception("internal error encoding the answer of %s", method)
                await self.abort(context, errors.internal_error("Internal error"))
            raise AssertionError("unreachable")  # abort() raises

        return handle

    def _streaming(self, method: str) -> Callable[[bytes, Context], Awaitable[None]]:
        request_type = STREAMING[method]

        async def handle(request: bytes, context: Context) -> None:
            received = time.monotonic()
            try:
                call = await self.call_of(method, request, request_type, context, received)
                result = await self.gateway.dispatcher.call(
                    method, call, binding=BINDING, label=method, version=SUPPORTED_VERSION
                )
            except errors.A2AError as exc:
                await self.abort(context, exc)
                return
            assert isinstance(result, EventStream)
            await self.send(result, context, method, received, call)

        return handle

    async def call_of(
        self,
        method: str,
        request: bytes,
        request_type: type[Message],
        context: Context,
        received: float,
    ) -> Call:
        """Authenticate, rate-limit, check the version, parse and route: the `Call`."""
        gateway = self.gateway
        metadata = metadata_of(context)
        raw = [(k.encode("latin-1"), v.encode("latin-1", "replace")) for k, v in metadata]
        principal = ANONYMOUS
        if gateway.authenticator is not None:
            try:
                principal = gateway.authenticator.authenticate(raw)
            except Unauthorized as exc:
                log.info("authentication failed: %s", exc.description)
                gateway.metrics.auth_failed()
                raise request_errors.unauthenticated(exc.description) from None
        limiter = gateway.limiter
        if limiter is not None:
            wait = limiter.take(principal)
            if wait:
                gateway.metrics.rate_limited()
                raise errors.rate_limited(wait)
        request_id = _first(metadata, "x-request-id") or uuid.uuid4().hex
        logs.bind(request_id=request_id[:128], principal=principal, agent=None, task_id=None)
        try:
            check_version(metadata)
            asked = extensions.from_metadata(metadata)
            params = convert.parse(request, request_type, method)
            upstream = self.route(str(params.pop("tenant", "")))
        except errors.A2AError as exc:
            gateway.dispatcher.finished(BINDING, method, exc.code, received)
            raise
        logs.bind(agent=upstream.name, task_id=_task_id(params))
        headers = Headers(raw=raw)
        caller = Caller(
            principal=principal,
            request_id=request_id,
            headers=forwarding.forwarded(headers, gateway.settings.forward_headers),
            trace=tracing.carrier(metadata),
        )
        base_url, agent_url = self.card_urls(upstream)
        return Call(
            id=None,
            params=params,
            upstream=upstream,
            caller=caller,
            last_event_id=_first(metadata, LAST_EVENT_ID_KEY),
            extensions=asked,
            base_url=base_url,
            agent_url=agent_url,
        )

    def card_urls(self, upstream: Upstream) -> tuple[str, str]:
        """The gateway's base URL and the agent's JSON-RPC URL for a gRPC call (what
        GetExtendedAgentCard puts in its card): `public_url` when set, else the HTTP
        listener's host and port (a wildcard host as 127.0.0.1); the agent's URL is always
        its `/agents/NAME/` prefix, since a gRPC call names its agent by tenant, not path."""
        settings = self.gateway.settings
        if settings.public_url:
            base = settings.public_url.rstrip("/")
        else:
            host = settings.host if settings.host not in WILDCARDS else "127.0.0.1"
            if ":" in host:
                host = f"[{host}]"
            base = f"http://{host}:{settings.port}"
        return base, f"{base}/agents/{upstream.name}/"

    @staticmethod
    async def announce(call: Call, context: Context) -> None:
        """The extensions the agent activated, as `a2a-extensions` initial metadata (the
        response headers of the HTTP bindings); nothing when none was."""
        if call.activated:
            value = extensions.header_value(call.activated)
            await context.send_initial_metadata(((EXTENSIONS_KEY, value),))

    def route(self, tenant: str) -> Upstream:
        """The agent named by `tenant` (empty: the default agent)."""
        gateway = self.gateway
        upstream = gateway.upstreams.get(tenant) if tenant else gateway.default
        if upstream is None:
            raise request_errors.unknown_tenant(tenant, list(gateway.upstreams))
        return upstream

    async def send(
        self, result: EventStream, context: Context, method: str, received: float, call: Call
    ) -> None:
        """Write the stream model's events until it ends (the activated extensions first, as
        initial metadata); release the stream's slots; end the stream's span (events sent,
        and why: completed, error, evicted, stalled, drain or client_gone)."""
        gateway = self.gateway
        if result.task_id is not None:
            logs.bind(task_id=result.task_id)
        gateway.metrics.stream_opened()
        opened = time.monotonic()
        task = asyncio.current_task()
        assert task is not None
        self.open.add(task)
        observer = stream.Observer(gateway.metrics, method, received)
        batches = stream.batches(gateway.store, result)
        timeout = gateway.settings.send_timeout
        why = "completed"
        try:
            if self.draining:
                raise errors.shutting_down()
            await self.announce(call, context)
            async for batch in batches:
                for event in batch:
                    # Counted when handed to gRPC, one by one: the client may have read it
                    # and left before this write returns (its cancellation arrives here).
                    observer.sent(1)
                    async with asyncio.timeout(timeout):
                        await context.write(convert.event(event))
        except errors.A2AError as exc:
            if exc.reason == "SHUTTING_DOWN":
                why = "drain"
            else:
                observer.failed(exc)
            await self.abort(context, exc)
        except TimeoutError:
            why = "stalled"
            log.info("a gRPC stream's send blocked for %gs; ending it", timeout)
            await self.abort(context, errors.internal_error("send timed out"))
        except asyncio.CancelledError:
            why = "drain" if self.draining else "client_gone"
            if self.draining and task.uncancel() == 0:
                await self.abort(context, errors.shutting_down())
            raise
        finally:
            if result.span is not None:
                why = observer.ended or why
                tracing.end_stream(
                    result.span, events=observer.events, why=why, error=observer.error
                )
            self.open.discard(task)
            aclose = getattr(batches, "aclose", None)  # an async generator's
            if aclose is not None:
                await aclose()
            if result.release is not None:
                result.release()
            gateway.metrics.stream_closed(time.monotonic() - opened)

    @staticmethod
    async def abort(context: Context, error: errors.A2AError) -> None:
        """End the call with `error` (raises grpc's AbortError, which grpcio handles)."""
        code, message, trailers = status.trailers(error)
        await context.abort(code, message, trailing_metadata=trailers)


def _task_id(params: dict[str, Any]) -> str | None:
    """The task a request is about, for the log context."""
    value = params.get("id")
    if value is None and isinstance(params.get("message"), dict):
        value = params["message"].get("taskId")
    return value[:64] if isinstance(value, str) else None
