"""Every error the gateway returns, and the one place foreign errors are translated.

The tree::

    A2AError                       code     reason (google.rpc.ErrorInfo)
    ├─ parse error                 -32700   PARSE_ERROR
    ├─ invalid request             -32600   INVALID_REQUEST
    │                                        BODY_TOO_LARGE       (HTTP 413)
    │                                        REQUEST_TIMEOUT      (HTTP 408 body too slow)
    │                                        UNAUTHENTICATED      (HTTP 401 + WWW-Authenticate)
    │                                        CLIENT_DISCONNECTED  (mid-body; nobody reads it)
    │                                        UNSUPPORTED_MEDIA_TYPE (HTTP 415: a POST not JSON)
    │                                        HOST_NOT_ALLOWED     (HTTP 403: DNS rebinding guard)
    ├─ method not found            -32601   METHOD_NOT_FOUND
    │                                        ROUTE_NOT_FOUND      (HTTP 404, no such path)
    │                                        AGENT_NOT_FOUND      (HTTP 404, no such agent)
    │                                        METHOD_NOT_ALLOWED   (HTTP 405 + Allow)
    ├─ invalid params              -32602   INVALID_PARAMS       (+ google.rpc.BadRequest)
    ├─ internal error              -32603   INTERNAL / AGENT_UNAVAILABLE / AGENT_TIMEOUT ...
    │                                        limits: TOO_MANY_TASKS / TOO_MANY_SUBSCRIBERS
    │                                        RATE_LIMITED (HTTP 429 + Retry-After, RetryInfo)
    │                                        TOO_MANY_STREAMS / TOO_MANY_TASKS (per principal)
    │                                        resume: EVENTS_EXPIRED
    │                                        store (Redis) away: STORE_UNAVAILABLE
    │                                        task failed: REPLICA_LOST (in status metadata)
    ├─ task not found              -32001   TASK_NOT_FOUND
    ├─ task not cancelable         -32002   TASK_NOT_CANCELABLE
    ├─ push not supported          -32003   PUSH_NOTIFICATION_NOT_SUPPORTED
    ├─ unsupported operation       -32004   UNSUPPORTED_OPERATION / NOTHING_TO_REPLAY
    ├─ content type not supported  -32005   CONTENT_TYPE_NOT_SUPPORTED
    ├─ invalid agent response      -32006   INVALID_AGENT_RESPONSE
    ├─ extended card not configured -32007  EXTENDED_AGENT_CARD_NOT_CONFIGURED
    ├─ extension support required  -32008   EXTENSION_SUPPORT_REQUIRED
    └─ version not supported       -32009   VERSION_NOT_SUPPORTED

`error.data` follows A2A v1.0 (section 9.5): a list of `@type`-tagged objects, first a
`google.rpc.ErrorInfo` with the reason, then (for invalid params) a `google.rpc.BadRequest`
naming each offending field.

The errors of the client's request itself (malformed, misrouted, refused at the edge: parse
error, invalid request, method not found, invalid params, version not supported) are built in
request_errors.py; every other error is built here.

`from_grpc` is the single translation point for gRPC status codes returned by agents; the
way out, an error's HTTP status (REST, the browser events endpoint) and gRPC status (the gRPC
binding), is the one table in error_table.py.

Limits hit and expired events are -32603 with a reason rather than a code of our own: A2A
reserves -32001..-32099 for its own errors, so a private code there could collide with a
future version. Clients act on `error.data[0].reason`. A2A v1.0 names no JSON-RPC codes for
authentication or rate limits either (section 3.3.2 calls them custom): unauthenticated is
-32600 (with HTTP 401), rate and concurrency limits are transient system errors (-32603), as
the spec's examples suggest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import grpc

DOMAIN = "a2a-protocol.org"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
TASK_NOT_FOUND = -32001
TASK_NOT_CANCELABLE = -32002
PUSH_NOT_SUPPORTED = -32003
UNSUPPORTED_OPERATION = -32004
CONTENT_TYPE_NOT_SUPPORTED = -32005
INVALID_AGENT_RESPONSE = -32006
EXTENDED_CARD_NOT_CONFIGURED = -32007
EXTENSION_SUPPORT_REQUIRED = -32008
VERSION_NOT_SUPPORTED = -32009


class A2AError(Exception):
    """An error answered to the client as a JSON-RPC error object."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str,
        metadata: Mapping[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.metadata = dict(metadata or {})
        self.details = details or []

    def __repr__(self) -> str:
        return f"<A2AError code={self.code} reason={self.reason} message={self.message!r}>"

    def to_json(self) -> dict[str, Any]:
        info = {
            "@type": ERROR_INFO,
            "reason": self.reason,
            "domain": DOMAIN,
            "metadata": self.metadata,
        }
        return {"code": self.code, "message": self.message, "data": [info, *self.details]}


def rate_limited(retry_after: float) -> A2AError:
    seconds = f"{retry_after:.3f}".rstrip("0").rstrip(".")
    return A2AError(
        INTERNAL_ERROR,
        f"Rate limit exceeded; retry in {seconds} s",
        reason="RATE_LIMITED",
        metadata={"retryAfterSeconds": seconds},
        details=[{"@type": RETRY_INFO, "retryDelay": f"{seconds}s"}],
    )


def too_many(what: str, limit: int) -> A2AError:
    """A per-principal concurrency limit: `what` is "streams" or "tasks"."""
    return A2AError(
        INTERNAL_ERROR,
        f"Too many concurrent {what} for this principal (limit {limit}); "
        f"retry when one of yours ends",
        reason=f"TOO_MANY_{what.upper()}",
        metadata={"limit": str(limit)},
    )


def shutting_down() -> A2AError:
    return A2AError(INTERNAL_ERROR, "The gateway is shutting down", reason="SHUTTING_DOWN")


def internal_error(detail: str, *, reason: str = "INTERNAL") -> A2AError:
    return A2AError(INTERNAL_ERROR, detail, reason=reason)


def too_many_tasks(limit: int) -> A2AError:
    return A2AError(
        INTERNAL_ERROR,
        f"The gateway is running its maximum of {limit} tasks; retry later",
        reason="TOO_MANY_TASKS",
        metadata={"limit": str(limit)},
    )


def too_many_subscribers(task_id: str, limit: int) -> A2AError:
    return A2AError(
        INTERNAL_ERROR,
        f"Task {task_id} already has its maximum of {limit} subscribers; retry later",
        reason="TOO_MANY_SUBSCRIBERS",
        metadata={"taskId": task_id, "limit": str(limit)},
    )


def events_expired(task_id: str, oldest: int, last_event_id: int | None = None) -> A2AError:
    """The events after a client's position are no longer all retained (resume impossible)."""
    behind = "This subscriber fell behind" if last_event_id is None else "Cannot resume"
    metadata = {"taskId": task_id, "oldestEventId": str(oldest)}
    if last_event_id is not None:
        metadata["lastEventId"] = str(last_event_id)
    return A2AError(
        INTERNAL_ERROR,
        f"{behind}: events of task {task_id} before {oldest} are no longer retained. "
        "Resubscribe without Last-Event-ID to get the current task, then follow it.",
        reason="EVENTS_EXPIRED",
        metadata=metadata,
    )


def nothing_to_replay(task_id: str, state: str, last: int) -> A2AError:
    return A2AError(
        UNSUPPORTED_OPERATION,
        f"Task {task_id} is {state} and event {last} was its last: there is nothing to replay",
        reason="NOTHING_TO_REPLAY",
        metadata={"taskId": task_id, "state": state, "lastEventId": str(last)},
    )


def store_unavailable(detail: str) -> A2AError:
    """The task store (Redis) cannot be reached or did not answer in time."""
    return A2AError(
        INTERNAL_ERROR,
        f"The task store is unavailable ({detail}); retry later",
        reason="STORE_UNAVAILABLE",
    )


def task_not_found(task_id: str) -> A2AError:
    # Deliberately says nothing more: a task owned by someone else looks the same.
    return A2AError(TASK_NOT_FOUND, f"Task not found: {task_id}", reason="TASK_NOT_FOUND")


def task_not_cancelable(task_id: str, state: str) -> A2AError:
    return A2AError(
        TASK_NOT_CANCELABLE,
        f"Task {task_id} cannot be canceled: it is already {state}",
        reason="TASK_NOT_CANCELABLE",
        metadata={"taskId": task_id, "state": state},
    )


def push_not_supported() -> A2AError:
    return A2AError(
        PUSH_NOT_SUPPORTED,
        "Push notifications are not supported by this agent",
        reason="PUSH_NOTIFICATION_NOT_SUPPORTED",
    )


def unsupported_operation(detail: str) -> A2AError:
    return A2AError(UNSUPPORTED_OPERATION, detail, reason="UNSUPPORTED_OPERATION")


def content_type_not_supported(
    media_type: str, accepted: list[str], *, field: str = "message.parts"
) -> A2AError:
    return A2AError(
        CONTENT_TYPE_NOT_SUPPORTED,
        f"{field}: media type {media_type!r} is not accepted by this agent "
        f"(accepts: {', '.join(accepted)})",
        reason="CONTENT_TYPE_NOT_SUPPORTED",
        metadata={"mediaType": media_type, "accepted": ",".join(accepted), "field": field},
    )


def invalid_agent_response(detail: str) -> A2AError:
    return A2AError(
        INVALID_AGENT_RESPONSE,
        f"Invalid agent response: {detail}",
        reason="INVALID_AGENT_RESPONSE",
    )


def extended_card_not_configured() -> A2AError:
    return A2AError(
        EXTENDED_CARD_NOT_CONFIGURED,
        "This agent has no authenticated extended agent card",
        reason="EXTENDED_AGENT_CARD_NOT_CONFIGURED",
    )


def extension_support_required(uri: str) -> A2AError:
    return A2AError(
        EXTENSION_SUPPORT_REQUIRED,
        f"This agent requires the extension {uri!r}: list it in the A2A-Extensions header",
        reason="EXTENSION_SUPPORT_REQUIRED",
        metadata={"extension": uri},
    )


# gRPC status from an agent -> (JSON-RPC code, reason). One table, one translation point.
_GRPC_TABLE: dict[grpc.StatusCode, tuple[int, str]] = {
    grpc.StatusCode.INVALID_ARGUMENT: (INVALID_PARAMS, "INVALID_PARAMS"),
    grpc.StatusCode.OUT_OF_RANGE: (INVALID_PARAMS, "INVALID_PARAMS"),
    grpc.StatusCode.NOT_FOUND: (TASK_NOT_FOUND, "TASK_NOT_FOUND"),
    grpc.StatusCode.UNIMPLEMENTED: (UNSUPPORTED_OPERATION, "UNSUPPORTED_OPERATION"),
    # The agent refusing in its current state is an unsupported operation to A2A.
    grpc.StatusCode.FAILED_PRECONDITION: (UNSUPPORTED_OPERATION, "UNSUPPORTED_OPERATION"),
    # Transient upstream trouble: internal error, with a reason a client can act on.
    grpc.StatusCode.UNAVAILABLE: (INTERNAL_ERROR, "AGENT_UNAVAILABLE"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (INTERNAL_ERROR, "AGENT_TIMEOUT"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (INTERNAL_ERROR, "AGENT_RESOURCE_EXHAUSTED"),
    # The gateway's own credentials were refused by the agent: not the caller's fault.
    grpc.StatusCode.UNAUTHENTICATED: (INTERNAL_ERROR, "AGENT_UNAUTHENTICATED"),
    grpc.StatusCode.PERMISSION_DENIED: (INTERNAL_ERROR, "AGENT_PERMISSION_DENIED"),
    grpc.StatusCode.CANCELLED: (INTERNAL_ERROR, "AGENT_CANCELLED"),
    grpc.StatusCode.ABORTED: (INTERNAL_ERROR, "AGENT_ABORTED"),
    grpc.StatusCode.ALREADY_EXISTS: (INTERNAL_ERROR, "AGENT_ERROR"),
    grpc.StatusCode.DATA_LOSS: (INTERNAL_ERROR, "AGENT_ERROR"),
    grpc.StatusCode.INTERNAL: (INTERNAL_ERROR, "AGENT_ERROR"),
    grpc.StatusCode.UNKNOWN: (INTERNAL_ERROR, "AGENT_ERROR"),
}


def from_grpc(error: grpc.aio.AioRpcError, agent: str, *, hint: str = "") -> A2AError:
    """Translate a gRPC error from `agent` into the A2A error the client sees.

    `hint` (from the agent's configuration) is appended to the message."""
    status = error.code()
    code, reason = _GRPC_TABLE.get(status, (INTERNAL_ERROR, "AGENT_ERROR"))
    details = error.details() or status.name
    return A2AError(
        code,
        f"Agent {agent!r} returned {status.name}: {details}{hint}",
        reason=reason,
        metadata={"agent": agent, "grpcStatus": status.name},
    )


def agent_unavailable(agent: str, detail: str) -> A2AError:
    """The agent cannot be reached: the same code and reason as its gRPC UNAVAILABLE."""
    return A2AError(
        INTERNAL_ERROR,
        f"Agent {agent!r} is unavailable: {detail}",
        reason="AGENT_UNAVAILABLE",
        metadata={"agent": agent, "grpcStatus": "UNAVAILABLE"},
    )
