"""The one error table: how every A2A error leaves each binding.

An `errors.A2AError` carries its JSON-RPC code (the JSON-RPC bindings send it as is) and a
reason. Here each code, and the reasons that need a status of their own, map to the gRPC
status (section 10.6) and the HTTP status (section 11.6, REST) of the spec's table (section
5.4); every binding reads its column from this one table, so they cannot drift apart.

Choices the spec leaves open, each the status a client can act on:

- a caller's own limits (TOO_MANY_STREAMS, RATE_LIMITED): 429 / RESOURCE_EXHAUSTED; the
  gateway's or a task's capacity (TOO_MANY_TASKS, TOO_MANY_SUBSCRIBERS): 503 /
  RESOURCE_EXHAUSTED; retry later either way;
- the agent or the store away, the gateway draining: 503 / UNAVAILABLE, retry;
- the agent too slow: 504 / DEADLINE_EXCEEDED;
- EVENTS_EXPIRED: 410 Gone / OUT_OF_RANGE, this Last-Event-ID will never work again;
- NOTHING_TO_REPLAY: 400 / FAILED_PRECONDITION like any unsupported operation (the browser
  events endpoint answers 204 instead, which tells an EventSource to stop reconnecting);
- UNAUTHENTICATED: 401 / UNAUTHENTICATED;
- a path no route serves, or an agent name the gateway does not front (also a gRPC `tenant`):
  404 / NOT_FOUND; a path that exists but not for the request's verb: 405 / UNIMPLEMENTED;
- UNSUPPORTED_MEDIA_TYPE (a POST not declared JSON): 415 / INVALID_ARGUMENT; HOST_NOT_ALLOWED
  (a Host this gateway does not serve): 403 / PERMISSION_DENIED.
"""

from __future__ import annotations

import grpc

from gateway.core import errors
from gateway.core.errors import A2AError

Status = grpc.StatusCode

# code -> (gRPC status, HTTP status)
BY_CODE: dict[int, tuple[Status, int]] = {
    errors.PARSE_ERROR: (Status.INVALID_ARGUMENT, 400),
    errors.INVALID_REQUEST: (Status.INVALID_ARGUMENT, 400),
    errors.METHOD_NOT_FOUND: (Status.UNIMPLEMENTED, 404),
    errors.INVALID_PARAMS: (Status.INVALID_ARGUMENT, 400),
    errors.INTERNAL_ERROR: (Status.INTERNAL, 500),
    errors.TASK_NOT_FOUND: (Status.NOT_FOUND, 404),
    errors.TASK_NOT_CANCELABLE: (Status.FAILED_PRECONDITION, 400),
    errors.PUSH_NOT_SUPPORTED: (Status.FAILED_PRECONDITION, 400),
    errors.UNSUPPORTED_OPERATION: (Status.FAILED_PRECONDITION, 400),
    errors.CONTENT_TYPE_NOT_SUPPORTED: (Status.INVALID_ARGUMENT, 400),
    errors.INVALID_AGENT_RESPONSE: (Status.INTERNAL, 500),
    errors.EXTENDED_CARD_NOT_CONFIGURED: (Status.FAILED_PRECONDITION, 400),
    errors.EXTENSION_SUPPORT_REQUIRED: (Status.FAILED_PRECONDITION, 400),
    errors.VERSION_NOT_SUPPORTED: (Status.FAILED_PRECONDITION, 400),
}

# reason -> (gRPC status, HTTP status), where the reason says more than the code
BY_REASON: dict[str, tuple[Status, int]] = {
    "UNAUTHENTICATED": (Status.UNAUTHENTICATED, 401),
    "ROUTE_NOT_FOUND": (Status.NOT_FOUND, 404),
    "AGENT_NOT_FOUND": (Status.NOT_FOUND, 404),
    "METHOD_NOT_ALLOWED": (Status.UNIMPLEMENTED, 405),
    "REQUEST_TIMEOUT": (Status.DEADLINE_EXCEEDED, 408),
    "UNSUPPORTED_MEDIA_TYPE": (Status.INVALID_ARGUMENT, 415),
    "HOST_NOT_ALLOWED": (Status.PERMISSION_DENIED, 403),
    "BODY_TOO_LARGE": (Status.RESOURCE_EXHAUSTED, 413),
    "RATE_LIMITED": (Status.RESOURCE_EXHAUSTED, 429),
    "TOO_MANY_STREAMS": (Status.RESOURCE_EXHAUSTED, 429),
    "TOO_MANY_TASKS": (Status.RESOURCE_EXHAUSTED, 503),
    "TOO_MANY_SUBSCRIBERS": (Status.RESOURCE_EXHAUSTED, 503),
    "EVENTS_EXPIRED": (Status.OUT_OF_RANGE, 410),
    "STORE_UNAVAILABLE": (Status.UNAVAILABLE, 503),
    "SHUTTING_DOWN": (Status.UNAVAILABLE, 503),
    "AGENT_UNAVAILABLE": (Status.UNAVAILABLE, 503),
    "AGENT_TIMEOUT": (Status.DEADLINE_EXCEEDED, 504),
    "CANCEL_TIMEOUT": (Status.DEADLINE_EXCEEDED, 504),
}


def _row(error: A2AError) -> tuple[Status, int]:
    return BY_REASON.get(error.reason) or BY_CODE.get(error.code, (Status.INTERNAL, 500))


def grpc_status(error: A2AError) -> grpc.StatusCode:
    return _row(error)[0]


def http_status(error: A2AError) -> int:
    return _row(error)[1]


def events_http_status(error: A2AError) -> int:
    """The browser events endpoint's status: the table's, but 204 for NOTHING_TO_REPLAY."""
    return 204 if error.reason == "NOTHING_TO_REPLAY" else http_status(error)
