"""A2A errors as gRPC statuses (A2A v1.0 section 10.6): the code from core/error_table.py's
gRPC column, the message, and `google.rpc.Status.details` in the `grpc-status-details-bin`
trailer (what grpcio-status's `rpc_status.to_status` builds): first a `google.rpc.ErrorInfo`
(reason, domain `a2a-protocol.org`, metadata), then the error's own details
(`google.rpc.BadRequest` naming each field for invalid params, `google.rpc.RetryInfo` for a
rate limit).
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import any_pb2, json_format
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from gateway.core import error_table, errors

DETAILS_KEY = "grpc-status-details-bin"

_DETAIL_TYPES: dict[str, type[Message]] = {
    errors.BAD_REQUEST: error_details_pb2.BadRequest,
    errors.RETRY_INFO: error_details_pb2.RetryInfo,
}


def _packed(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _detail(detail: dict[str, Any]) -> any_pb2.Any | None:
    message_type = _DETAIL_TYPES.get(str(detail.get("@type")))
    if message_type is None:
        return None
    fields = {k: v for k, v in detail.items() if k != "@type"}
    return _packed(json_format.ParseDict(fields, message_type(), ignore_unknown_fields=True))


def status_of(error: errors.A2AError) -> status_pb2.Status:
    """The `google.rpc.Status` of `error`."""
    code = error_table.grpc_status(error)
    info = error_details_pb2.ErrorInfo(
        reason=error.reason, domain=errors.DOMAIN, metadata=error.metadata
    )
    details = [_packed(info)]
    details += [d for d in map(_detail, error.details) if d is not None]
    return status_pb2.Status(code=code.value[0], message=error.message, details=details)


def trailers(error: errors.A2AError) -> tuple[grpc.StatusCode, str, tuple[tuple[str, bytes], ...]]:
    """(code, message, trailing metadata) to end a call with `error`."""
    status = status_of(error)
    return (
        error_table.grpc_status(error),
        error.message,
        ((DETAILS_KEY, status.SerializeToString()),),
    )
