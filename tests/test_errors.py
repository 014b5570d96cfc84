from __future__ import annotations

import grpc
import pytest

from gateway.core import errors, request_errors


class FakeRpcError(grpc.aio.AioRpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details)


@pytest.mark.parametrize(
    ("status", "code", "reason"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, -32602, "INVALID_PARAMS"),
        (grpc.StatusCode.NOT_FOUND, -32001, "TASK_NOT_FOUND"),
        (grpc.StatusCode.UNIMPLEMENTED, -32004, "UNSUPPORTED_OPERATION"),
        (grpc.StatusCode.UNAVAILABLE, -32603, "AGENT_UNAVAILABLE"),
        (grpc.StatusCode.DEADLINE_EXCEEDED, -32603, "AGENT_TIMEOUT"),
        (grpc.StatusCode.INTERNAL, -32603, "AGENT_ERROR"),
    ],
)
def test_grpc_status_maps_through_the_one_table(
    status: grpc.StatusCode, code: int, reason: str
) -> None:
    error = errors.from_grpc(FakeRpcError(status, "why"), "doc")
    assert (error.code, error.reason) == (code, reason)
    assert "doc" in error.message
    assert "why" in error.message
    assert error.metadata["grpcStatus"] == status.name


def test_every_grpc_status_has_a_mapping() -> None:
    for status in grpc.StatusCode:
        if status is grpc.StatusCode.OK:
            continue
        assert errors.from_grpc(FakeRpcError(status, ""), "a").code < 0


def test_invalid_params_lists_each_field() -> None:
    error = request_errors.invalid_params([("a.b", "required"), ("c", "wrong type")])
    data = error.to_json()["data"]
    assert data[1]["fieldViolations"] == [
        {"field": "a.b", "description": "required"},
        {"field": "c", "description": "wrong type"},
    ]
