"""The JSON-RPC binding over HTTP: `POST {prefix}/` (A2A v1.0 section 9, and v0.3 / early A2A
by `A2A-Version`, see versions.py) and the browser events endpoint
`GET {prefix}/tasks/{id}/events`.

Parse the envelope, negotiate the version, translate params in (the version's `Route`), call
the one method table through the dispatcher, translate the result out. Errors are JSON-RPC
error objects with HTTP 200, except where HTTP itself refused the request (413, 408, 503
while draining), and except v0.3 streaming methods, which answer every error inside an SSE
stream (`error_stream`). Streams are SSE events whose `data:` is a JSON-RPC response with the
request's id, `id:` the event's sequence number. `A2A-Extensions` in (extensions.parse) and
out (the extensions the agent activated for the turn).
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.bindings.jsonrpc import envelope as jsonrpc
from gateway.bindings.jsonrpc import versions
from gateway.core import error_table, errors, extensions, resume
from gateway.core.events import Encoder, Event
from gateway.core.methods import Call, EventStream
from gateway.http import sse
from gateway.http.pages import unknown_agent
from gateway.ops import logs, tracing

if TYPE_CHECKING:
    from gateway.http.state import Gateway

JSON = "application/json"
BINDING = "jsonrpc"


class Framing:
    """SSE events of one JSON-RPC stream: the request id spliced around each event's
    encoding in the stream's wire format (encoded once per event and format)."""

    __slots__ = ("adapt", "prefix", "request_id", "wire")

    def __init__(
        self, request_id: jsonrpc.RequestId, wire: str = "1.0", adapt: Encoder | None = None
    ) -> None:
        self.request_id = request_id
        self.prefix = b'{"jsonrpc":"2.0","id":' + jsonrpc.encode_id(request_id) + b',"result":'
        self.wire = wire
        self.adapt = adapt

    def event(self, event: Event) -> bytes:
        data = event.encoded(self.wire, self.adapt)
        if event.seq == 0:
            return sse.data_frame(self.prefix + data + b"}")
        return b"id: %d\ndata: %b%b}\n\n" % (event.seq, self.prefix, data)

    def error(self, exc: errors.A2AError) -> bytes:
        return sse.data_frame(jsonrpc.error(self.request_id, exc))


def answer(request_id: jsonrpc.RequestId, exc: errors.A2AError, status: int = 200) -> Response:
    return Response(jsonrpc.error(request_id, exc), status_code=status, media_type=JSON)


async def rpc(gateway: Gateway, request: Request) -> Response:
    received = time.monotonic()
    upstream = gateway.upstream_for(request)
    if upstream is None:
        return unknown_agent(request)
    principal, request_id = gateway.identify(request, upstream)
    if gateway.draining.is_set():
        headers = {"Retry-After": "1", "Connection": "close"}
        return Response(jsonrpc.error(None, errors.shutting_down()), 503, headers, media_type=JSON)
    try:
        body = await gateway.read_body(request)
    except errors.A2AError as exc:
        status = error_table.http_status(exc)
        response = answer(None, exc, status)
        if status == 408:
            response.headers["Connection"] = "close"
        return response
    try:
        rpc_request = jsonrpc.parse(body)
    except errors.A2AError as exc:
        gateway.metrics.request("invalid", exc.code)
        return answer(jsonrpc.request_id_of(body), exc)
    method = rpc_request.method
    logs.bind(task_id=task_id_of(rpc_request.params))
    caller = gateway.caller(request, principal, request_id)
    in_stream = versions.streams_errors(method)

    def refuse(exc: errors.A2AError) -> Response:
        if in_stream:
            return error_stream(rpc_request.id, exc)
        return answer(rpc_request.id, exc)

    try:
        version = versions.negotiate(request.headers, request.query_params)
        route = versions.route(version, method)
        if route.error is not None:
            raise route.error()
        assert route.target is not None
        call = Call(
            id=rpc_request.id,
            params=route.params(rpc_request.params),
            upstream=upstream,
            caller=caller,
            last_event_id=request.headers.get(resume.HEADER),
            task_hint=route.task_hint(rpc_request.params),
            extensions=extensions.parse(request.headers.getlist(extensions.HEADER)),
        )
        if route.target == "GetExtendedAgentCard":
            base_url, agent_url = gateway.card_urls(request, upstream)
            call = dataclasses.replace(call, base_url=base_url, agent_url=agent_url)
    except errors.A2AError as exc:
        gateway.dispatcher.finished(BINDING, method, exc.code, received)
        return refuse(exc)
    try:
        result = await gateway.dispatcher.call(
            route.target, call, binding=BINDING, label=method, version=route.wire
        )
    except errors.A2AError as exc:
        return refuse(route.refine(exc))
    if isinstance(result, EventStream):
        if route.turn_stream:
            result.until_terminal = False
        framing = Framing(rpc_request.id, route.wire, route.adapt)
        response = gateway.stream_response(result, framing, method, received)
    else:
        body = jsonrpc.result(rpc_request.id, route.result(result))
        response = Response(body, media_type=JSON)
    if call.activated:
        response.headers[extensions.HEADER] = extensions.header_value(call.activated)
    return response


