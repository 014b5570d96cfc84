"""The gRPC binding's error table (A2A v1.0 sections 5.4 and 10.6): every refusal is a gRPC
status with a `google.rpc.ErrorInfo` (domain a2a-protocol.org) in the status details, and
`google.rpc.BadRequest` naming the fields of invalid params. Also authentication from
metadata and the per-principal limits, which the HTTP bindings share."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import anyio
import grpc
import httpx
import pytest
from a2a.types import a2a_pb2 as pb
from google.protobuf.message import Message

from tests import a2a
from tests.conftest import API_KEYS, make_token
from tests.grpc_a2a import (
    TIMEOUT,
    V1,
    Failure,
    api_key_metadata,
    failure,
    grpc_address,
    grpc_agent,
    grpc_gateway,
    send_request,
    start_grpc_gateway,
    stub,
)
from tests.servers import Process

__all__ = ["grpc_agent", "grpc_gateway"]  # fixtures

pytestmark = pytest.mark.anyio

Metadata = tuple[tuple[str, str], ...]


@asynccontextmanager
async def channel(gateway: Process) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(grpc_address(gateway)) as opened:
        yield opened


async def refused_raw(gateway: Process, method: str, body: bytes, metadata: Metadata) -> Failure:
    """Call `method` with `body` as its raw request bytes; the failure it must end with."""
    async with channel(gateway) as opened:
        call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = opened.unary_unary(
            f"/lf.a2a.v1.A2AService/{method}"
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(body, metadata=metadata, timeout=TIMEOUT)
    return failure(caught.value)


async def refused(
    gateway: Process, method: str, request: object, metadata: Metadata = V1
) -> Failure:
    body = request.SerializeToString()  # type: ignore[attr-defined]
    return await refused_raw(gateway, method, body, metadata)


async def test_malformed_protobuf_is_invalid_argument_parse_error(grpc_gateway: Process) -> None:
    with anyio.fail_after(TIMEOUT):
        got = await refused_raw(grpc_gateway, "GetTask", b"\xff\xff\xff\xff", V1)
    assert got.code == grpc.StatusCode.INVALID_ARGUMENT
    assert (got.reason, got.domain) == ("PARSE_ERROR", "a2a-protocol.org")
    assert "lf.a2a.v1.GetTaskRequest" in got.message


async def test_malformed_protobuf_on_a_streaming_method(grpc_gateway: Process) -> None:
    async with channel(grpc_gateway) as opened:
        call: grpc.aio.UnaryStreamMultiCallable[bytes, bytes] = opened.unary_stream(
            "/lf.a2a.v1.A2AService/SendStreamingMessage"
        )
        with anyio.fail_after(TIMEOUT), pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in call(b"\x0a\xff", metadata=V1, timeout=TIMEOUT):
                pass
    got = failure(caught.value)
    assert (got.code, got.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "PARSE_ERROR")


async def test_missing_a2a_version_is_version_not_supported(grpc_gateway: Process) -> None:
    with anyio.fail_after(TIMEOUT):
        got = await refused(grpc_gateway, "GetTask", pb.GetTaskRequest(id="x"), ())
    assert got.code == grpc.StatusCode.FAILED_PRECONDITION
    assert got.reason == "VERSION_NOT_SUPPORTED"
    assert got.metadata["supported"] == "1.0"
    assert "a2a-version" in got.message


@pytest.mark.parametrize("version", ["0.3", "2.0", "1", "1.0-beta", ""])
async def test_unsupported_a2a_version_is_refused(grpc_gateway: Process, version: str) -> None:
    with anyio.fail_after(TIMEOUT):
        got = await refused(
            grpc_gateway, "GetTask", pb.GetTaskRequest(id="x"), (("a2a-version", version),)
        )
    assert (got.code, got.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "VERSION_NOT_SUPPORTED")
    assert got.metadata["requested"] == version


async def test_patch_versions_are_accepted(grpc_gateway: Process) -> None:
    with anyio.fail_after(TIMEOUT):
        got = await refused(
            grpc_gateway, "GetTask", pb.GetTaskRequest(id="x"), (("a2a-version", "1.0.7"),)
        )
    assert got.reason == "TASK_NOT_FOUND"  # past the version check


async def test_unknown_task_is_not_found(grpc_gateway: Process) -> None:
    with anyio.fail_after(TIMEOUT):
        got = await refused(grpc_gateway, "CancelTask", pb.CancelTaskRequest(id="nope"))
    assert (got.code, got.reason) == (grpc.StatusCode.NOT_FOUND, "TASK_NOT_FOUND")


async def test_invalid_params_name_each_field(grpc_gateway: Process) -> None:
    request = pb.SendMessageRequest(message=pb.Message(parts=[pb.Part()]))
    with anyio.fail_after(TIMEOUT):
        got = await refused(grpc_gateway, "SendMessage", request)
    assert (got.code, got.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PARAMS")
    assert set(got.fields) >= {"message.messageId", "message.role", "message.parts[0]"}


async def test_unknown_tenant_is_not_found(grpc_gateway: Process) -> None:
    request = send_request("steps 1")
    request.tenant = "no-such-agent"
    with anyio.fail_after(TIMEOUT):
        got = await refused(grpc_gateway, "SendMessage", request)
    assert (got.code, got.reason) == (grpc.StatusCode.NOT_FOUND, "AGENT_NOT_FOUND")
    assert got.fields == ["tenant"]
    assert got.metadata["agents"] == "scripted"


async def test_a_push_config_of_an_unknown_task_is_not_found(grpc_gateway: Process) -> None:
    request = pb.GetTaskPushNotificationConfigRequest(task_id="t", id="c")
    with anyio.fail_after(TIMEOUT):
        got = await refused(grpc_gateway, "GetTaskPushNotificationConfig", request)
    assert (got.code, got.reason) == (grpc.StatusCode.NOT_FOUND, "TASK_NOT_FOUND")


async def test_a_refused_webhook_url_is_invalid_argument_naming_url(
    grpc_gateway: Process,
) -> None:
    """The SSRF guard's refusal (loopback, plain http: the default guard) over gRPC."""
    task = a2a.start_task(f"{grpc_gateway.address}/agents/scripted/", "steps 1")
    request = pb.TaskPushNotificationConfig(task_id=task["id"], url="http://127.0.0.1:9/hook")
    with anyio.fail_after(TIMEOUT):
        got = await refused(grpc_gateway, "CreateTaskPushNotificationConfig", request)
    assert (got.code, got.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PARAMS")
    assert got.fields == ["url"]


async def test_push_config_methods_without_push_are_failed_precondition(
    grpc_agent: Process,
) -> None:
    gateway = start_grpc_gateway({"scripted": grpc_agent.address}, "--no-push")
    requests: list[tuple[str, Message]] = [
        ("CreateTaskPushNotificationConfig", pb.TaskPushNotificationConfig(task_id="t")),
        ("GetTaskPushNotificationConfig", pb.GetTaskPushNotificationConfigRequest(task_id="t")),
        ("ListTaskPushNotificationConfigs", pb.ListTaskPushNotificationConfigsRequest()),
        ("DeleteTaskPushNotificationConfig", pb.DeleteTaskPushNotificationConfigRequest()),
    ]
    try:
        for method, request in requests:
            with anyio.fail_after(TIMEOUT):
                got = await refused(gateway, method, request)
            assert got.code == grpc.StatusCode.FAILED_PRECONDITION, method
            assert got.reason == "PUSH_NOTIFICATION_NOT_SUPPORTED", method
    finally:
        gateway.stop()


async def test_extended_card_is_unsupported(grpc_gateway: Process) -> None:
    with anyio.fail_after(TIMEOUT):
        got = await refused(grpc_gateway, "GetExtendedAgentCard", pb.GetExtendedAgentCardRequest())
    assert (got.code, got.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "UNSUPPORTED_OPERATION")


async def test_bad_last_event_id_is_refused_before_the_stream(grpc_gateway: Process) -> None:
    task = a2a.start_task(f"{grpc_gateway.address}/agents/scripted/", "steps 1")
    async with channel(grpc_gateway) as opened:
        call = stub(opened).SubscribeToTask(
            pb.SubscribeToTaskRequest(id=task["id"]),
            metadata=(*V1, ("last-event-id", "abc")),
            timeout=TIMEOUT,
        )
        with anyio.fail_after(TIMEOUT), pytest.raises(grpc.aio.AioRpcError) as caught:
            await call.read()
    got = failure(caught.value)
    assert (got.code, got.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["Last-Event-ID"])


async def test_a_request_over_the_body_limit_is_resource_exhausted(grpc_agent: Process) -> None:
    """The HTTP bindings' body limit (`--max-body-bytes`) bounds gRPC messages too."""
    gateway = start_grpc_gateway({"scripted": grpc_agent.address}, "--max-body-bytes", "65536")
    request = send_request("x" * (65536 + 1))
    try:
        async with channel(gateway) as opened:
            with anyio.fail_after(TIMEOUT), pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub(opened).SendMessage(request, metadata=V1, timeout=TIMEOUT)
    finally:
        gateway.stop()
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_unknown_method_is_unimplemented(grpc_gateway: Process) -> None:
    async with channel(grpc_gateway) as opened:
        call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = opened.unary_unary(
            "/lf.a2a.v1.A2AService/NoSuchMethod"
        )
        with anyio.fail_after(TIMEOUT), pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(b"", metadata=V1, timeout=TIMEOUT)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_grpc_requests_are_counted_with_their_binding(grpc_gateway: Process) -> None:
    with anyio.fail_after(TIMEOUT):
        await refused(grpc_gateway, "GetTask", pb.GetTaskRequest(id="counted"))
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            page = (await http.get(f"{grpc_gateway.address}/metrics")).text
    assert 'a2a_requests_total{binding="grpc",code="-32001",method="GetTask"}' in page


# --- authentication and per-principal limits -----------------------------------------


@pytest.fixture(scope="module")
def auth_grpc_gateway(
    grpc_agent: Process, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Process]:
    """Auth on (HS256 JWTs, alice's and bob's API keys), one stream per principal."""
    from tests.conftest import AUDIENCE, ISSUER, SECRET

    secret = tmp_path_factory.mktemp("grpc-auth") / "hs256.secret"
    secret.write_bytes(SECRET + b"\n")
    args = ["--jwt-hs256-secret-file", str(secret), "--jwt-audience", AUDIENCE]
    args += ["--jwt-issuer", ISSUER, "--max-streams", "1"]
    for name, key in API_KEYS.items():
        args += ["--api-key-hash", f"{name}={hashlib.sha256(key.encode()).hexdigest()}"]
    process = start_grpc_gateway({"scripted": grpc_agent.address}, *args)
    yield process
    process.stop()


async def test_missing_credentials_are_unauthenticated(auth_grpc_gateway: Process) -> None:
    with anyio.fail_after(TIMEOUT):
        got = await refused(auth_grpc_gateway, "GetTask", pb.GetTaskRequest(id="x"))
    assert (got.code, got.reason) == (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")


async def test_a_bad_token_is_unauthenticated_even_on_a_stream(auth_grpc_gateway: Process) -> None:
    metadata = (*V1, ("authorization", "Bearer not.a.token"))
    async with channel(auth_grpc_gateway) as opened:
        call = stub(opened).SendStreamingMessage(
            send_request("steps 1"), metadata=metadata, timeout=TIMEOUT
        )
        with anyio.fail_after(TIMEOUT), pytest.raises(grpc.aio.AioRpcError) as caught:
            await call.read()
    assert failure(caught.value).code == grpc.StatusCode.UNAUTHENTICATED


async def test_tasks_belong_to_their_principal_across_bindings(auth_grpc_gateway: Process) -> None:
    url = f"{auth_grpc_gateway.address}/agents/scripted/"
    bearer = (*V1, ("authorization", f"Bearer {make_token('carol')}"))
    async with channel(auth_grpc_gateway) as opened:
        with anyio.fail_after(TIMEOUT):
            sent = await stub(opened).SendMessage(
                send_request("steps 1"), metadata=api_key_metadata("alice"), timeout=TIMEOUT
            )
            task_id = sent.task.id
            mine = await stub(opened).GetTask(
                pb.GetTaskRequest(id=task_id), metadata=api_key_metadata("alice"), timeout=TIMEOUT
            )
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub(opened).GetTask(
                    pb.GetTaskRequest(id=task_id), metadata=bearer, timeout=TIMEOUT
                )
    assert mine.id == task_id
    assert failure(caught.value).reason == "TASK_NOT_FOUND"
    # The same principal over JSON-RPC sees it; another does not.
    alice = a2a.rpc(url, "GetTask", {"id": task_id}, headers={"X-API-Key": API_KEYS["alice"]})
    bob = a2a.rpc(url, "GetTask", {"id": task_id}, headers={"X-API-Key": API_KEYS["bob"]})
    assert alice["result"]["id"] == task_id
    assert bob["error"]["code"] == -32001


async def test_stream_limit_per_principal_is_shared_with_http(auth_grpc_gateway: Process) -> None:
    url = f"{auth_grpc_gateway.address}/agents/scripted/"
    task = a2a.rpc(
        url,
        "SendMessage",
        {"message": a2a.user_message("hang"), "configuration": {"returnImmediately": True}},
        headers={"X-API-Key": API_KEYS["bob"]},
    )["result"]["task"]
    async with channel(auth_grpc_gateway) as opened:
        held = stub(opened).SubscribeToTask(
            pb.SubscribeToTaskRequest(id=task["id"]),
            metadata=api_key_metadata("bob"),
            timeout=TIMEOUT,
        )
        with anyio.fail_after(TIMEOUT):
            await held.read()  # bob's one stream is open
            second = stub(opened).SubscribeToTask(
                pb.SubscribeToTaskRequest(id=task["id"]),
                metadata=api_key_metadata("bob"),
                timeout=TIMEOUT,
            )
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await second.read()
            async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                over_http = await http.post(
                    url,
                    json=a2a.request("SubscribeToTask", {"id": task["id"]}),
                    headers={**a2a.V1, "X-API-Key": API_KEYS["bob"]},
                )
            held.cancel()  # the client goes away: its slot comes back
            reopened = await open_when_free(opened, task["id"])
            reopened.cancel()
            await stub(opened).CancelTask(
                pb.CancelTaskRequest(id=task["id"]),
                metadata=api_key_metadata("bob"),
                timeout=TIMEOUT,
            )
    got = failure(caught.value)
    assert (got.code, got.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "TOO_MANY_STREAMS")
    assert over_http.json()["error"]["data"][0]["reason"] == "TOO_MANY_STREAMS"


async def open_when_free(
    channel: grpc.aio.Channel, task_id: str
) -> grpc.aio.UnaryStreamCall[pb.SubscribeToTaskRequest, pb.StreamResponse]:
    """bob's SubscribeToTask, retried until his one stream slot is free (the gateway frees
    it when it sees the cancellation; nothing else waits)."""
    while True:
        call: grpc.aio.UnaryStreamCall[pb.SubscribeToTaskRequest, pb.StreamResponse] = stub(
            channel
        ).SubscribeToTask(
            pb.SubscribeToTaskRequest(id=task_id),
            metadata=api_key_metadata("bob"),
            timeout=TIMEOUT,
        )
        try:
            await call.read()
        except grpc.aio.AioRpcError as exc:
            if failure(exc).reason != "TOO_MANY_STREAMS":
                raise
            await anyio.sleep(0.02)  # poll; the caller's fail_after bounds it
            continue
        return call


@pytest.fixture(scope="module")
def rate_grpc_gateway(grpc_agent: Process) -> Iterator[Process]:
    """One request per principal, refilled every 1000 s: the second is always limited."""
    process = start_grpc_gateway(
        {"scripted": grpc_agent.address}, "--rate", "0.001", "--burst", "1"
    )
    yield process
    process.stop()


async def test_rate_limit_bucket_is_shared_with_http(rate_grpc_gateway: Process) -> None:
    url = f"{rate_grpc_gateway.address}/agents/scripted/"
    first = a2a.rpc(url, "GetTask", {"id": "x"})  # takes the anonymous principal's token
    assert first["error"]["code"] == -32001
    with anyio.fail_after(TIMEOUT):
        got = await refused(rate_grpc_gateway, "GetTask", pb.GetTaskRequest(id="x"))
    assert (got.code, got.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED")


@pytest.fixture(scope="module")
def dead_agent_gateway(grpc_agent: Process) -> Iterator[Process]:
    """Two agents: scripted, and `dead`, whose port nothing listens on (held bound here)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        dead = f"127.0.0.1:{held.getsockname()[1]}"
        process = start_grpc_gateway({"scripted": grpc_agent.address, "dead": dead})
        yield process
        process.stop()


async def test_an_unreachable_agent_is_unavailable(dead_agent_gateway: Process) -> None:
    request = send_request("hello")
    request.tenant = "dead"
    with anyio.fail_after(TIMEOUT):
        got = await refused(dead_agent_gateway, "SendMessage", request)
    assert (got.code, got.reason) == (grpc.StatusCode.UNAVAILABLE, "AGENT_UNAVAILABLE")
    assert got.metadata["agent"] == "dead"
