"""The REST binding over HTTP: parse a request into v1.0 params, call the method table
through the dispatcher, encode the answer (A2A v1.0 section 11).

In: the path names the operation (routes.py) and fills the ids; POST operations read a JSON
object body (an empty body is `{}`: clients send none to `:cancel` and `:subscribe`); GET and
DELETE read typed query parameters (query.py). An id in the body that contradicts the path
is -32602 naming it. Any `A2A-Version` but 1.0 is VersionNotSupported; a request without one
speaks 1.0 (REST in v0.3 lived under other paths, `/v1/...`, so no v0.3 client lands here).

Out: the method's result as ProtoJSON, the same bytes as the JSON-RPC `result`, with HTTP
200; an error as its HTTP status with the `google.rpc.Status` body (status.py). Streams are
SSE: `id:` the event's sequence number (as on JSON-RPC, so `Last-Event-ID` resumes across
bindings) and `data:` the StreamResponse; an error after the stream has started is one
last `event: error` whose data is the error body (what the official SDKs read).
`A2A-Extensions` in and out as on JSON-RPC (core/extensions.py).
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.bindings.jsonrpc import versions
from gateway.bindings.rest import query, status
from gateway.bindings.rest.routes import Operation
from gateway.core import error_table, errors, extensions, request_errors, resume
from gateway.core.events import Event
from gateway.core.methods import Call, EventStream
from gateway.http import sse
from gateway.ops import logs

if TYPE_CHECKING:
    from gateway.http.state import Gateway

BINDING = "rest"


class Framing:
    """SSE events of one REST stream: `id:` and the event's v1.0 encoding, nothing spliced."""

    __slots__ = ()

    def event(self, event: Event) -> bytes:
        if event.seq == 0:
            return sse.data_frame(event.encoded())
        return b"id: %d\ndata: %b\n\n" % (event.seq, event.encoded())

    def error(self, exc: errors.A2AError) -> bytes:
        return b"event: error\ndata: %b\n\n" % status.body(exc)


def answer(
    request: Request, exc: errors.A2AError, headers: dict[str, str] | None = None
) -> Response:
    code = error_table.http_status(exc)
    response = Response(
        status.body(exc), code, headers, media_type=status.media_type(request.headers)
    )
    if code == 408:
        response.headers["Connection"] = "close"
    return response


def version(request: Request) -> None:
    """VersionNotSupported for an `A2A-Version` other than 1.0 (none at all is 1.0)."""
    given = request.headers.get(versions.HEADER) or request.query_params.get(versions.HEADER)
    if given and given.strip():
        spoken = versions.negotiate(request.headers, request.query_params)
        if spoken != versions.V1_0:
            raise request_errors.version_not_supported(given.strip(), [versions.V1_0])


async def read_params(gateway: Gateway, request: Request, operation: Operation) -> dict[str, Any]:
    """The v1.0 params of `operation` from the request's body or query, and its path."""
    params: dict[str, Any]
    if operation.body:
        raw = await gateway.read_body(request)
        params = _object(raw) if raw.strip() else {}
    else:
        params = query.params(operation.method, request.query_params)
    for name, field in operation.path_fields.items():
        value = str(request.path_params[name])
        given = params.get(field)
        if given is not None and given != value:
            raise request_errors.invalid_params(
                [(field, f"does not match the path's {value[:64]!r}")]
            )
        params[field] = value
    tenant = request.path_params.get("tenant")
    if tenant is not None:
        params["tenant"] = str(tenant)
    return params


def _object(raw: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise request_errors.parse_error(str(exc)) from None
    if not isinstance(value, dict):
        raise request_errors.invalid_request("the body must be a JSON object")
    return value


async def handle(gateway: Gateway, operation: Operation, request: Request) -> Response:
    """Answer one REST request (see the module docstring)."""
    received = time.monotonic()
    upstream = gateway.upstream_for(request)
    if upstream is None:
        return answer(
            request, request_errors.agent_not_found(str(request.path_params.get("agent")))
        )
    principal, request_id = gateway.identify(request, upstream)
    if gateway.draining.is_set():
        headers = {"Retry-After": "1", "Connection": "close"}
        return answer(request, errors.shutting_down(), headers)
    try:
        version(request)
        params = await read_params(gateway, request, operation)
        asked = extensions.parse(request.headers.getlist(extensions.HEADER))
    except errors.A2AError as exc:
        gateway.dispatcher.finished(BINDING, operation.method, exc.code, received)
        return answer(request, exc)
    task_field = operation.path_fields.get("task")
    task_id = params.get(task_field) if task_field else None
    logs.bind(task_id=task_id[:64] if isinstance(task_id, str) else None)
    call = Call(
        id=None,
        params=params,
        upstream=upstream,
        caller=gateway.caller(request, principal, request_id),
        last_event_id=request.headers.get(resume.HEADER),
        extensions=asked,
    )
    if operation.method == "GetExtendedAgentCard":
        base_url, agent_url = gateway.card_urls(request, upstream)
        call = dataclasses.replace(call, base_url=base_url, agent_url=agent_url)
    try:
        result = await gateway.dispatcher.call(operation.method, call, binding=BINDING)
    except errors.A2AError as exc:
        return answer(request, exc)
    response: Response
    if isinstance(result, EventStream):
        response = gateway.stream_response(result, Framing(), operation.method, received)
    else:
        response = Response(orjson.dumps(result), media_type=status.media_type(request.headers))
    if call.activated:
        response.headers[extensions.HEADER] = extensions.header_value(call.activated)
    return response