def error_stream(request_id: jsonrpc.RequestId, exc: errors.A2AError) -> Response:
    """A v0.3 streaming method's refusal: HTTP 200 `text/event-stream` with one event whose
    data is the JSON-RPC error response, then the end of the stream (v0.3 3.3.1: the answer
    to a streaming method is a stream of JSON-RPC responses; what the official 0.3 servers
    send and the official 0.3 clients read)."""
    return Response(
        sse.data_frame(jsonrpc.error(request_id, exc)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store"},
    )


async def task_events(gateway: Gateway, request: Request) -> Response:
    """`GET {prefix}/tasks/{id}/events`: a subscription for browsers' EventSource.

    Same events, ids and `data:` as SubscribeToTask (v1.0 shapes), with a JSON-RPC `id` of
    null. The resume position is the `Last-Event-ID` header, else the `lastEventId` query
    param (EventSource cannot set headers on its first connection). Without one: the current
    Task, then live events; for a finished task the Task alone. Errors are an HTTP status with
    the JSON-RPC error as body (EventSource stops reconnecting on them); 204 when a finished
    task has nothing after the given id, which tells EventSource to stop.
    """
    received = time.monotonic()
    upstream = gateway.upstream_for(request)
    if upstream is None:
        return unknown_agent(request)
    principal, request_id = gateway.identify(request, upstream)
    last_event_id = request.headers.get(resume.HEADER)
    if last_event_id is None:
        last_event_id = request.query_params.get(resume.QUERY)
    call = Call(
        id=None,
        params={},
        upstream=upstream,
        caller=gateway.caller(request, principal, request_id),
        last_event_id=last_event_id,
    )
    if not gateway.streams.acquire(principal):
        gateway.metrics.limited.labels("streams").inc()
        return answer(None, errors.too_many("streams", gateway.streams.limit), 429)
    try:
        result = await gateway.methods.task_events(call, str(request.path_params["task_id"]))
    except errors.A2AError as exc:
        gateway.streams.release(principal)
        status = error_table.events_http_status(exc)
        if status == 204:
            return Response(status_code=204)
        return answer(None, exc, status)
    gateway.dispatcher.opened(result, principal)
    parent = tracing.parent_of(call.caller.trace)
    result.span = tracing.start_stream(
        parent,
        method="SubscribeToTask",
        binding=BINDING,
        task_id=result.task_id,
        wire_name="GET events",
    )
    return gateway.stream_response(result, Framing(None), "GET events", received)


def task_id_of(params: dict[str, Any]) -> str | None:
    """The task a request is about, for the log context."""
    value = params.get("id")
    if value is None and isinstance(params.get("message"), dict):
        value = params["message"].get("taskId")
    return value[:64] if isinstance(value, str) else None
