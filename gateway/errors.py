"""Every error the gateway returns, and the one place foreign errors are translated.

The tree::

    A2AError                       code     reason (google.rpc.ErrorInfo)
    ├─ parse error                 -32700   PARSE_ERROR
    ├─ invalid request             -32600   INVALID_REQUEST      (HTTP 413 body too large,
    │                                        REQUEST_TIMEOUT        HTTP 408 body too slow,
    │                                        UNAUTHENTICATED        HTTP 401 + WWW-Authenticate)
    ├─ method not found            -32601   METHOD_NOT_FOUND
    ├─ invalid params              -32602   INVALID_PARAMS       (+ google.rpc.BadRequest)
    ├─ internal error              -32603   INTERNAL / AGENT_UNAVAILABLE / AGENT_TIMEOUT ...
    │                                        RATE_LIMITED (HTTP 429 + Retry-After, RetryInfo)
    │                                        TOO_MANY_STREAMS / TOO_MANY_TASKS (per principal)
    ├─ task not found              -32001   TASK_NOT_FOUND
    ├─ task not cancelable         -32002   TASK_NOT_CANCELABLE
    ├─ push not supported          -32003   PUSH_NOTIFICATION_NOT_SUPPORTED
    ├─ unsupported operation       -32004   UNSUPPORTED_OPERATION
    ├─ content type not supported  -32005   CONTENT_TYPE_NOT_SUPPORTED
    ├─ invalid agent response      -32006   INVALID_AGENT_RESPONSE
    ├─ extended card not configured -32007  EXTENDED_AGENT_CARD_NOT_CONFIGURED
    └─ version not supported       -32009   VERSION_NOT_SUPPORTED

`error.data` follows A2A v1.0 (section 9.5): a list of `@type`-tagged objects, first a
`google.rpc.ErrorInfo` with the reason, then (for invalid params) a `google.rpc.BadRequest`
naming each offending field.

A2A v1.0 names no JSON-RPC codes for authentication or rate limits (section 3.3.2 calls
them custom); we use the standard codes above and tell them apart by `reason`. Rate and
concurrency limits are transient system errors (-32603), as the spec's examples suggest.

`from_grpc` is the single translation point for gRPC status codes returned by agents.
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


def parse_error(detail: str) -> A2AError:
    return A2AError(PARSE_ERROR, f"Invalid JSON payload: {detail}", reason="PARSE_ERROR")


def invalid_request(detail: str) -> A2AError:
    return A2AError(INVALID_REQUEST, f"Invalid request: {detail}", reason="INVALID_REQUEST")


def method_not_found(method: str) -> A2AError:
    return A2AError(
        METHOD_NOT_FOUND,
        f"Method not found: {method}",
        reason="METHOD_NOT_FOUND",
        metadata={"method": method},
    )


def invalid_params(violations: list[tuple[str, str]]) -> A2AError:
    """Invalid params; each violation is (field path, description)."""
    summary = "; ".join(f"{field}: {text}" for field, text in violations[:5])
    bad_request = {
        "@type": BAD_REQUEST,
        "fieldViolations": [{"field": f, "description": d} for f, d in violations],
    }
    return A2AError(
        INVALID_PARAMS,
        f"Invalid params: {summary}",
        reason="INVALID_PARAMS",
        metadata={"fields": ",".join(f for f, _ in violations)},
        details=[bad_request],
    )


def unauthenticated(detail: str) -> A2AError:
    return A2AError(INVALID_REQUEST, f"Unauthenticated: {detail}", reason="UNAUTHENTICATED")


def request_timeout(seconds: float) -> A2AError:
    return A2AError(
        INVALID_REQUEST,
        f"Invalid request: the body was not received within {seconds:g} seconds",
        reason="REQUEST_TIMEOUT",
    )


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


def internal_error(detail: str, *, reason: str = "INTERNAL") -> A2AError:
    return A2AError(INTERNAL_ERROR, detail, reason=reason)


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


def content_type_not_supported(media_type: str, accepted: list[str]) -> A2AError:
    return A2AError(
        CONTENT_TYPE_NOT_SUPPORTED,
        f"Media type {media_type!r} is not accepted by this agent (accepts: {', '.join(accepted)})",
        reason="CONTENT_TYPE_NOT_SUPPORTED",
        metadata={"mediaType": media_type, "accepted": ",".join(accepted)},
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


def version_not_supported(version: str, supported: list[str]) -> A2AError:
    return A2AError(
        VERSION_NOT_SUPPORTED,
        f"A2A version {version!r} is not supported (supported: {', '.join(supported)})",
        reason="VERSION_NOT_SUPPORTED",
        metadata={"requested": version, "supported": ",".join(supported)},
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


def from_grpc(error: grpc.aio.AioRpcError, agent: str) -> A2AError:
    """Translate a gRPC error from `agent` into the A2A error the client sees."""
    status = error.code()
    code, reason = _GRPC_TABLE.get(status, (INTERNAL_ERROR, "AGENT_ERROR"))
    details = error.details() or status.name
    return A2AError(
        code,
        f"Agent {agent!r} returned {status.name}: {details}",
        reason=reason,
        metadata={"agent": agent, "grpcStatus": status.name},
    )
