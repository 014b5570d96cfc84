"""Helpers for the gRPC binding's tests: a gateway with `--grpc-port 0`, raw and typed calls
on `lf.a2a.v1.A2AService`, and the `google.rpc.Status` details of a failed call."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from a2a.types import a2a_pb2 as pb
from a2a.types import a2a_pb2_grpc
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2

from tests.conftest import API_KEYS
from tests.servers import Process, start_agent, start_gateway

GRPC_LINE = re.compile(r"a2a-gateway gRPC on (\S+)")
V1 = (("a2a-version", "1.0"),)
TIMEOUT = 20.0


def grpc_address(gateway: Process) -> str:
    """The `host:port` the gateway printed for its gRPC binding."""
    match = GRPC_LINE.search(gateway.output())
    assert match, gateway.output()
    return match.group(1)


def start_grpc_gateway(agents: dict[str, str], *extra: str) -> Process:
    return start_gateway(agents, "--keepalive", "1", "--grpc-port", "0", *extra)


@pytest.fixture(scope="module")
def grpc_agent() -> Iterator[Process]:
    agent = start_agent("tests.agents.scripted")
    yield agent
    agent.stop()


@pytest.fixture(scope="module")
def grpc_gateway(grpc_agent: Process) -> Iterator[Process]:
    """A gateway fronting the scripted agent, with the gRPC binding on a free port."""
    process = start_grpc_gateway({"scripted": grpc_agent.address})
    yield process
    process.stop()


def message(text: str, **fields: Any) -> pb.Message:
    return pb.Message(
        message_id=str(uuid.uuid4()), role=pb.ROLE_USER, parts=[pb.Part(text=text)], **fields
    )


def send_request(text: str, **fields: Any) -> pb.SendMessageRequest:
    return pb.SendMessageRequest(message=message(text, **fields))


@dataclass
class Failure:
    """A failed call: its status code and message, ErrorInfo and BadRequest violations."""

    code: grpc.StatusCode
    message: str
    reason: str
    domain: str
    metadata: dict[str, str]
    fields: list[str]


def failure(error: grpc.aio.AioRpcError) -> Failure:
    details = b""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            details = value
    status = status_pb2.Status.FromString(details)
    assert status.code == error.code().value[0]
    info = error_details_pb2.ErrorInfo()
    bad = error_details_pb2.BadRequest()
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            detail.Unpack(bad)
    return Failure(
        code=error.code(),
        message=status.message,
        reason=info.reason,
        domain=info.domain,
        metadata=dict(info.metadata),
        fields=[v.field for v in bad.field_violations],
    )


def stub(channel: grpc.aio.Channel) -> a2a_pb2_grpc.A2AServiceStub:
    return a2a_pb2_grpc.A2AServiceStub(channel)  # type: ignore[no-untyped-call]


def api_key_metadata(principal: str) -> tuple[tuple[str, str], ...]:
    return (*V1, ("x-api-key", API_KEYS[principal]))


def as_json(event: pb.StreamResponse) -> dict[str, Any]:
    """A streamed message as ProtoJSON (what the JSON bindings send, normalised)."""
    return json_format.MessageToDict(event)


def normalised(body: dict[str, Any]) -> dict[str, Any]:
    """A JSON binding's event through the proto, so both sides compare alike."""
    return as_json(json_format.ParseDict(body, pb.StreamResponse()))
