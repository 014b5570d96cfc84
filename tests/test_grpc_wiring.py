"""The gRPC binding wired into extensions, the extended card and tracing: `a2a-extensions`
metadata in (the agent sees the URIs) and out (initial metadata naming the activated ones), a
missing required extension FAILED_PRECONDITION, GetExtendedAgentCard with the gateway's URLs
and UNAUTHENTICATED without credentials, and the caller's W3C trace context from metadata
through the request and stream spans. Real agent and gateway processes, a real OTLP receiver."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from a2a.types import a2a_pb2 as pb
from google.protobuf import json_format

from tests.conftest import API_KEYS
from tests.grpc_a2a import (
    TIMEOUT,
    api_key_metadata,
    failure,
    grpc_address,
    send_request,
    stub,
)
from tests.otlp_receiver import HttpReceiver, ReceivedSpan
from tests.servers import Process, start_agent, start_gateway, write_config
from tests.tracing_helpers import CLIENT_SPAN, RUN, TRACE_ID, TRACEPARENT, otel_env

pytestmark = pytest.mark.anyio

REQUIRED = "https://example.test/extensions/required/v1"
OPTIONAL = "https://example.test/extensions/optional/v1"
DECLARED = [
    {"uri": REQUIRED, "description": "Must be used", "required": True},
    {"uri": OPTIONAL, "description": "May be used"},
]
EXTRA_SKILL = {"id": "audit", "name": "Audit", "description": "Members only", "tags": ["x"]}
ALICE = api_key_metadata("alice")


@pytest.fixture(scope="module")
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as started:
        yield started


@pytest.fixture(scope="module")
def wired(receiver: HttpReceiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    """A traced gateway with API-key auth and gRPC, fronting a scripted agent that declares
    DECLARED and has an extended card."""
    env = otel_env(receiver)
    agent = start_agent("tests.agents.scripted", env={"SCRIPTED_EXTENSIONS": json.dumps(DECLARED)})
    digest = hashlib.sha256(API_KEYS["alice"].encode()).hexdigest()
    config = {
        "agents": [
            {
                "name": "scripted",
                "target": agent.address,
                "extended_card": {"description": "For members", "skills": [EXTRA_SKILL]},
            }
        ],
        "auth": {"api_keys": [{"principal": "alice", "sha256": digest}]},
    }
    folder: Path = tmp_path_factory.mktemp("grpcwire")
    try:
        gateway = start_gateway(
            {},
            "--grpc-port",
            "0",
            env=env,
            config=write_config(folder / "gateway.yaml", config),
        )
    except BaseException:
        agent.stop()
        raise
    yield gateway
    gateway.stop()
    agent.stop()


async def test_requested_extensions_reach_the_agent_and_the_activated_ones_come_back(
    wired: Process,
) -> None:
    metadata = (*ALICE, ("a2a-extensions", f"{REQUIRED}, https://example.test/unknown"))
    async with grpc.aio.insecure_channel(grpc_address(wired)) as opened:
        call = stub(opened).SendMessage(
            send_request("extensions"), metadata=metadata, timeout=TIMEOUT
        )
        answer = await call
        initial = dict(await call.initial_metadata())
    status = answer.task.status
    assert status.state == pb.TASK_STATE_COMPLETED
    assert json.loads(status.message.parts[0].text) == [REQUIRED]  # undeclared ones dropped
    assert initial["a2a-extensions"] == REQUIRED


async def test_a_stream_names_the_activated_extensions_in_its_initial_metadata(
    wired: Process,
) -> None:
    metadata = (*ALICE, ("a2a-extensions", OPTIONAL), ("a2a-extensions", REQUIRED))
    async with grpc.aio.insecure_channel(grpc_address(wired)) as opened:
        call = stub(opened).SendStreamingMessage(
            send_request("extensions"), metadata=metadata, timeout=TIMEOUT
        )
        events = [event async for event in call]
        initial = dict(await call.initial_metadata())
    assert events[-1].status_update.status.state == pb.TASK_STATE_COMPLETED
    assert initial["a2a-extensions"] == f"{OPTIONAL},{REQUIRED}"


async def test_a_missing_required_extension_is_failed_precondition(wired: Process) -> None:
    metadata = (*ALICE, ("a2a-extensions", OPTIONAL))
    async with grpc.aio.insecure_channel(grpc_address(wired)) as opened:
        with pytest.raises(grpc.aio.AioRpcError) as unary:
            await stub(opened).SendMessage(
                send_request("extensions"), metadata=metadata, timeout=TIMEOUT
            )
        streamed = stub(opened).SendStreamingMessage(
            send_request("extensions"), metadata=metadata, timeout=TIMEOUT
        )
        with pytest.raises(grpc.aio.AioRpcError) as streaming:
            _ = [event async for event in streamed]
    for caught in (unary, streaming):
        got = failure(caught.value)
        assert got.code == grpc.StatusCode.FAILED_PRECONDITION
        assert got.reason == "EXTENSION_SUPPORT_REQUIRED"
        assert got.metadata["extension"] == REQUIRED


async def test_a_malformed_extensions_list_is_invalid_argument(wired: Process) -> None:
    metadata = (*ALICE, ("a2a-extensions", f"{OPTIONAL},,{REQUIRED}"))
    async with grpc.aio.insecure_channel(grpc_address(wired)) as opened:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub(opened).SendMessage(send_request("x"), metadata=metadata, timeout=TIMEOUT)
    got = failure(caught.value)
    assert got.code == grpc.StatusCode.INVALID_ARGUMENT
    assert got.fields == ["A2A-Extensions"]


async def test_the_extended_card_over_grpc_has_the_gateways_urls(wired: Process) -> None:
    async with grpc.aio.insecure_channel(grpc_address(wired)) as opened:
        card = await stub(opened).GetExtendedAgentCard(
            pb.GetExtendedAgentCardRequest(tenant="scripted"), metadata=ALICE, timeout=TIMEOUT
        )
    assert card.description == "For members"
    assert [s.id for s in card.skills] == ["script", "audit"]
    urls = {i.protocol_binding: i.url for i in card.supported_interfaces}
    assert urls["JSONRPC"] == wired.address + "/agents/scripted/"
    assert urls["GRPC"] == grpc_address(wired)
    as_json = json_format.MessageToDict(card)
    assert as_json["capabilities"]["extendedAgentCard"] is True


async def test_the_extended_card_over_grpc_needs_credentials(wired: Process) -> None:
    async with grpc.aio.insecure_channel(grpc_address(wired)) as opened:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub(opened).GetExtendedAgentCard(
                pb.GetExtendedAgentCardRequest(tenant="scripted"),
                metadata=(("a2a-version", "1.0"),),
                timeout=TIMEOUT,
            )
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_grpc_stream_with_a_traceparent_is_one_trace(
    wired: Process, receiver: HttpReceiver
) -> None:
    metadata = (
        *ALICE,
        ("a2a-extensions", REQUIRED),
        ("traceparent", TRACEPARENT),
        ("tracestate", "vendor=abc"),
    )
    async with grpc.aio.insecure_channel(grpc_address(wired)) as opened:
        call = stub(opened).SendStreamingMessage(
            send_request("extensions"), metadata=metadata, timeout=TIMEOUT
        )
        events = [event async for event in call]

    def complete(spans: list[ReceivedSpan]) -> bool:
        names = {s.name for s in spans if s.trace_id == TRACE_ID}
        return {"a2a/SendStreamingMessage", "a2a/stream", RUN} <= names

    spans = [s for s in receiver.wait_for(complete) if s.trace_id == TRACE_ID]
    request = next(s for s in spans if s.name == "a2a/SendStreamingMessage")
    sent = next(s for s in spans if s.name == "a2a/stream")
    assert request.parent_id == CLIENT_SPAN
    assert request.kind == "SERVER"
    attributes = request.attributes
    assert (attributes["rpc.system"], attributes["a2a.binding"]) == ("grpc", "grpc")
    assert (attributes["a2a.version"], attributes["a2a.agent"]) == ("1.0", "scripted")
    assert attributes["rpc.grpc.status_code"] == "OK"
    turn = next(s for s in spans if s.name == RUN)
    assert turn.parent_id == request.span_id
    assert sent.parent_id == request.span_id
    assert sent.attributes["a2a.stream.events"] == len(events)
    assert sent.attributes["a2a.stream.end"] == "completed"


async def test_a_refused_grpc_call_is_traced_with_its_grpc_status(
    wired: Process, receiver: HttpReceiver
) -> None:
    trace_id = "6bf92f3577b34da6a3ce929d0e0e4738"
    metadata = (
        *ALICE,
        ("a2a-extensions", OPTIONAL),
        ("traceparent", f"00-{trace_id}-{CLIENT_SPAN}-01"),
    )
    async with grpc.aio.insecure_channel(grpc_address(wired)) as opened:
        with pytest.raises(grpc.aio.AioRpcError):
            await stub(opened).SendMessage(
                send_request("extensions"), metadata=metadata, timeout=TIMEOUT
            )
    spans = receiver.wait_for(lambda spans: any(s.trace_id == trace_id for s in spans))
    request = next(s for s in spans if s.trace_id == trace_id)
    assert request.name == "a2a/SendMessage"
    assert request.attributes["rpc.grpc.status_code"] == "FAILED_PRECONDITION"
    assert request.attributes["a2a.error.reason"] == "EXTENSION_SUPPORT_REQUIRED"
    assert request.status == 2


async def test_a_grpc_stream_the_client_leaves_ends_its_span_as_client_gone(
    wired: Process, receiver: HttpReceiver
) -> None:
    trace_id = "7bf92f3577b34da6a3ce929d0e0e4739"
    metadata = (
        *ALICE,
        ("a2a-extensions", REQUIRED),
        ("traceparent", f"00-{trace_id}-{CLIENT_SPAN}-01"),
    )
    async with grpc.aio.insecure_channel(grpc_address(wired)) as opened:
        call = stub(opened).SendStreamingMessage(
            send_request("hang"), metadata=metadata, timeout=TIMEOUT
        )
        first = await call.read()
        assert isinstance(first, pb.StreamResponse)
        call.cancel()
        await stub(opened).CancelTask(  # the agent's turn would hang until cancelled
            pb.CancelTaskRequest(id=first.task.id), metadata=ALICE, timeout=TIMEOUT
        )

    def ended(spans: list[ReceivedSpan]) -> bool:
        return any(s.trace_id == trace_id and s.name == "a2a/stream" for s in spans)

    spans = receiver.wait_for(ended)
    sent = next(s for s in spans if s.trace_id == trace_id and s.name == "a2a/stream")
    assert sent.attributes["a2a.stream.end"] == "client_gone"
    assert sent.attributes["a2a.stream.events"] >= 1
